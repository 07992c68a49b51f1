/**
 * A hands-on room whose process is SIGKILLed (as the OOM killer would) leaves no attendee account,
 * hub, probe-gate, sandbox or secret behind — and loses no attendee's work: their home is archived,
 * root-only, until the instructor removes it.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { allPids, cmdlineOf } from '../../core/procfs.ts';
import { execFileSync, spawn } from 'node:child_process';
import { existsSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { at } from '../../core/paths.ts';
import { roomAccounts, removeArchives } from '../../engines/services/accounts.ts';
import { roomArchiveDir, roomRunDir, roomStateDir } from '../../workshop/hands-on-paths.ts';
import { roomCgroupDirs } from '../../workshop/sandbox.ts';

const running = (pattern: RegExp) => allPids().filter((pid) => pattern.test(cmdlineOf(pid)));
const roomStates = () => (existsSync(at('.lab', 'hands-on')) ? readdirSync(at('.lab', 'hands-on')) : []);

test('SIGKILL of ./lab workshop --hands-on 1: accounts, hub, gate, sandbox and secrets gone; the work kept', {
  timeout: 240_000,
}, async () => {
  const earlier = new Set(roomStates());
  const lab = spawn(at('lab'), ['workshop', '--hands-on', '1'], { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  lab.stdout.on('data', (d) => (out += d));
  lab.stderr.on('data', (d) => (out += d));
  for (let i = 0; i < 180 && !/ready: 1 attendee/.test(out); i++) await new Promise((r) => setTimeout(r, 1000));
  assert.match(out, /ready: 1 attendee/, out.slice(-500));
  const room = roomStates().find((r) => !earlier.has(r));
  assert.ok(room, 'the room keeps its secrets under .lab/hands-on/<room>');
  const [account] = roomAccounts(room);
  assert.ok(account, "the attendee account exists, marked with the room's name");
  const mark = `notes-${process.pid}-${Date.now()}`;
  execFileSync('runuser', ['-u', account.name, '--', 'sh', '-c', `echo ${mark} > ~/my-notes.txt`]);

  // ./lab is a shell wrapper; kill the Node process that runs the room, as the OOM killer would.
  const node = running(/cli\/main\.ts workshop --hands-on 1/).map(Number);
  assert.ok(node.length >= 1, 'found the room process');
  for (const pid of node) process.kill(pid, 'SIGKILL');
  // This room's: its hub reads its config from the state directory, its gate listens in its run directory.
  const ours = new RegExp(`${roomStateDir(room)}|${roomRunDir(room)}`);
  const left = () =>
    roomAccounts(room).length || running(ours).length || roomCgroupDirs(room).some((d) => existsSync(d));
  for (let i = 0; i < 60 && left(); i++) await new Promise((r) => setTimeout(r, 500));
  lab.kill('SIGKILL');
  assert.deepEqual(roomAccounts(room), [], 'no attendee account of the room left');
  assert.deepEqual(running(ours), [], 'no hub or gate left');
  assert.deepEqual(
    roomCgroupDirs(room).filter((d) => existsSync(d)),
    [],
    'no sandbox left: its cgroups are gone, so nothing runs in them',
  );
  assert.equal(existsSync(roomStateDir(room)), false, 'no sign-in code or cookie secret left');
  assert.equal(existsSync(account.home), false, 'the home itself is gone');

  const archive = join(roomArchiveDir(room), `${account.name}.tar`);
  try {
    assert.equal(
      execFileSync('tar', ['-xOf', archive, './my-notes.txt'], { encoding: 'utf8' }).trim(),
      mark,
      "the attendee's notes are in the archive",
    );
    assert.equal(statSync(archive).mode & 0o777, 0o600, 'the archive is root-only');
    assert.equal(statSync(roomArchiveDir(room)).mode & 0o077, 0, 'so is its directory');
  } finally {
    await removeArchives(roomArchiveDir(room));
  }
});
