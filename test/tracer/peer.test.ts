/**
 * The cilium/ebpf reference peer against the addon, on the real kernel: both engines attached at
 * once to the same server (a private copy of the binary, filtered to its PID) must report the same
 * calls — arguments, results, goroutines, RET sites.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { chmodSync, copyFileSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { spawn } from 'node:child_process';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ManagedServer } from '../../engines/managed-server.ts';
import { at, serverBinary } from '../../core/paths.ts';
import { tracerEngines, type TraceRequest, type TraceSession } from '../../engines/tracing/index.ts';
import { closeAllProbes, programsAndLinks, programsHeldBy, type TraceEvent } from '../../bpf/ts/index.ts';
import { childrenOf } from '../support/jupyter-support.ts';
import { sleep } from '../support/kernel.ts';

const dir = mkdtempSync(join(tmpdir(), 'lab-peer-'));
chmodSync(dir, 0o755);
const binary = join(dir, 'server');

before(() => copyFileSync(serverBinary, binary));
after(() => {
  closeAllProbes();
  rmSync(dir, { recursive: true, force: true });
});

interface Collected {
  events: TraceEvent[];
  close(): Promise<TraceEvent[]>;
}

/** Reads a session's events in the background; close() detaches and returns all of them. */
function collect(session: TraceSession): Collected {
  const events: TraceEvent[] = [];
  const reading = (async () => {
    for await (const e of session.events) events.push(e);
  })();
  return {
    events,
    async close() {
      session.close();
      await reading;
      return events;
    },
  };
}

async function until(cond: () => boolean, ms = 10000): Promise<void> {
  for (const deadline = Date.now() + ms; !cond() && Date.now() < deadline; ) await sleep(20);
}

/** Attaches both engines with the same request, runs the requests, returns what each saw. */
async function bothEngines(
  req: Omit<TraceRequest, 'binary' | 'pid'>,
  srv: ManagedServer,
  paths: string[],
  expected: (es: TraceEvent[]) => boolean,
) {
  const full: TraceRequest = { ...req, binary, pid: srv.pid };
  const addon = collect(await tracerEngines.addon(full));
  const cilium = collect(await tracerEngines.cilium(full));
  try {
    for (const p of paths) assert.equal((await srv.get(p)).status, 200, `${p} under ${req.mode}`);
    await until(() => expected(addon.events) && expected(cilium.events));
  } finally {
    await Promise.all([addon.close(), cilium.close()]);
  }
  return { addon: addon.events, cilium: cilium.events };
}

/** The fields both engines must agree on for the same call (timestamps are each program's own). */
const essence = (e: TraceEvent) => ({
  kind: e.kind,
  symbol: e.symbol,
  pid: e.pid,
  tid: e.tid,
  goroutine: e.goroutine,
  args: e.args,
  ret: e.ret,
  str: e.str,
  ret_site: e.ret_site,
  entry_tid: e.entry_tid,
  has_latency: e.latency_ns !== null,
});

const byKind = (es: TraceEvent[], kind: TraceEvent['kind']) => es.filter((e) => e.kind === kind);

test('uprobe: the cilium peer and the addon read the same arguments', async () => {
  await using srv = await ManagedServer.start({ binary });
  const args = [3, 42, 77];
  const seen = await bothEngines(
    { mode: 'uprobe', symbol: 'main.demo', args: 2, rets: 1 },
    srv,
    args.map((a) => `/?arg=${a}`),
    (es) => byKind(es, 'entry').length >= args.length,
  );
  assert.deepEqual(
    byKind(seen.addon, 'entry').map((e) => e.args[0]),
    args,
  );
  assert.deepEqual(byKind(seen.cilium, 'entry').map(essence), byKind(seen.addon, 'entry').map(essence));
});

test('uretprobe (small args, no stack growth): both engines report the same results', async () => {
  await using srv = await ManagedServer.start({ binary });
  const args = [1, 2, 3];
  const seen = await bothEngines(
    { mode: 'uretprobe', symbol: 'main.demo', args: 1, rets: 1 },
    srv,
    args.map((a) => `/?arg=${a}`),
    (es) => byKind(es, 'return').length >= args.length,
  );
  assert.deepEqual(
    byKind(seen.addon, 'return').map((e) => e.ret[0]),
    args,
  );
  assert.deepEqual(seen.cilium.map(essence), seen.addon.map(essence));
  assert.ok(srv.alive, `the server survived: ${srv.stderr.slice(-300)}`);
});

