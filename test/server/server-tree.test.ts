// lab-test: concurrent — reads git's index only.
/** server/ holds the Go program's sources and nothing else: no stray logs or binaries in git. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { root } from '../../core/paths.ts';

test('git tracks only sources in server/', () => {
  const tracked = execFileSync('git', ['ls-files', '--cached', 'server'], { cwd: root, encoding: 'utf8' })
    .split('\n')
    .filter(Boolean);
  assert.ok(tracked.includes('server/main.go'), `git ls-files server: ${tracked.join(' ')}`);
  assert.deepEqual(
    tracked.filter((f) => !/^server\/([\w-]+\.go|go\.mod|go\.sum|README\.md|\.gitignore)$/.test(f)),
    [],
  );
});
