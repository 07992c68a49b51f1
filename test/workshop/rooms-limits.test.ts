/**
 * The hands-on room's sandboxes on the real kernel: each attendee's Go server and notebook server in
 * a cgroup with the instructor's limits and in a PID namespace of their own. A memory hog and a fork
 * loop in one attendee's sandbox stop at its limits, are counted for the room view, and the other
 * attendee keeps working; neither sees the other's processes.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, readlinkSync } from 'node:fs';
import { createAccount, labAccounts, removeArchives, roomAccounts } from '../../engines/services/accounts.ts';
import { freePort } from '../../core/ports.ts';
import { startHandsOn, type Attendee, type HandsOnRoom } from '../../workshop/hands-on.ts';
import { roomArchiveDir } from '../../workshop/hands-on-paths.ts';

const limits = { memoryBytes: 256 * 1024 ** 2, cpus: 1, pids: 64 };
let room: HandsOnRoom;

before(async () => {
  room = await startHandsOn({ attendees: 2, sandbox: limits, log: () => {} });
});

after(async () => {
  const dirs = room?.attendees.flatMap((a) => a.sandbox.cgroupDirs) ?? [];
  await room?.stop();
  await removeArchives(room?.archiveDir);
  assert.deepEqual(roomAccounts(room?.room ?? ''), [], 'no attendee account of this room left');
  assert.deepEqual(
    dirs.filter((d) => existsSync(d)),
    [],
    'no cgroup left',
  );
});

/** Runs argv inside the attendee's sandbox, as they would from their notebook. */
function inSandbox(a: Attendee, argv: string[]): Promise<{ out: string; code: number | null; signal: string | null }> {
  const [cmd, ...args] = a.sandbox.command(argv, a.account.home);
  const child = spawn(cmd, args, { env: { HOME: a.account.home, PATH: '/usr/bin:/bin' } });
  let out = '';
  child.stdout.on('data', (d) => (out += d));
  child.stderr.on('data', (d) => (out += d));
  return new Promise((resolve) => child.on('close', (code, signal) => resolve({ out, code, signal })));
}

const cgroupOf = (pid: number, controller: string) =>
  readFileSync(`/proc/${pid}/cgroup`, 'utf8')
    .split('\n')
    .map((l) => l.split(':'))
    .find((f) => f[1]?.split(',').includes(controller) || (f[0] === '0' && f[1] === ''))?.[2];
const pidNamespace = (pid: number) => readlinkSync(`/proc/${pid}/ns/pid`);
const answers = (a: Attendee) =>
  fetch(`http://127.0.0.1:${a.serverPort}/?arg=1`).then(
    (r) => r.status,
    () => 0,
  );

