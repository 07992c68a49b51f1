// lab-test: concurrent — biome reads the sources only.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { at, root } from '../../core/paths.ts';

test('the whole tree is formatted and passes the linter (biome check; fix with npx biome check --write .)', () => {
  const r = spawnSync(at('node_modules/.bin/biome'), ['check', '--colors=off', '.'], { cwd: root, encoding: 'utf8' });
  assert.equal(r.status, 0, (r.stdout + r.stderr).slice(-4000));
});
