// lab-test: concurrent — builds a tiny Go program in its own temporary directory.
/**
 * A Go program the lab builds is run and probed by attendees (other uids): whatever the umask of the
 * process that builds it (a notebook kernel's is 077), its directories and binary are 0755.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { buildGoProgram } from '../../core/go.ts';

test('a Go binary built under umask 077 is readable and runnable by everyone, with its new directories', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'lab-go-build-'));
  const saved = process.umask(0o077);
  try {
    writeFileSync(join(dir, 'go.mod'), 'module hello\n\ngo 1.19\n');
    writeFileSync(join(dir, 'main.go'), 'package main\n\nfunc main() {}\n');
    const out = await buildGoProgram({ dir, out: join(dir, 'bin', 'go-x', 'hello'), fix: 'fix main.go' });
    for (const p of [join(dir, 'bin'), join(dir, 'bin', 'go-x'), out])
      assert.equal((statSync(p).mode & 0o777).toString(8), '755', p);
  } finally {
    process.umask(saved);
    rmSync(dir, { recursive: true, force: true });
  }
});
