/**
 * Installers' output goes to .lab/logs/, not the terminal: the terminal gets the step lines and
 * the log's path; a failure shows the end of the log. Real apt-get, on a package that is already
 * installed or does not exist, so the machine is not changed.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { at } from '../../core/paths.ts';
import { LabError } from '../../core/errors.ts';
import { logsDir, runInstaller } from '../../core/installer-log.ts';

const aptLog = join(logsDir, 'apt.log');
const size = (p: string) => statSync(p, { throwIfNoEntry: false })?.size ?? 0;

test("./lab setup's Debian step: the terminal shows step lines and the log path, the log holds apt-get's output", () => {
  const before = size(aptLog);
  // The real step (apt-get update, then install) on a package that is already installed: a no-op for the machine.
  const script = `
    import { aptStep, ensureSetup } from './cli/setup.ts';
    await ensureSetup([{ ...aptStep, missing: async () => ['procps'] }]);
  `;
  const r = spawnSync(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], {
    cwd: at('.'),
    encoding: 'utf8',
  });
  assert.equal(r.status, 0, r.stderr);
  const lines = r.stderr.trim().split('\n');
  assert.ok(lines.length <= 6, `terminal got ${lines.length} lines:\n${r.stderr}`);
  assert.ok(
    lines.every((l) => l.startsWith('[lab] ')),
    r.stderr,
  );
  assert.match(r.stderr, /output in \.lab\/logs\/apt\.log/);
  // A byte offset: the log holds UTF-8 from earlier runs (apt's quotes), so a string index would land further on.
  const added = readFileSync(aptLog).subarray(before).toString('utf8');
  assert.match(added, /^\$ apt-get update/m);
  assert.match(added, /^\$ apt-get install -y --no-install-recommends procps/m);
  assert.match(added, /procps is already the newest version/);
  assert.ok(added.split('\n').length > 5, `the log got only: ${added}`);
  assert.doesNotMatch(r.stderr + r.stdout, /Reading package lists|newest version|Hit:|Get:/);
});

test('a failing installer: one LabError naming the log, with the end of the log in it', async () => {
  const err = await runInstaller('apt', 'apt-get', ['install', '-s', '-y', 'no-such-package-zzz-lab']).then(
    () => assert.fail('apt-get succeeded'),
    (e: unknown) => e,
  );
  assert.ok(err instanceof LabError, String(err));
  assert.match(
    err.message,
    /apt-get install -s -y no-such-package-zzz-lab failed \(exit 100\); the end of \.lab\/logs\/apt\.log:/,
  );
  assert.match(err.message, /Unable to locate package no-such-package-zzz-lab/);
});
