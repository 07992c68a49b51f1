/**
 * The probe service against hostile attendees, on the real kernel (issue 23's findings 1, 2, 4, 5, 7,
 * 10 and issue 25's PID namespaces): the service alone — probe-gate in front, two throwaway attendee
 * accounts, their Go servers — each attack done as the attendee would do it, and seen handled.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import {
  chmodSync,
  copyFileSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  readdirSync,
  readlinkSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { at, serverBinary } from '../../core/paths.ts';
import { freePort } from '../../core/ports.ts';
import { createAccount, removeAccount, type Account } from '../../engines/services/accounts.ts';
import { ProbeService } from '../../engines/services/probe-service.ts';
import { uprobeSitesHeldBy } from '../../bpf/ts/index.ts';

const dir = mkdtempSync(join(tmpdir(), 'lab-probe-hostile-'));
const archive = join(dir, 'archive');
const socket = join(dir, 'run', 'probe.sock');
/** One copy of the Go server every test process runs: readable and runnable by both attendees. */
const server = join(dir, 'bin', 'server');
let a: Account;
let b: Account;
let service: ProbeService;
/** What the tests make happen between the service's checks and its attach. */
const hooks: { afterChecks?: (pid: number) => Promise<void>; beforeAttach?: (pid: number) => Promise<void> } = {};
const children = new Set<ChildProcess>();

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Runs argv as the account (setpriv execs it: the child's PID is the program's). */
function runAs(account: Account, argv: string[], opts: { stdio?: 'pipe' | 'ignore' } = {}): ChildProcess {
  const child = spawn(
    'setpriv',
    [`--reuid=${account.uid}`, `--regid=${account.gid}`, '--init-groups', '--pdeathsig=KILL', '--', ...argv],
    { stdio: opts.stdio ?? 'ignore', env: { PATH: '/usr/bin:/bin', HOME: account.home } },
  );
  return track(child);
}

/** Killed by after() if a test leaves it running; the last test checks none is left. */
function track(child: ChildProcess): ChildProcess {
  child.on('error', () => children.delete(child));
  children.add(child);
  child.on('exit', () => children.delete(child));
  return child;
}

/** Waits until the process runs `exe` (setpriv has exec'd it). */
async function runs(pid: number, exe: string): Promise<void> {
  for (let i = 0; i < 200; i++) {
    try {
      if (readlinkSync(`/proc/${pid}/exe`) === exe) return;
    } catch {}
    await sleep(10);
  }
  throw new Error(`process ${pid} never ran ${exe}`);
}

/** The account's Go server (a copy of `binary`), on a free port. */
async function startServer(
  account: Account,
  binary = server,
): Promise<{ pid: number; port: number; child: ChildProcess }> {
  const port = await freePort();
  const child = runAs(account, [binary, '-addr', `127.0.0.1:${port}`]);
  await runs(child.pid!, binary);
  for (let i = 0; i < 100; i++) {
    if (
      await fetch(`http://127.0.0.1:${port}/?arg=1`).then(
        () => true,
        () => false,
      )
    )
      break;
    await sleep(50);
  }
  return { pid: child.pid!, port, child };
}

const relayScript = (path: string) =>
  `const s=require('net').connect(${JSON.stringify(path)});process.stdin.pipe(s);s.pipe(process.stdout);` +
  `s.on('close',()=>process.exit(0));s.on('error',()=>process.exit(0));process.stdout.on('error',()=>process.exit(0))`;

interface Client {
  child: ChildProcess;
  lines: string[];
  /** Sends a line (an object is sent as JSON). */
  send(line: unknown): void;
  /** The first line that matches, as JSON, from `from` on (by default: what came after the last send). */
  next(match: (m: Record<string, unknown>) => boolean, from?: number, ms?: number): Promise<Record<string, unknown>>;
  closed: Promise<void>;
  close(): void;
}

