/**
 * The hands-on room in containers (`./lab workshop --hands-on N --containers`) on the real kernel:
 * JupyterHub's DockerSpawner starts each attendee's notebook server and Go server in a container of
 * the lab's image through Podman's Docker-compatible API, as the attendee's own uid, with the room's
 * memory, CPU and pids limits, no capability and no network but the forwarded ports. A memory hog
 * and a fork loop in one container stop at its limits while the other attendee's kernel answers and
 * their server crashes under a uretprobe the probe service attached for the PID they named inside
 * their container; PIDs of the other container and of the host are refused; nothing is left after
 * the room stops — by its own stop, by Ctrl-C, and by SIGKILL (its watchdog).
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { allPids, cmdlineOf } from '../../core/procfs.ts';
import { leakedProbeBytes } from '../../engines/leftovers.ts';
import { execFileSync, spawn } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, readlinkSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import type { Kernel } from '@jupyterlab/services';
import { at } from '../../core/paths.ts';
import { removeArchives, roomAccounts } from '../../engines/services/accounts.ts';
import { userSessions } from '../../engines/services/hub-user.ts';
import { podmanEnv } from '../../engines/container/podman.ts';
import { startHandsOn, type Attendee, type HandsOnRoom } from '../../workshop/hands-on.ts';
import { roomRunDir, roomStateDir } from '../../workshop/hands-on-paths.ts';
import { roomContainerLabel } from '../../workshop/sandbox.ts';

const limits = { memoryBytes: 1024 ** 3, cpus: 1, pids: 128 };
let room: HandsOnRoom;
const managers: { dispose(): void }[] = [];
const kernels: Kernel.IKernelConnection[] = [];

const podmanJson = (args: string[]) =>
  execFileSync('podman', args, { env: { ...process.env, ...podmanEnv() }, encoding: 'utf8' });
/** The containers of a room that Podman still has, running or not. */
const containersOf = (marker: string) =>
  podmanJson(['ps', '--all', '--quiet', `--filter=label=${roomContainerLabel(marker)}`])
    .split('\n')
    .filter(Boolean);

const running = (pattern: RegExp) => allPids().filter((pid) => pattern.test(cmdlineOf(pid)));

const status = (pid: number) => readFileSync(`/proc/${pid}/status`, 'utf8');
const field = (pid: number, name: string) => new RegExp(`^${name}:\\s+(.*)$`, 'm').exec(status(pid))?.[1] ?? '';
/** The PID the process has in its innermost PID namespace: what its owner sees in the container. */
const innerPid = (pid: number) => Number(field(pid, 'NSpid').split(/\s+/).pop());

/** Runs argv in the attendee's container as the attendee (podman exec), stdin closed unless `hold`. */
function inContainer(
  a: Attendee,
  argv: string[],
): Promise<{ out: string; code: number | null; signal: string | null }> {
  const [cmd, ...args] = a.sandbox.command(argv, a.account.home);
  const child = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  child.stdout.on('data', (d) => (out += d));
  child.stderr.on('data', (d) => (out += d));
  return new Promise((resolve) => child.on('close', (code, signal) => resolve({ out, code, signal })));
}

/**
 * A raw client of the probe service run inside the attendee's container: sends one request and prints
 * every reply line; the connection (and so any probe it attached) lives until close().
 */
function probeClient(a: Attendee, request: object) {
  const script = `const s=require('net').connect(process.env.LAB_PROBE_SERVICE);s.write(process.argv[1]+"\\n");s.pipe(process.stdout);process.stdin.on('end',()=>process.exit(0));process.stdin.resume()`;
  const [cmd, ...args] = a.sandbox.command(['node', '-e', script, JSON.stringify(request)], a.account.home);
  // podman exec -i: stdin stays open while the test holds the probe.
  const i = args.indexOf('exec');
  args.splice(i + 1, 0, '--interactive', `--env=LAB_PROBE_SERVICE=${room.probeSocket}`);
  const child = spawn(cmd, args, { stdio: ['pipe', 'pipe', 'pipe'] });
  let out = '';
  child.stdout.on('data', (d) => (out += d));
  child.stderr.on('data', (d) => (out += d));
  const closed = new Promise<void>((r) => child.on('close', () => r()));
  return {
    /** The first reply line. */
    reply: async (): Promise<string> => {
      for (let i = 0; i < 300 && !out.includes('\n'); i++) await new Promise((r) => setTimeout(r, 100));
      return out.split('\n')[0];
    },
    close: async () => {
      child.stdin.end();
      await Promise.race([closed, new Promise((r) => setTimeout(r, 5000))]);
      child.kill('SIGKILL');
    },
  };
}