test("each attendee's Go server and notebook server: their own cgroup with the limits, their own PID and network namespace", {
  timeout: 120_000,
}, async () => {
  const [a, b] = room.attendees;
  const ours = pidNamespace(process.pid);
  for (const x of [a, b]) {
    const pid = x.serverPid!;
    assert.equal(Number(/^Uid:\s+(\d+)/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))![1]), x.account.uid);
    assert.notEqual(pidNamespace(pid), ours, `${x.account.name}'s server is not in the host's PID namespace`);
    const memDir = x.sandbox.cgroupDirs.find(
      (d) => d.endsWith(cgroupOf(pid, 'memory')!) && /memory\.(limit_in_bytes|max)\b/.test(readdirSync(d).join(' ')),
    );
    assert.ok(memDir, `${x.account.name}'s server is in their memory cgroup`);
    const limit = ['memory.limit_in_bytes', 'memory.max'].map((f) => `${memDir}/${f}`).find((f) => existsSync(f))!;
    assert.equal(Number(readFileSync(limit, 'utf8')), limits.memoryBytes);
    const pidsDir = x.sandbox.cgroupDirs.find(
      (d) => d.endsWith(cgroupOf(pid, 'pids')!) && existsSync(`${d}/pids.max`),
    )!;
    assert.equal(Number(readFileSync(`${pidsDir}/pids.max`, 'utf8')), limits.pids);
  }
  assert.notEqual(pidNamespace(a.serverPid!), pidNamespace(b.serverPid!), 'one PID namespace each');
  const netNamespace = (pid: number) => readlinkSync(`/proc/${pid}/ns/net`);
  assert.notEqual(netNamespace(a.serverPid!), netNamespace(b.serverPid!), 'one network namespace each');
  assert.notEqual(netNamespace(a.serverPid!), netNamespace(process.pid), "neither is the host's");

  // Inside A's sandbox, /proc holds A's processes only: their server, not B's.
  const seen = await inSandbox(a, ['sh', '-c', 'cat /proc/[0-9]*/cmdline | tr "\\0" " "']);
  assert.match(seen.out, new RegExp(`-addr 127\\.0\\.0\\.1:${a.serverPort}`), seen.out);
  assert.doesNotMatch(seen.out, new RegExp(`127\\.0\\.0\\.1:${b.serverPort}`), "B's server is invisible to A");
  assert.doesNotMatch(seen.out, /jupyterhub |probe-gate/, 'and so are the room and the hub');

  // Ports: what B listens on inside (a kernel's, say) is on B's own loopback; only the room's forwards cross.
  const port = await freePort();
  const [listen, ...listenArgs] = b.sandbox.command(
    ['/usr/bin/python3', '-m', 'http.server', String(port), '--bind', '127.0.0.1'],
    b.account.home,
  );
  const listening = spawn(listen, listenArgs, { stdio: 'ignore', env: { HOME: b.account.home } });
  try {
    const status = (x: Attendee, p: number) =>
      inSandbox(x, [
        'curl',
        '-s',
        '-o',
        '/dev/null',
        '-w',
        '%{http_code}',
        '--retry-connrefused',
        '--retry',
        '20',
        '--retry-delay',
        '1',
        `http://127.0.0.1:${p}/`,
      ]);
    assert.equal((await status(b, port)).out, '200', 'B reaches their own port');
    const fromHost = await fetch(`http://127.0.0.1:${port}/`).then(
      (r) => r.status,
      () => 0,
    );
    assert.equal(fromHost, 0, "the host's loopback does not lead to B's port");
    const fromA = await inSandbox(a, [
      'curl',
      '-s',
      '-o',
      '/dev/null',
      '-w',
      '%{http_code}',
      `http://127.0.0.1:${port}/`,
    ]);
    assert.equal(fromA.out, '000', "nor does A's");
    const bServerFromA = await inSandbox(a, [
      'curl',
      '-s',
      '-o',
      '/dev/null',
      '-w',
      '%{http_code}',
      `http://127.0.0.1:${b.serverPort}/?arg=1`,
    ]);
    assert.equal(bServerFromA.out, '000', "A cannot reach B's Go server from inside either");
    assert.equal(await answers(b), 200, "the room reaches B's Go server through its one forward");
  } finally {
    listening.kill('SIGKILL');
  }

  // The notebook server the hub spawns for A lands in A's sandbox too: the namespace of A's server.
  await room.hub.api(`/users/${a.account.name}/server`, 'POST');
  let ready = false;
  for (let i = 0; i < 240 && !ready; i++) {
    const u = await room.hub.api<{ servers: Record<string, { ready: boolean }> }>(`/users/${a.account.name}`);
    ready = Boolean(u.servers?.['']?.ready);
    if (!ready) await new Promise((r) => setTimeout(r, 250));
  }
  assert.ok(ready, "A's notebook server started under the limits");
  const notebookServer = a.sandbox
    .processes()
    .find((p) => /jupyterhub-singleuser/.test(readFileSync(`/proc/${p}/cmdline`, 'utf8')) && p !== a.serverPid);
  assert.ok(notebookServer, "jupyterhub-singleuser is in A's cgroup");
  const inside = a.sandbox
    .processes()
    .filter((p) => readFileSync(`/proc/${p}/status`, 'utf8').includes('Uid:\t' + a.account.uid));
  assert.ok(
    inside.every((p) => pidNamespace(p) === pidNamespace(a.serverPid!)),
    "everything of A's in A's namespace",
  );
  await room.hub.api(`/users/${a.account.name}/server`, 'DELETE');
});