/** A client of the probe service as `argv` runs it (the account's own program: a relay between stdin/stdout and the socket). */
function clientOf(child: ChildProcess): Client {
  const lines: string[] = [];
  let buf = '';
  child.stdout!.setEncoding('utf8');
  child.stdout!.on('data', (d: string) => {
    buf += d;
    for (let i = buf.indexOf('\n'); i >= 0; i = buf.indexOf('\n')) {
      lines.push(buf.slice(0, i));
      buf = buf.slice(i + 1);
    }
  });
  child.stdin!.on('error', () => {});
  const closed = new Promise<void>((r) => child.once('exit', () => r()));
  let sentAt = 0;
  return {
    child,
    lines,
    closed,
    send: (line) => {
      sentAt = lines.length;
      child.stdin!.write(`${typeof line === 'string' ? line : JSON.stringify(line)}\n`);
    },
    async next(match, from = sentAt, ms = 60_000) {
      for (const end = Date.now() + ms; Date.now() < end; ) {
        for (const l of lines.slice(from)) {
          try {
            const m = JSON.parse(l) as Record<string, unknown>;
            if (match(m)) return m;
          } catch {}
        }
        await sleep(20);
      }
      throw new Error(`no matching answer in ${ms} ms; got:\n${lines.join('\n')}`);
    },
    close: () => child.kill('SIGKILL'),
  };
}

/** A connection to the probe service as the account, from the host's PID namespace. */
function connectAs(account: Account): Client {
  return clientOf(runAs(account, [process.execPath, '-e', relayScript(socket)], { stdio: 'pipe' }));
}

const attach = (id: number, pid: number, extra: object = {}) => ({
  op: 'attach',
  id,
  kind: 'uprobe',
  symbol: 'main.demo',
  pid,
  ...extra,
});
const answerTo = (id: number) => (m: Record<string, unknown>) =>
  m.id === id && (m.op === 'attached' || m.op === 'error');

/** Links this process (the service) holds on the test's server copies. */
const sitesOnOurServers = () => uprobeSitesHeldBy(process.pid).filter((s) => s.path.startsWith(dir));

async function waitFor(what: string, ok: () => boolean | Promise<boolean>, ms = 10_000): Promise<void> {
  for (const end = Date.now() + ms; Date.now() < end; ) {
    if (await ok()) return;
    await sleep(50);
  }
  assert.fail(`timed out: ${what}`);
}

const activityOf = (account: Account) => service.roomActivity().find((x) => x.uid === account.uid);

before(async () => {
  mkdirSync(join(dir, 'bin'), { recursive: true });
  mkdirSync(join(dir, 'run'), { mode: 0o755 });
  chmodSync(dir, 0o755);
  copyFileSync(serverBinary, server);
  chmodSync(server, 0o755);
  a = await createAccount(91, archive, `${process.pid}-hostile`);
  b = await createAccount(92, archive, `${process.pid}-hostile`);
  service = new ProbeService(
    socket,
    { maxProbes: 2, maxEventsPerSecond: 100, maxConnections: 4 },
    {
      testHooks: {
        afterChecks: (pid) => hooks.afterChecks?.(pid),
        beforeAttach: (pid) => hooks.beforeAttach?.(pid),
      },
    },
  );
  await service.start();
});

after(async () => {
  for (const c of children) c.kill('SIGKILL');
  await service?.stop();
  for (const acc of [a, b]) if (acc) await removeAccount(acc.name, archive);
  rmSync(dir, { recursive: true, force: true });
});