test('ret mode: both engines pair the same calls at the same RET sites, across stack growth', async () => {
  await using srv = await ManagedServer.start({ binary });
  const paths = ['/?arg=3', '/?arg=2000', '/?arg=5'];
  const seen = await bothEngines(
    { mode: 'ret', symbol: 'main.demo', args: 1, rets: 1 },
    srv,
    paths,
    (es) => byKind(es, 'call').length >= paths.length,
  );
  const calls = byKind(seen.addon, 'call');
  assert.deepEqual(
    calls.map((e) => [e.args[0], e.ret[0]]),
    [
      [3, 3],
      [2000, 2000],
      [5, 5],
    ],
  );
  assert.ok(calls.every((e) => e.latency_ns !== null));
  assert.deepEqual(byKind(seen.cilium, 'call').map(essence), calls.map(essence));
  assert.ok(srv.alive);
});

test('ret mode on a function with several RETs and a Go string argument: same sites, same string, same results', async () => {
  await using srv = await ManagedServer.start({ binary });
  const paths = ['/classify?arg=0', '/classify?arg=7', '/classify?arg=500', '/classify?arg=9999'];
  const cls = await bothEngines(
    { mode: 'ret', symbol: 'main.classify', args: 1, rets: 2 },
    srv,
    paths,
    (es) => byKind(es, 'call').length >= paths.length,
  );
  const sites = new Set(byKind(cls.addon, 'call').map((e) => e.ret_site));
  assert.ok(sites.size > 1, `the classify calls left through more than one RET (sites ${[...sites]})`);
  assert.deepEqual(byKind(cls.cilium, 'call').map(essence), byKind(cls.addon, 'call').map(essence));

  const words = await bothEngines(
    { mode: 'ret', symbol: 'main.wordStats', args: 2, rets: 2, stringArg: 0 },
    srv,
    ['/words?s=hello%20big%20world'],
    (es) => byKind(es, 'call').length >= 1,
  );
  const [call] = byKind(words.addon, 'call');
  assert.equal(call.str, 'hello big world');
  assert.equal(call.ret[0], 3);
  assert.deepEqual(byKind(words.cilium, 'call').map(essence), [essence(call)]);
});

test('./lab run-tracer --engine cilium: SIGKILL of the CLI still detaches every link of the peer', async () => {
  await using srv = await ManagedServer.start({ binary });
  const cli = spawn(
    at('lab'),
    ['run-tracer', '--engine', 'cilium', '--mode', 'ret', '--binary', binary, '--pid', String(srv.pid), '--json'],
    { stdio: ['ignore', 'pipe', 'pipe'] },
  );
  let stderr = '';
  cli.stderr.on('data', (d) => (stderr += d));
  let stdout = '';
  cli.stdout.on('data', (d) => (stdout += d));
  try {
    await until(() => /attached ret/.test(stderr) || cli.exitCode !== null, 60000);
    assert.match(stderr, /attached ret/, stderr);
    assert.equal((await srv.get('/?arg=9')).status, 200);
    await until(() => stdout.includes('"kind":"call"'));
    const line = stdout.split('\n').find((l) => l.includes('"kind":"call"'))!;
    assert.deepEqual(JSON.parse(line).args, [9]);

    const [peer] = childrenOf(cli.pid!).filter((p) =>
      readFileSync(`/proc/${p}/comm`, 'utf8').startsWith('cilium-tracer'),
    );
    assert.ok(peer, 'the CLI runs the peer as its child');
    const progs = programsHeldBy(peer);
    assert.ok(progs.length >= 3, `the peer holds the lab's programs (${progs})`);
    const linked = () => programsAndLinks(progs).links;
    assert.ok(linked().length >= 3, 'entry, RET and exit links are live');

    cli.kill('SIGKILL');
    await until(() => !readdirSync('/proc').includes(String(peer)) && linked().length === 0);
    assert.ok(!readdirSync('/proc').includes(String(peer)), 'the peer exited with its parent');
    assert.deepEqual(linked(), []);
  } finally {
    cli.kill('SIGKILL');
  }
  assert.ok(srv.alive);
});