const answers = (a: Attendee, path = '/?arg=1') =>
  fetch(`http://127.0.0.1:${a.serverPort}${path}`).then(
    (r) => r.status,
    () => 0,
  );

async function kernelOf(a: Attendee): Promise<Kernel.IKernelConnection> {
  // The room started the server already: a token for it is all the test needs.
  const t = await fetch(`${room.hubUrl}hub/api/users/${a.account.name}/tokens`, {
    method: 'POST',
    headers: { Authorization: `token ${room.hub.apiToken}`, 'content-type': 'application/json' },
    body: JSON.stringify({ expires_in: 600, note: 'rooms-containers test' }),
  });
  const { token } = (await t.json()) as { token: string };
  const { km, sm } = userSessions(room.hubUrl, a.account.name, token);
  managers.push(km, sm);
  const session = await sm.startNew({
    path: 'scratch.ipynb',
    type: 'notebook',
    name: 'scratch',
    kernel: { name: 'tslab' },
  });
  kernels.push(session.kernel!);
  return session.kernel!;
}

async function execute(k: Kernel.IKernelConnection, code: string): Promise<string> {
  let text = '';
  const future = k.requestExecute({ code });
  future.onIOPub = (msg) => {
    const c = msg.content as { text?: string; data?: Record<string, string>; evalue?: string };
    if (msg.header.msg_type === 'stream') text += c.text;
    if (msg.header.msg_type === 'execute_result') text += c.data?.['text/plain'] ?? '';
    if (msg.header.msg_type === 'error') text += `error: ${c.evalue}`;
  };
  await future.done;
  return text;
}

let startSeconds = 0;
before(async () => {
  const started = Date.now();
  room = await startHandsOn({ attendees: 2, containers: true, sandbox: limits, log: () => {} });
  startSeconds = (Date.now() - started) / 1000;
});

after(async () => {
  for (const k of kernels) await k.shutdown().catch(() => {});
  for (const m of managers) m.dispose();
  for (const a of room?.attendees ?? []) {
    const u = a.sandbox.usage();
    console.log(`${a.account.name}: peak memory ${(u.memoryPeakBytes / 2 ** 20).toFixed(0)} MB in their container`);
  }
  console.log(`the room with 2 containers started in ${startSeconds.toFixed(1)} s`);
  if (!room) return;
  await room.stop();
  await removeArchives(room.archiveDir);
  assert.deepEqual(containersOf(room.room), [], 'no container of the room left');
  assert.deepEqual(roomAccounts(room.room), [], 'no attendee account left');
  assert.deepEqual(
    running(new RegExp(`${roomStateDir(room.room)}|${roomRunDir(room.room)}`)),
    [],
    'no hub, podman service, forwarder or gate left',
  );
  assert.deepEqual(
    room.service.roomActivity().flatMap((x) => x.probes),
    [],
    'no probe held',
  );
});

