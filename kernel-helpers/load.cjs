// Entry for notebook cells: tslab runs cells as CommonJS and compiles only the cell's own
// TypeScript, so the helpers (ESM TypeScript, like the rest of the lab) go through tsx.
// Node caches this module, so every cell of a kernel shares one copy of the helpers.
module.exports = require('tsx/cjs/api').require('./index.ts', __filename);
