// lab-test: concurrent — tsc --noEmit reads the sources only.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { at } from '../../core/paths.ts';

test('the project type-checks with its own TypeScript (not tslab 5.0)', () => {
  const r = spawnSync(
    process.execPath,
    [at('node_modules/typescript/bin/tsc'), '--noEmit', '-p', at('tsconfig.json')],
    { encoding: 'utf8' },
  );
  assert.equal(r.status, 0, r.stdout + r.stderr);
});