test('each attendee in a container of their own: their uid, limits, no capability, their own PID and network namespace', {
  timeout: 120_000,
}, async () => {
  const [a, b] = room.attendees;
  const hostPidns = readlinkSync('/proc/self/ns/pid');
  for (const x of [a, b]) {
    const pid = x.serverPid!;
    assert.ok(pid, `${x.account.name}'s Go server runs`);
    assert.equal(Number(field(pid, 'Uid').split(/\s+/)[0]), x.account.uid, 'as the attendee');
    assert.equal(field(pid, 'CapEff'), '0000000000000000', 'with no capability');
    assert.equal(field(pid, 'CapBnd'), '0000000000000000', 'nor any to gain');
    assert.equal(field(pid, 'NoNewPrivs'), '1');
    assert.notEqual(readlinkSync(`/proc/${pid}/ns/pid`), hostPidns, 'not in the host PID namespace');
    const memDir = x.sandbox.cgroupDirs.find((d) => existsSync(join(d, 'memory.limit_in_bytes')))!;
    assert.equal(Number(readFileSync(join(memDir, 'memory.limit_in_bytes'), 'utf8')), limits.memoryBytes);
    const pidsDir = x.sandbox.cgroupDirs.find((d) => existsSync(join(d, 'pids.max')))!;
    assert.equal(Number(readFileSync(join(pidsDir, 'pids.max'), 'utf8')), limits.pids);
    assert.ok(x.sandbox.processes().includes(pid), "the Go server is in the container's cgroup");
    assert.equal(await answers(x), 200, `${x.account.name}'s server answers through its forwarded port`);
  }
  assert.notEqual(readlinkSync(`/proc/${a.serverPid}/ns/pid`), readlinkSync(`/proc/${b.serverPid}/ns/pid`));
  assert.notEqual(readlinkSync(`/proc/${a.serverPid}/ns/net`), readlinkSync(`/proc/${b.serverPid}/ns/net`));

  // B's kernel: its ports are on B's own loopback. Neither A nor the host reaches them.
  const kb = await kernelOf(b);
  assert.match(await execute(kb, '6 * 7'), /42/, "B's kernel answers");
  const runtime = join(b.account.home, '.local', 'share', 'jupyter', 'runtime');
  const connection = readdirSync(runtime).find((f) => /^kernel-.*\.json$/.test(f))!;
  const ports = Object.entries(JSON.parse(readFileSync(join(runtime, connection), 'utf8')) as Record<string, unknown>)
    .filter(([k]) => k.endsWith('_port'))
    .map(([, v]) => Number(v));
  assert.equal(ports.length, 5, "B's kernel's five ports");
  const tryConnect = `import socket,sys
ok=[]
for p in map(int, sys.argv[1:]):
    s=socket.socket(); s.settimeout(1)
    try: s.connect(("127.0.0.1", p)); ok.append(p)
    except OSError: pass
print("reached", ok)`;
  const fromA = await inContainer(a, ['python3', '-c', tryConnect, ...ports.map(String)]);
  assert.match(fromA.out, /reached \[\]/, `A reaches none of B's kernel ports: ${fromA.out}`);
  const fromB = await inContainer(b, ['python3', '-c', tryConnect, ...ports.map(String)]);
  assert.match(fromB.out, /reached \[\d+, \d+, \d+, \d+, \d+\]/, `B reaches its own: ${fromB.out}`);
  const net = await inContainer(a, ['cat', '/proc/net/route']);
  assert.doesNotMatch(
    net.out,
    /\n\S+\s+[0-9A-F]{8}/,
    `A's container has no network interface but loopback: ${net.out}`,
  );

  // Root's Podman API, which started the container, is out of its reach (the checkout is bound in).
  const api = await inContainer(a, [
    'python3',
    '-c',
    `import socket\ns=socket.socket(socket.AF_UNIX)\ntry:\n  s.connect(${JSON.stringify(join(roomStateDir(room.room), 'podman.sock'))}); print("connected")\nexcept OSError as e: print("refused", e.errno)`,
  ]);
  assert.match(api.out, /refused 13\b/, `A cannot reach the Podman socket: ${api.out}`);

  // A sees A's processes only.
  const seen = await inContainer(a, ['sh', '-c', 'cat /proc/[0-9]*/cmdline | tr "\\0" " "']);
  assert.match(seen.out, new RegExp(`-addr 127\\.0\\.0\\.1:${a.serverPort}`), seen.out);
  assert.doesNotMatch(
    seen.out,
    new RegExp(`127\\.0\\.0\\.1:${b.serverPort}|ipykernel|tslab|jupyterhub |probe-gate`),
    seen.out,
  );
});

