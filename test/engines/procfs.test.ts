// lab-test: concurrent — reads this process's own /proc entries.
/** core/procfs.ts: the one reader of /proc's file formats. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import {
  allPids,
  cmdlineOf,
  credentialsOfPid,
  exeOf,
  isDead,
  PinnedProcess,
  parseStat,
  statOf,
} from '../../core/procfs.ts';

test('a command name with a parenthesis and spaces does not shift the fields after it', () => {
  const fields = Array.from({ length: 50 }, (_, i) => String(i + 3));
  fields[0] = 'S';
  fields[1] = '77';
  const stat = parseStat(`42 (a) b (c) ${fields.join(' ')}`);
  assert.deepEqual(stat, { comm: 'a) b (c', state: 'S', ppid: 77, startTime: 22 });
});

test("this process's stat, credentials, command line and executable", () => {
  const me = statOf(process.pid);
  assert.equal(me?.ppid, process.ppid);
  assert.ok(me && me.startTime > 0 && !isDead(me));
  assert.equal(credentialsOfPid(process.pid)?.uids[0], process.getuid?.());
  assert.ok(allPids().includes(process.pid));
  assert.equal(exeOf(process.pid), process.execPath);
  assert.match(cmdlineOf(process.pid), /procfs\.test/);
});

test('a process that is gone reads as undefined', () => {
  assert.equal(statOf(2 ** 22 + 1), undefined);
  assert.ok(isDead(undefined));
});

test('a pinned process is the same process until it ends, whatever reuses its PID', async () => {
  const child = spawn('sleep', ['30'], { stdio: 'ignore' });
  const pin = await PinnedProcess.open(child.pid!);
  assert.ok(pin && (await pin.alive()) && pin.aliveNow());
  const gone = new Promise((r) => child.once('exit', r));
  child.kill('SIGKILL');
  await gone;
  assert.equal(await pin.alive(), false);
  assert.equal(pin.aliveNow(), false);
  await pin.close();
  assert.equal(await PinnedProcess.open(2 ** 22 + 1), undefined);
});