test('null, arrays, numbers and odd fields each get one error line; the connection and the service keep serving', {
  timeout: 60_000,
}, async () => {
  const srv = await startServer(a);
  const c = connectAs(a);
  const hostile: [string, RegExp][] = [
    ['null', /one JSON object per line.*not null/],
    ['[]', /not an array/],
    ['[{"op":"attach"}]', /not an array/],
    ['42', /not a number/],
    ['"attach"', /not a string/],
    ['true', /not a boolean/],
    ['{}', /needs an "op"/],
    ['{"op":5}', /needs an "op"/],
    ['{"op":null,"id":1}', /needs an "op"/],
    ['not json', /not a JSON request/],
    ['', /not a JSON request/],
    ['{"op":"attach"}', /attach needs a numeric id/],
    ['{"op":"attach","id":"1"}', /"id" must be a whole number/],
    ['{"op":"attach","id":1.5}', /"id" must be a whole number/],
    ['{"op":"attach","id":1e300}', /"id" must be a whole number/],
    ['{"op":"attach","id":1,"kind":{}}', /unknown probe kind/],
    ['{"op":"attach","id":1,"kind":"uprobe","symbol":["main.demo"]}', /needs a symbol/],
    [`{"op":"attach","id":1,"kind":"uprobe","symbol":"main.demo","pid":"${srv.pid}"}`, /needs the pid/],
    [`{"op":"attach","id":1,"kind":"uprobe","symbol":"main.demo","pid":${srv.pid},"readThrough":5}`, /readThrough/],
    [`{"op":"attach","id":1,"kind":"uprobe","symbol":"main.demo","pid":${srv.pid},"args":-1}`, /small whole number/],
    ['{"__proto__":{"op":"attach"},"id":1}', /needs an "op"/],
    ['{"op":"detach"}', /detach needs the numeric id/],
    ['{"op":"detach","id":77}', /no probe 77/],
    ['{"op":"held"}', /held needs a numeric id/],
    ['{"op":"constructor","id":1}', /unknown op/],
  ];
  for (const [line, expected] of hostile) {
    const from = c.lines.length;
    c.send(line);
    const m = await c.next((x) => x.op === 'error', from, 5000);
    assert.match(String(m.error), expected, `answer to ${line}`);
    assert.equal(c.lines.length, from + 1, `one line for ${line}`);
  }
  // A thread of its own server is not a process to name.
  const tid = Number(readdirSync(`/proc/${srv.pid}/task`).find((t) => t !== String(srv.pid)));
  c.send(attach(1, tid));
  assert.match(String((await c.next(answerTo(1))).error), /is a thread, not a process/);
  // The same connection still works, and so does another attendee's.
  c.send(attach(1, srv.pid));
  assert.equal((await c.next(answerTo(1))).op, 'attached', c.lines.at(-1));
  const other = connectAs(b);
  const bs = await startServer(b);
  other.send(attach(1, bs.pid));
  assert.equal((await other.next(answerTo(1))).op, 'attached', other.lines.at(-1));
  c.close();
  other.close();
  await Promise.all([c.closed, other.closed]);
  await waitFor('every probe released', () => sitesOnOurServers().length === 0);
  srv.child.kill('SIGKILL');
  bs.child.kill('SIGKILL');
});

test('`./lab probe-service`: a null line from an attendee gets an answer and the service keeps serving', {
  timeout: 120_000,
}, async () => {
  const sock = join(dir, 'run-cli', 'probe.sock');
  const lab = spawn(at('lab'), ['probe-service', `--socket=${sock}`], {
    cwd: at(),
    stdio: ['ignore', 'pipe', 'pipe'],
    detached: true,
  });
  let log = '';
  lab.stdout!.on('data', (d) => (log += d));
  lab.stderr!.on('data', (d) => (log += d));
  try {
    await waitFor('the probe service to listen', () => log.includes('probe service listening'), 90_000);
    const srv = await startServer(a);
    const c = clientOf(runAs(a, [process.execPath, '-e', relayScript(sock)], { stdio: 'pipe' }));
    c.send('null');
    assert.match(String((await c.next((m) => m.op === 'error')).error), /not null/);
    c.send(attach(1, srv.pid));
    assert.equal((await c.next(answerTo(1))).op, 'attached', c.lines.join('\n'));
    assert.equal(lab.exitCode, null, `the service stopped: ${log}`);
    c.close();
    srv.child.kill('SIGKILL');
  } finally {
    process.kill(-lab.pid!, 'SIGTERM');
    await new Promise((r) => (lab.exitCode === null ? lab.once('exit', r) : r(null)));
  }
  assert.doesNotMatch(log, /unexpected error/);
});