test("a 4 GB memory hog in A's container is killed at its 1 GB limit; B's kernel answers and B's server crashes under B's own uretprobe", {
  timeout: 180_000,
}, async () => {
  const [a, b] = room.attendees;
  rmSync(at('oom'), { force: true });
  const hog = await inContainer(a, [
    'python3',
    '-c',
    'x = [bytearray(64 << 20) for _ in range(64)]; print("allocated 4 GB")',
  ]);
  assert.doesNotMatch(hog.out, /allocated 4 GB/, 'the hog did not get its 4 GB');
  // conmon writes a file named oom into its working directory when its container meets the limit.
  assert.equal(existsSync(at('oom')), false, 'conmon wrote its "oom" file into the checkout');
  assert.ok(a.sandbox.limitsHit().memoryKills > 0, `the OOM killer acted in A's container (${hog.code})`);
  const view = await room.roomView();
  assert.match(view.find((s) => s.name === a.account.name)!.limitsHit.join(), /memory limit/, 'the room view says so');
  assert.deepEqual(view.find((s) => s.name === b.account.name)!.limitsHit, [], 'B hit nothing');
  assert.equal(await answers(a), 200, "A's own server survives its hog");

  // B meanwhile: a cell, then a uretprobe through the probe service on the PID B sees in B's container.
  const kb = kernels[0] ?? (await kernelOf(b));
  assert.match(await execute(kb, '[1, 2, 3].length'), /3/, "B's kernel answers");
  const inner = innerPid(b.serverPid!);
  assert.notEqual(inner, b.serverPid, 'inside the container the server has another PID');
  const probe = probeClient(b, { op: 'attach', id: 1, kind: 'uretprobe', symbol: 'main.demo', pid: inner });
  try {
    const reply = await probe.reply();
    assert.match(reply, /"op":"attached"/, reply);
    assert.match(reply, new RegExp(`"pid":${inner}\\b`), 'answered in the PID B named');
    assert.deepEqual(
      room.service
        .roomActivity()
        .find((x) => x.uid === b.account.uid)
        ?.probes.map((p) => p.pid),
      [b.serverPid],
      'the probe sits on the host process behind that PID',
    );
    const crash = await answers(b, '/?arg=2000');
    assert.notEqual(crash, 200, 'the deep call does not return');
    for (let i = 0; i < 50 && existsSync(`/proc/${b.serverPid}`); i++) await new Promise((r) => setTimeout(r, 100));
    assert.equal(existsSync(`/proc/${b.serverPid}`), false, "B's server crashed under the uretprobe (and was reaped)");
    const states = await room.roomView();
    assert.ok(
      states.find((s) => s.name === b.account.name)!.crashedUnder.some((c) => c.startsWith('uretprobe')),
      'the room view shows the crash',
    );
  } finally {
    await probe.close();
  }
  assert.equal(await answers(a), 200, "A's server is untouched by B's crash");
});

const codeCells = (notebook: string) =>
  (
    JSON.parse(readFileSync(at('notebooks', notebook), 'utf8')) as {
      cells: { cell_type: string; source: string[] | string }[];
    }
  ).cells
    .filter((c) => c.cell_type === 'code')
    .map((c) => (Array.isArray(c.source) ? c.source.join('') : c.source));

