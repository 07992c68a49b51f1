/** A hands-on room whose process is SIGKILLed leaves no attendee account, hub or probe-gate behind. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { at } from '../../core/paths.ts';
import { labAccounts } from '../../engines/services/accounts.ts';

const running = (pattern: RegExp) =>
  readdirSync('/proc')
    .filter((e) => /^\d+$/.test(e))
    .filter((pid) => {
      try {
        return pattern.test(readFileSync(`/proc/${pid}/cmdline`, 'utf8').replace(/\0/g, ' '));
      } catch {
        return false;
      }
    });

test('SIGKILL of ./lab workshop --hands-on 1: accounts, hub and gate are gone', { timeout: 240_000 }, async () => {
  const lab = spawn(at('lab'), ['workshop', '--hands-on', '1'], { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  lab.stdout.on('data', (d) => (out += d));
  lab.stderr.on('data', (d) => (out += d));
  for (let i = 0; i < 180 && !/ready: 1 attendee/.test(out); i++) await new Promise((r) => setTimeout(r, 1000));
  assert.match(out, /ready: 1 attendee/, out.slice(-500));
  assert.equal(labAccounts().length, 1);
  // ./lab is a shell wrapper; kill the Node process that runs the room, as the OOM killer would.
  const node = running(/cli\/main\.ts workshop --hands-on 1/).map(Number);
  assert.ok(node.length >= 1, 'found the room process');
  for (const pid of node) process.kill(pid, 'SIGKILL');
  for (let i = 0; i < 60 && (labAccounts().length || running(/jupyterhub|probe-gate/).length); i++)
    await new Promise((r) => setTimeout(r, 500));
  assert.deepEqual(labAccounts(), [], 'no attendee account left');
  assert.deepEqual(running(/bin\/jupyterhub |probe-gate -listen/), [], 'no hub or gate left');
  lab.kill('SIGKILL');
});