test('an error nothing caught, in `probe-service` mode: one line in the log, and the service keeps serving', {
  timeout: 120_000,
}, async () => {
  // cli/main.ts running the command, and then a throw and a rejection no handler catches.
  const sock = join(dir, 'run-policy', 'probe.sock');
  const script = `
    process.argv = [process.argv[0], 'cli/main.ts', 'probe-service', ${JSON.stringify(`--socket=${sock}`)}];
    await import('./cli/main.ts');
    const { existsSync } = await import('node:fs');
    const ready = setInterval(() => {
      if (!existsSync(${JSON.stringify(sock)})) return;
      clearInterval(ready);
      setTimeout(() => { throw new Error('injected throw'); }, 10);
      setTimeout(() => void Promise.reject(new Error('injected rejection')), 20);
      setTimeout(() => console.error('INJECTED'), 200);
    }, 50);`;
  const cli = spawn(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], {
    cwd: at(),
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  track(cli);
  let log = '';
  cli.stdout!.on('data', (d) => (log += d));
  cli.stderr!.on('data', (d) => (log += d));
  try {
    await waitFor('the injected errors', () => log.includes('INJECTED'), 90_000);
    assert.match(log, /probe-service: unexpected error, still serving: injected throw/);
    assert.match(log, /probe-service: unexpected rejection, still serving: injected rejection/);
    assert.equal(cli.exitCode, null, `the service stopped: ${log}`);
    const srv = await startServer(a);
    const c = clientOf(runAs(a, [process.execPath, '-e', relayScript(sock)], { stdio: 'pipe' }));
    c.send(attach(1, srv.pid));
    assert.equal((await c.next(answerTo(1))).op, 'attached', c.lines.join('\n'));
    c.close();
    srv.child.kill('SIGKILL');
  } finally {
    cli.kill('SIGTERM');
    await new Promise((r) => (cli.exitCode === null ? cli.once('exit', r) : r(null)));
  }
  assert.match(log, /probe service listening/);
});

test('a line over 4096 bytes closes the connection as soon as it passes the limit, not when it ends', {
  timeout: 60_000,
}, async () => {
  const c = connectAs(a);
  // 4096 bytes without a newline are allowed to wait for their newline…
  c.child.stdin!.write('x'.repeat(4096));
  await sleep(500);
  assert.equal(c.child.exitCode, null, 'a line of exactly 4096 bytes is still being read');
  c.send('');
  assert.match(String((await c.next((m) => m.op === 'error')).error), /not a JSON request/);
  // …one byte more, with no newline ever, and the service says so and hangs up.
  const rssBefore = process.memoryUsage().rss;
  c.child.stdin!.write('y'.repeat(4097));
  const m = await c.next((x) => x.op === 'error' && /longer than 4096/.test(String(x.error)), 0, 5000);
  assert.ok(m);
  await Promise.race([c.closed, sleep(5000)]);
  assert.notEqual(c.child.exitCode, null, 'the connection was closed');

  // A line of 256 MB that never ends: refused after its first 4 KB; the service does not grow.
  // (Sent from here, through the gate like any caller: a relay would lose the answer to its own EPIPE.)
  const flood = connect(socket);
  let answer = '';
  flood.on('data', (d) => (answer += d));
  flood.on('error', () => {});
  const floodClosed = new Promise((r) => flood.once('close', r));
  const chunk = Buffer.alloc(1 << 20, 0x61);
  let sent = 0;
  for (; sent < 256 && !flood.destroyed; sent++)
    if (!flood.write(chunk)) await Promise.race([new Promise((r) => flood.once('drain', r)), floodClosed]);
  await Promise.race([floodClosed, sleep(10_000)]);
  assert.ok(flood.destroyed, 'the flooding connection was closed');
  assert.ok(sent < 64, `the service read ${sent} MB before closing`);
  assert.match(answer, /longer than 4096/);
  const grown = (process.memoryUsage().rss - rssBefore) / 1024 ** 2;
  assert.ok(grown < 64, `the service grew ${grown.toFixed(0)} MB`);
});

test('caps are per attendee uid: four connections hold no more probes and get no more events than one', {
  timeout: 90_000,
}, async () => {
  const srv = await startServer(a);
  const conns = [connectAs(a), connectAs(a), connectAs(a), connectAs(a)];
  // All at once: the cap (2) holds over the attaches under way on every connection.
  conns.forEach((c, i) => c.send(attach(i + 1, srv.pid)));
  const answers = await Promise.all(conns.map((c, i) => c.next(answerTo(i + 1), 0, 20_000)));
  assert.equal(answers.filter((m) => m.op === 'attached').length, 2, JSON.stringify(answers));
  for (const m of answers.filter((x) => x.op === 'error'))
    assert.match(String(m.error), /you already hold 2 probes \(the cap is 2\)/);
  assert.equal(activityOf(a)!.probes.length, 2);

  // Events: 100/s for the uid, however many connections carry them.
  const started = Date.now();
  for (let round = 0; round < 10; round++)
    await Promise.all(
      Array.from({ length: 40 }, () => fetch(`http://127.0.0.1:${srv.port}/?arg=1`).then((r) => r.text())),
    );
  await sleep(1500);
  const seconds = (Date.now() - started) / 1000;
  const events = conns.flatMap((c) => c.lines).filter((l) => l.includes('"op":"event"')).length;
  assert.ok(
    events <= 100 * Math.ceil(seconds + 1),
    `${events} events in ${seconds.toFixed(1)} s over the cap of 100/s`,
  );
  assert.ok(activityOf(a)!.drops > 0, 'the rest were dropped and counted');
  await waitFor('the drops reported', () => conns.some((c) => c.lines.some((l) => l.includes('"op":"drops"'))));

  // A fifth connection of the same uid is refused (the cap is 4), another attendee's is not.
  const fifth = connectAs(a);
  assert.match(String((await fifth.next((m) => m.op === 'error')).error), /cap is 4/);
  await Promise.race([fifth.closed, sleep(5000)]);
  const other = connectAs(b);
  other.send({ op: 'held', id: 9 });
  assert.equal((await other.next((m) => m.id === 9)).op, 'held');
  for (const c of [...conns, other]) c.close();
  await waitFor('every probe released', () => sitesOnOurServers().length === 0 && !activityOf(a)!.probes.length);
  srv.child.kill('SIGKILL');
});

/** Gives `pid` to a new process of `account` running the test's server copy (pid_max wraps; ns_last_pid winds it here). */
async function reuse(pid: number, account: Account): Promise<ChildProcess> {
  for (let i = 0; i < 200; i++) {
    writeFileSync('/proc/sys/kernel/ns_last_pid', String(pid - 1));
    const child = runAs(account, [server, '-addr', '127.0.0.1:0']);
    if (child.pid === pid) {
      await runs(pid, server);
      return child;
    }
    child.kill('SIGKILL');
    await sleep(5);
  }
  throw new Error(`could not give pid ${pid} to a new process`);
}

for (const when of ['afterChecks', 'beforeAttach'] as const) {
  test(`PID reuse (${when === 'afterChecks' ? 'while the executable is opened' : 'right before the attach'}): another uid's process that got the PID is never left probed`, {
    timeout: 90_000,
  }, async () => {
    const target = await startServer(a);
    let victim: ChildProcess | undefined;
    hooks[when] = async (pid) => {
      hooks[when] = undefined;
      const exited = new Promise((r) => target.child.once('exit', r));
      target.child.kill('SIGKILL');
      await exited; // reaped: the PID is free
      victim = await reuse(pid, b);
    };
    const c = connectAs(a);
    c.send(attach(1, target.pid, { kind: 'ret' }));
    const m = await c.next(answerTo(1), 0, 30_000);
    assert.ok(victim, 'the PID was reused');
    assert.equal(m.op, 'error', `attached to uid ${b.uid}'s process: ${JSON.stringify(m)}`);
    assert.match(
      String(m.error),
      when === 'afterChecks'
        ? /exited before the probe was attached/
        : /exited while the probe was being attached — the attach was undone/,
    );
    assert.deepEqual(sitesOnOurServers(), [], 'no link left on the server copy');
    assert.equal(activityOf(a)?.probes.length ?? 0, 0);
    assert.equal(victim!.exitCode, null, "the other attendee's process lives");
    c.close();
    victim!.kill('SIGKILL');
  });
}

test('setuid, setgid and file-capability programs are refused', { timeout: 60_000 }, async () => {
  const variants: [string, (p: string) => void, RegExp][] = [
    ['setuid root', (p) => chmodSync(p, 0o4755), /other rights than yours \(uids \d+\/0\/0\/0/],
    ['setgid root', (p) => chmodSync(p, 0o2755), /other rights than yours .*gids \d+\/0\/0\/0/],
    ['file capability', (p) => execFileSync('setcap', ['cap_net_bind_service+ep', p]), /holds capabilities/],
  ];
  const c = connectAs(a);
  let id = 1;
  for (const [what, make, expected] of variants) {
    const copy = join(dir, 'bin', `server-${id}`);
    copyFileSync(server, copy);
    chmodSync(copy, 0o755);
    make(copy);
    try {
      const srv = await startServer(a, copy);
      c.send(attach(id, srv.pid));
      const m = await c.next(answerTo(id));
      srv.child.kill('SIGKILL');
      assert.equal(m.op, 'error', `${what}: ${JSON.stringify(m)}`);
      assert.match(String(m.error), expected, what);
    } finally {
      rmSync(copy, { force: true }); // no setuid-root file outlives its test
    }
    id++;
  }
  assert.deepEqual(sitesOnOurServers(), []);
  c.close();
});

/** A process of `account` in a PID namespace of its own: its server, then a relay to the socket. */
async function inNamespace(
  account: Account,
  extra = 0,
): Promise<{ c: Client; nsPid: number; hostPid: number; port: number; launcher: ChildProcess }> {
  const port = await freePort();
  const sleepers = Array.from({ length: extra }, () => 'sleep 600 & ').join('');
  const launcher = spawn(
    'unshare',
    [
      '--pid',
      '--fork',
      '--kill-child',
      '--',
      'setpriv',
      `--reuid=${account.uid}`,
      `--regid=${account.gid}`,
      '--init-groups',
      '--',
      'sh',
      '-c',
      `${sleepers}"${server}" -addr 127.0.0.1:${port} >/dev/null 2>&1 & echo "{\\"nspid\\":$!}"; exec "${process.execPath}" -e "$0"`,
      relayScript(socket),
    ],
    { stdio: 'pipe', env: { PATH: '/usr/bin:/bin', HOME: account.home } },
  );
  track(launcher);
  const c = clientOf(launcher);
  const nsPid = Number((await c.next((m) => 'nspid' in m)).nspid);
  // The host's PID of that server: the process in the namespace unshare made whose innermost NSpid is nsPid.
  let hostPid = 0;
  await waitFor('the namespaced server', () => {
    const ns = readlinkSync(`/proc/${launcher.pid}/ns/pid_for_children`);
    for (const e of readdirSync('/proc').filter((x) => /^\d+$/.test(x))) {
      try {
        const nspid = /^NSpid:\s+(.*)$/m
          .exec(readFileSync(`/proc/${e}/status`, 'utf8'))![1]
          .trim()
          .split(/\s+/)
          .map(Number);
        if (readlinkSync(`/proc/${e}/ns/pid`) === ns && nspid.at(-1) === nsPid) hostPid = Number(e);
      } catch {}
    }
    return hostPid > 0;
  });
  return { c, nsPid, hostPid, port, launcher };
}

test('a PID is the caller’s: mapped through their PID namespace, refused when it is not there', {
  timeout: 120_000,
}, async () => {
  const one = await inNamespace(a);
  const two = await inNamespace(a, 1); // the same server's PID there is one higher: a sleeper came first
  const host = connectAs(a);
  let other: Awaited<ReturnType<typeof inNamespace>> | undefined;
  try {
    assert.notEqual(one.hostPid, one.nsPid, 'the namespace numbers its processes on its own');
    assert.notEqual(one.nsPid, two.nsPid);
    // The host's PID of its own server does not name it inside the namespace; a PID only the other namespace has neither.
    one.c.send(attach(2, one.hostPid));
    assert.match(
      String((await one.c.next(answerTo(2))).error),
      new RegExp(`no process ${one.hostPid} in your PID namespace`),
    );
    one.c.send(attach(3, two.nsPid));
    assert.match(
      String((await one.c.next(answerTo(3))).error),
      new RegExp(`no process ${two.nsPid} in your PID namespace`),
    );
    // From the host's namespace the same small number is the host's process (not A's).
    host.send(attach(4, one.nsPid));
    assert.match(String((await host.next(answerTo(4))).error), /is not yours/);
    // Each attaches to its own server by the PID it sees.
    one.c.send(attach(1, one.nsPid));
    assert.equal((await one.c.next(answerTo(1))).op, 'attached', one.c.lines.join('\n'));
    two.c.send(attach(1, two.nsPid));
    assert.equal((await two.c.next(answerTo(1))).op, 'attached', two.c.lines.join('\n'));
    const held = activityOf(a)!
      .probes.map((p) => p.pid)
      .sort();
    assert.deepEqual(held, [one.hostPid, two.hostPid].sort(), 'the room view shows the host PIDs');
    one.c.send({ op: 'held', id: 5 });
    const h = await one.c.next((m) => m.id === 5 && m.op === 'held');
    assert.deepEqual(
      (h.probes as { pid: number }[]).map((p) => p.pid),
      [one.nsPid],
      'the caller sees its own PID',
    );
    // Another attendee in a namespace of their own reaches only their own.
    other = await inNamespace(b);
    other.c.send(attach(1, other.nsPid));
    assert.equal((await other.c.next(answerTo(1))).op, 'attached', other.c.lines.join('\n'));
    assert.equal(activityOf(b)!.probes[0].pid, other.hostPid);
    // Its events, and the death of its server under a uretprobe, come with the PID it knows.
    other.c.send(attach(2, other.nsPid, { kind: 'uretprobe' }));
    assert.equal((await other.c.next(answerTo(2))).op, 'attached', other.c.lines.join('\n'));
    const from = other.c.lines.length;
    const hostTids = new Set(readdirSync(`/proc/${other.hostPid}/task`).map(Number));
    await fetch(`http://127.0.0.1:${other.port}/?arg=2000`).catch(() => undefined);
    const exit = await other.c.next((m) => m.op === 'event' && (m.event as { kind: string }).kind === 'exit', from);
    assert.equal((exit.event as { pid: number }).pid, other.nsPid, JSON.stringify(exit));
    const died = exit.event as { signal?: number; exit_code?: number };
    assert.ok(died.signal || died.exit_code, `it crashed: ${JSON.stringify(died)}`);
    const entries = other.c.lines
      .slice(from)
      .map((l) => JSON.parse(l) as { op: string; event?: { kind: string; pid: number; args?: unknown[] } })
      .filter((m) => m.op === 'event' && m.event?.kind !== 'exit');
    assert.ok(entries.length > 0 && entries.every((m) => m.event!.pid === other!.nsPid), JSON.stringify(entries));
    assert.ok(
      entries.every((m) => !hostTids.has((m.event as unknown as { tid: number }).tid)),
      `threads named as the caller sees them: ${JSON.stringify(entries)}`,
    );
    assert.ok(
      entries.some((m) => m.event!.kind === 'entry' && String(m.event!.args?.[0]) === '2000'),
      `the typed values came along: ${JSON.stringify(entries)}`,
    );
    await other.c.next((m) => m.op === 'detached' && m.id === 2, from);
    assert.deepEqual(
      [...new Set(activityOf(b)!.tracedProcessDied.map((d) => d.pid))],
      [other.hostPid],
      'the room view names the host PID',
    );
  } finally {
    for (const x of [one, two, other]) x?.launcher.kill('SIGKILL');
    host.close();
  }
  await waitFor('every probe released', () => sitesOnOurServers().length === 0);
});

test('attendee-owned files: a FIFO or a link to /dev/zero as ~/.lab/exercises.json hangs nothing and is not read', {
  timeout: 60_000,
}, async () => {
  const { startRoomView } = await import('../../workshop/room-view.ts');
  const labDir = join(a.home, '.lab');
  mkdirSync(labDir, { recursive: true });
  execFileSync('chown', [`${a.uid}:${a.gid}`, labDir]);
  const file = join(labDir, 'exercises.json');
  const state = (name: string) => ({
    name,
    signedIn: false,
    notebookServer: false,
    goServers: [],
    probes: [],
    crashedUnder: [],
    tracedSafely: false,
    events: 0,
    drops: 0,
    limitsHit: [],
  });
  const room = {
    attendees: [{ account: a }, { account: b }],
    roomView: async () => [state(a.name), state(b.name)],
    resetAttendee: async () => {},
  } as unknown as Parameters<typeof startRoomView>[0];
  const view = await startRoomView(room);
  const json = new URL('/room.json', view.url);
  json.search = new URL(view.url).search;
  const srv = await startServer(b);
  const c = connectAs(b);
  try {
    const exercisesOf = async () =>
      ((await (await fetch(json)).json()) as { name: string; exercises: string }[]).find((s) => s.name === a.name)!
        .exercises;
    const cases: [string, () => void][] = [
      ['a FIFO', () => execFileSync('runuser', ['-u', a.name, '--', 'mkfifo', file])],
      ['a link to /dev/zero', () => execFileSync('runuser', ['-u', a.name, '--', 'ln', '-s', '/dev/zero', file])],
      ['a file of root', () => writeFileSync(file, '{}')],
      ['a file too large', () => execFileSync('runuser', ['-u', a.name, '--', 'truncate', '-s', '2G', file])],
      ['null', () => execFileSync('runuser', ['-u', a.name, '--', 'sh', '-c', `echo null > ${file}`])],
    ];
    let id = 1;
    for (const [what, make] of cases) {
      rmSync(file, { force: true });
      make();
      const rssBefore = process.memoryUsage().rss;
      const t0 = Date.now();
      // Eight room-view loads at once (more than libuv's four pool threads), and another attendee's attach meanwhile.
      const loads = Array.from({ length: 8 }, () => exercisesOf());
      c.send(attach(id, srv.pid));
      const answer = await c.next(answerTo(id), 0, 5000);
      assert.equal(answer.op, 'attached', `${what}: ${JSON.stringify(answer)}`);
      const seen = await Promise.all(loads);
      assert.ok(Date.now() - t0 < 5000, `${what}: the room view took ${Date.now() - t0} ms`);
      assert.deepEqual(new Set(seen), new Set(['unreadable']), `${what}: ${seen.join(', ')}`);
      const grown = (process.memoryUsage().rss - rssBefore) / 1024 ** 2;
      assert.ok(grown < 64, `${what}: grew ${grown.toFixed(0)} MB`);
      c.send({ op: 'detach', id });
      await c.next((m) => m.op === 'detached' && m.id === id);
      id++;
    }
    // A file of theirs that is a progress record reads as before.
    rmSync(file, { force: true });
    execFileSync('runuser', [
      '-u',
      a.name,
      '--',
      'sh',
      '-c',
      `echo '{"x":{"result":{"pass":true,"message":"ok"}}}' > ${file}`,
    ]);
    assert.equal(await exercisesOf(), '1/1 passed: x');
  } finally {
    c.close();
    srv.child.kill('SIGKILL');
    await view.stop();
    rmSync(file, { force: true });
  }
});

test('nothing is left: no probe link held, no test process running', { timeout: 30_000 }, async () => {
  await waitFor('links released', () => sitesOnOurServers().length === 0);
  for (const c of children) c.kill('SIGKILL');
  await waitFor('test processes gone', () => children.size === 0);
  assert.ok(existsSync(socket), 'the service still listens');
});