test("while A's hog is stopped again, B's notebook 03 runs to the crash and notebook 05 traces safely, in B's container", {
  timeout: 240_000,
}, async () => {
  const [a, b] = room.attendees;
  const before = a.sandbox.limitsHit().memoryKills;
  const hog = inContainer(a, [
    'python3',
    '-c',
    'x = [bytearray(64 << 20) for _ in range(64)]; print("allocated 4 GB")',
  ]);
  const kb = kernels[0] ?? (await kernelOf(b));
  // The story's cells up to the crash (the exercises' cells are the hands-on test's), then 05's tracing.
  const story = [
    ...codeCells('03-uretprobe-crash.ipynb')
      .filter((c) => !/lab\.(predict|check|attempt)\(/.test(c))
      .slice(0, -1),
    'await lab.resetLab()',
    ...codeCells('05-tracing-safely.ipynb')
      .filter((c) => !/lab\.(predict|check|attempt)\(/.test(c))
      .slice(0, -1),
  ];
  let out = '';
  for (const code of story) {
    const text = await execute(kb, code);
    assert.doesNotMatch(text, /^error: /m, `B, cell:\n${code}\n→ ${text}`);
    out += text;
  }
  assert.match(out, /unexpected return pc for main\.demo/, "notebook 03: B's own server crashed under the uretprobe");
  assert.match(out, /server alive: true/, 'notebook 05: the RET-site probes traced arg=2000 and the server lived');
  assert.doesNotMatch((await hog).out, /allocated 4 GB/);
  assert.ok(a.sandbox.limitsHit().memoryKills > before, "A's hog was stopped at A's limit meanwhile");
  const view = (await room.roomView()).find((s) => s.name === b.account.name)!;
  assert.ok(view.tracedSafely, `the room view says B traced safely: ${JSON.stringify(view)}`);
  await execute(kb, 'await lab.resetLab()');
});

test('the probe service refuses a PID of the other container and of the host; a probe goes when its container stops', {
  timeout: 120_000,
}, async () => {
  const [a, b] = room.attendees;
  const ask = async (pid: number) => {
    const c = probeClient(a, { op: 'attach', id: 1, kind: 'uprobe', symbol: 'main.demo', pid });
    const reply = await c.reply();
    await c.close();
    return reply;
  };
  const bProcess = b.sandbox.processes().find((p) => innerPid(p) !== p)!; // any of B's, by its host PID
  assert.match(await ask(bProcess), /no process \d+ in your PID namespace/, "B's process is not there for A");
  assert.match(await ask(process.pid), /no process \d+ in your PID namespace/, 'a host process neither');

  // A attaches to A's own server, then A's container stops: the probe is released with it.
  const own = probeClient(a, { op: 'attach', id: 1, kind: 'uprobe', symbol: 'main.demo', pid: innerPid(a.serverPid!) });
  assert.match(await own.reply(), /"op":"attached"/);
  assert.equal(room.service.roomActivity().find((x) => x.uid === a.account.uid)?.probes.length, 1);
  await room.hub.api(`/users/${a.account.name}/server`, 'DELETE');
  let held = 1;
  for (let i = 0; i < 100 && held; i++) {
    held = room.service.roomActivity().find((x) => x.uid === a.account.uid)?.probes.length ?? 0;
    if (held) await new Promise((r) => setTimeout(r, 100));
  }
  await own.close();
  assert.equal(held, 0, "the probe went with A's container");
  for (let i = 0; i < 50 && a.sandbox.initPid; i++) await new Promise((r) => setTimeout(r, 100));
  assert.equal(a.sandbox.initPid, 0, "A's container is gone (DockerSpawner's remove)");
  await room.resetAttendee(a.account.name);
  assert.equal(await answers(a), 200, 'and comes back on reset');
});

test("a probe on a server copy in A's container's own /tmp is no leaked probe byte to ./lab doctor", {
  timeout: 120_000,
}, async () => {
  const [a] = room.attendees;
  // As a notebook does: a private copy in /tmp, a path the host does not have.
  const started = await inContainer(a, [
    'sh',
    '-c',
    'mkdir -p /tmp/lab-notebook-doctor && cp ~/server /tmp/lab-notebook-doctor/server && (setsid /tmp/lab-notebook-doctor/server -addr 127.0.0.1:0 >/dev/null 2>&1 &) && sleep 0.5',
  ]);
  assert.equal(started.code, 0, started.out);
  const copy = a.sandbox.processes().find((p) => readlinkSync(`/proc/${p}/exe`) === '/tmp/lab-notebook-doctor/server');
  assert.ok(copy, "the copy runs in A's container");
  const probe = probeClient(a, { op: 'attach', id: 1, kind: 'uprobe', symbol: 'main.demo', pid: innerPid(copy) });
  try {
    assert.match(await probe.reply(), /"op":"attached"/);
    assert.ok(
      leakedProbeBytes().every((l) => !l.id.startsWith(`${copy}:`)),
      `the int3 of A's attached probe is not reported as leaked: ${JSON.stringify(leakedProbeBytes())}`,
    );
  } finally {
    await probe.close();
    process.kill(copy, 'SIGKILL');
  }
});

test("a fork loop in A's container stops at its pids limit; the room view says so; B's kernel answers", {
  timeout: 120_000,
}, async () => {
  const [a, b] = room.attendees;
  const loop = await inContainer(a, [
    'python3',
    '-c',
    `import os, time
kids = []
for i in range(400):
    try:
        pid = os.fork()
    except OSError:
        break
    if pid == 0:
        time.sleep(60)
        os._exit(0)
    kids.append(pid)
print("forked", len(kids), flush=True)
for k in kids: os.kill(k, 9)
for k in kids: os.waitpid(k, 0)`,
  ]);
  const forked = Number(/forked (\d+)/.exec(loop.out)?.[1]);
  assert.ok(
    forked > 0 && forked < limits.pids,
    `${forked} of 400 forks got through (${loop.out.trim().slice(0, 200)})`,
  );
  assert.ok(a.sandbox.limitsHit().pidsRefused > 0, 'the kernel refused forks at pids.max');
  assert.match((await room.roomView()).find((s) => s.name === a.account.name)!.limitsHit.join(), /pids limit/);
  assert.equal(await answers(a), 200, "A's server still answers");
  const kb = kernels[0]!;
  assert.match(await execute(kb, '"still " + "here"'), /still here/, "B's kernel answers");
  void b;
});

for (const [how, signal] of [
  ['Ctrl-C', 'SIGINT'],
  ['SIGKILL', 'SIGKILL'],
] as const)
  test(`${how} of ./lab workshop --hands-on 1 --containers: no container, account, hub, forwarder or podman service left`, {
    timeout: 180_000,
  }, async () => {
    const before = new Set(running(/netns-bridge\.py/));
    const earlier = new Set(existsSync(at('.lab', 'hands-on')) ? readdirSync(at('.lab', 'hands-on')) : []);
    const lab = spawn(at('lab'), ['workshop', '--hands-on', '1', '--containers', '--memory=512m', '--pids=64'], {
      stdio: ['ignore', 'pipe', 'pipe'],
      detached: true,
    });
    let out = '';
    lab.stdout.on('data', (d) => (out += d));
    lab.stderr.on('data', (d) => (out += d));
    for (let i = 0; i < 150 && !/ready: 1 attendee/.test(out); i++) await new Promise((r) => setTimeout(r, 1000));
    assert.match(out, /ready: 1 attendee/, out.slice(-800));
    const marker = readdirSync(at('.lab', 'hands-on')).find((r) => !earlier.has(r))!;
    assert.ok(marker, 'the room keeps its state under .lab/hands-on/<room>');
    assert.equal(containersOf(marker).length, 1, "the attendee's container runs");
    const forwarders = running(/netns-bridge\.py/).filter((p) => !before.has(p));
    assert.ok(forwarders.length >= 1, "the forwarder into the attendee's container runs");
    const node = running(/cli\/main\.ts workshop --hands-on 1 --containers/);
    if (signal === 'SIGINT') process.kill(-lab.pid!, 'SIGINT');
    else for (const pid of node) process.kill(pid, 'SIGKILL');
    const ours = new RegExp(`${roomStateDir(marker)}|${roomRunDir(marker)}`);
    const alive = (p: number) => existsSync(`/proc/${p}`);
    // The watchdog removes the room's secret state last: wait for that too.
    const left = () =>
      containersOf(marker).length ||
      roomAccounts(marker).length ||
      running(ours).length ||
      forwarders.some(alive) ||
      existsSync(roomStateDir(marker));
    for (let i = 0; i < 90 && left(); i++) await new Promise((r) => setTimeout(r, 500));
    try {
      process.kill(-lab.pid!, 'SIGKILL');
    } catch {}
    await removeArchives(join('/var/lib/go-uretprobe-lab/archive', marker));
    assert.deepEqual(containersOf(marker), [], 'no container left');
    assert.deepEqual(roomAccounts(marker), [], 'no account left');
    assert.deepEqual(running(ours), [], 'no hub, gate, podman service or forwarder left');
    assert.deepEqual(forwarders.filter(alive), [], 'no forwarder left');
    assert.equal(existsSync(roomStateDir(marker)), false, 'no secret left');
  });