test('a 4 GB memory hog in one sandbox is killed at its 256 MB limit; the room view says so; the other attendee keeps working', {
  timeout: 120_000,
}, async () => {
  const [a, b] = room.attendees;
  const before = a.sandbox.limitsHit().memoryKills;
  const hog = await inSandbox(a, [
    'python3',
    '-c',
    'x = [bytearray(64 << 20) for _ in range(64)]; print("allocated 4 GB")',
  ]);
  assert.doesNotMatch(hog.out, /allocated 4 GB/, 'the hog did not get its 4 GB');
  assert.ok(
    a.sandbox.limitsHit().memoryKills > before,
    `the OOM killer acted in A's cgroup (${hog.signal ?? hog.code})`,
  );
  const view = await room.roomView();
  assert.match(view.find((s) => s.name === a.account.name)!.limitsHit.join(), /memory limit/);
  assert.deepEqual(view.find((s) => s.name === b.account.name)!.limitsHit, [], 'B hit nothing');
  assert.equal(await answers(b), 200, "B's server answers");
  assert.equal(await answers(a), 200, "A's own server survives its hog (the biggest process goes)");
});

test('a fork loop stops at the pids limit; the other attendee keeps working', { timeout: 120_000 }, async () => {
  const [a, b] = room.attendees;
  const before = a.sandbox.limitsHit().pidsRefused;
  // The sleeps outlive the loop, orphaned to the namespace's init, until killed below.
  const loop = await inSandbox(a, ['sh', '-c', 'for i in $(seq 1 200); do sleep 60 >/dev/null 2>&1 & done']);
  const sleeping = a.sandbox.processes().filter((p) => /^sleep/.test(readFileSync(`/proc/${p}/cmdline`, 'utf8')));
  assert.ok(sleeping.length < limits.pids, `${sleeping.length} of 200 forks got through`);
  assert.ok(
    a.sandbox.limitsHit().pidsRefused > before,
    `the kernel refused forks at pids.max (${loop.out.trim().slice(0, 100)})`,
  );
  for (const p of sleeping) process.kill(p, 'SIGKILL');
  assert.match((await room.roomView()).find((s) => s.name === a.account.name)!.limitsHit.join(), /pids limit/);
  assert.equal(await answers(b), 200, "B's server answers");
});

test("a second room beside this one gets its own accounts and leaves this room's alone; a dead room's account goes", {
  timeout: 240_000,
}, async () => {
  const archive = `/tmp/lab-rooms-side-by-side-${process.pid}`;
  const dead = await createAccount(90, archive, '0-dead'); // a room whose process is gone (PID 0 never runs a room)
  const mine = roomAccounts(room.room).map((a) => a.name);
  assert.equal(mine.length, 2);
  const second = await startHandsOn({ attendees: 1, sandbox: limits, log: () => {} });
  try {
    const theirs = roomAccounts(second.room).map((a) => a.name);
    assert.equal(theirs.length, 1);
    assert.ok(!mine.includes(theirs[0]), `the second room's ${theirs[0]} is not one of this room's ${mine}`);
    assert.deepEqual(
      roomAccounts(room.room).map((a) => a.name),
      mine,
      "this room's accounts survive the second room's start",
    );
    assert.ok(!labAccounts().some((a) => a.name === dead.name), 'the dead room’s account was removed');
    const earlier = roomArchiveDir(`${second.room}-earlier`);
    assert.ok(existsSync(`${earlier}/${dead.name}.tar`), `its home was archived in ${earlier}, not lost`);
  } finally {
    await second.stop();
    await removeArchives(second.archiveDir);
    await removeArchives(archive);
    await removeArchives(roomArchiveDir(`${second.room}-earlier`));
  }
  assert.deepEqual(roomAccounts(second.room), [], "the second room's account went with it");
  assert.deepEqual(
    roomAccounts(room.room).map((a) => a.name),
    mine,
    "this room's accounts survive the second room's stop",
  );
  assert.equal(await answers(room.attendees[0]), 200, 'and this room keeps serving');
});
