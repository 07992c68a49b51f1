/** ./lab run-tracer end to end: a real tracer process against a private copy of the server. */
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { copyFileSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ManagedServer } from '../../engines/managed-server.ts';
import { at, serverBinary } from '../../core/paths.ts';
import { kernelDrops } from '../support/kernel.ts';

const dir = mkdtempSync(join(tmpdir(), 'lab-tracer-cli-'));
const binary = join(dir, 'server');
copyFileSync(serverBinary, binary);
const started: ChildProcess[] = [];
after(() => {
  for (const c of started) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
  rmSync(dir, { recursive: true, force: true });
});

interface Tracer {
  child: ChildProcess;
  stdout: () => string;
  stderr: () => string;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

async function startTracer(...args: string[]): Promise<Tracer> {
  const child = spawn(at('lab'), ['run-tracer', ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  started.push(child);
  let out = '';
  let err = '';
  child.stdout!.on('data', (d) => (out += d));
  child.stderr!.on('data', (d) => (err += d));
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((r) =>
    child.once('exit', (code, signal) => r({ code, signal })),
  );
  await Promise.race([
    until(() => /attached/.test(err)),
    exited.then(() => assert.fail(`run-tracer exited before attaching: ${err}`)),
  ]);
  return { child, stdout: () => out, stderr: () => err, exited };
}

/** Polls a condition the tracer's output will meet (bounded: 20 s). */
async function until(cond: () => boolean): Promise<void> {
  for (let i = 0; i < 200 && !cond(); i++) await new Promise((r) => setTimeout(r, 100));
  assert.ok(cond(), 'condition not met in 20 s');
}

const jsonLines = (text: string) =>
  text
    .split('\n')
    .filter((l) => l.startsWith('{'))
    .map((l) => JSON.parse(l));

test('run-tracer --mode uprobe --json prints entry events with the TraceEvent fields (typed: names, types, exact ints as decimal strings) and stops cleanly on SIGTERM', async () => {
  await using srv = await ManagedServer.start({ binary });
  const t = await startTracer('--mode', 'uprobe', '--json', '--binary', binary, '--pid', String(srv.pid));
  await srv.get('/?arg=42');
  await until(() => jsonLines(t.stdout()).length > 0);
  const [e] = jsonLines(t.stdout());
  assert.deepEqual(
    Object.keys(e).sort(),
    [
      'args',
      'goid',
      'goroutine',
      'kind',
      'latency_ns',
      'params',
      'pid',
      'regs',
      'results',
      'ret',
      'symbol',
      'tid',
      'ts_ns',
    ].sort(),
  );
  assert.equal(e.kind, 'entry');
  assert.deepEqual(e.args, ['42']);
  assert.deepEqual(e.params, [{ name: 'arg', type: 'int' }]);
  assert.match(e.goid, /^\d+$/);
  assert.equal(e.pid, srv.pid);
  t.child.kill('SIGTERM');
  assert.deepEqual(await t.exited, { code: 0, signal: null });
  assert.ok(srv.alive);
});

test('run-tracer in uretprobe mode reports the crash of the traced server with its exit code and a hint', async () => {
  await using srv = await ManagedServer.start({ binary });
  const t = await startTracer('--mode', 'uretprobe', '--binary', binary, '--pid', String(srv.pid));
  await srv.get('/?arg=3');
  await until(() => /^main\.demo\(arg=3\) = 3  [\d.]+µs  g\d+$/m.test(t.stdout()));
  await srv.get('/?arg=2000');
  const exit = await srv.exited;
  assert.match(exit.stderr, /unexpected return pc/);
  // with --pid, the tracer ends by itself once its process is gone
  assert.deepEqual(await t.exited, { code: 0, signal: null });
  assert.match(
    t.stderr(),
    new RegExp(
      `traced process ${srv.pid} died: the Go runtime threw "unknown caller pc": its stack unwinder met a return address it does not know — the uretprobe's trampoline — and the program exited with status ${exit.code}`,
    ),
  );
  assert.match(t.stderr(), /this is the uretprobe crash the lab is about/);
});

test('run-tracer in ret mode prints one line per completed call and the server survives arg=2000', async () => {
  await using srv = await ManagedServer.start({ binary });
  const t = await startTracer('--mode', 'ret', '--binary', binary, '--pid', String(srv.pid));
  assert.equal((await srv.get('/?arg=2000')).status, 200);
  await until(() => /^main\.demo\(arg=2000\) = 2000  [\d.]+µs  g\d+  RET#0$/m.test(t.stdout()));
  assert.ok(srv.alive);
  t.child.kill('SIGINT');
  assert.deepEqual(await t.exited, { code: 0, signal: null });
});

test('run-tracer errors are one line with a fix and exit 1 (2 for a usage error)', () => {
  for (const [args, re, status] of [
    [['--binary', join(dir, 'missing')], /no file at .*missing — /, 1],
    [['--binary', binary, '--symbol', 'main.demoo'], /did you mean main\.demo\?/, 1],
    [['--mode', 'sideways'], /--mode "sideways" is not one of its values — pick from: uprobe, uretprobe, ret/, 2],
    [['--pid', 'abc'], /--pid "abc" is not a decimal whole number/, 2],
  ] as const) {
    const r = spawnSync(at('lab'), ['run-tracer', ...args], { encoding: 'utf8' });
    assert.equal(r.status, status, r.stderr);
    const errors = r.stderr.split('\n').filter((l) => l.startsWith('[lab]') && !/[▸✓]/.test(l));
    assert.equal(errors.length, 1, r.stderr);
    assert.match(errors[0], re);
  }
});

const rssKb = (pid: number) => Number(/^VmRSS:\s*(\d+)/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1]);

test('a stalled reader under load: the printed and JSON drop counts equal what the kernel and the queue counted, exit 3, RSS bounded', async () => {
  await using srv = await ManagedServer.start({ binary });
  // stdout is piped and never read until the end: a reader that stalled (run-tracer --json | (sleep; cat)).
  const child = spawn(
    at('lab'),
    [
      'run-tracer',
      '--mode',
      'uprobe',
      '--symbol',
      'main.growStack',
      '--args',
      '1',
      '--json',
      '--queue',
      '2000',
      '--binary',
      binary,
      '--pid',
      String(srv.pid),
    ],
    {
      stdio: ['ignore', 'pipe', 'pipe'],
    },
  );
  started.push(child);
  child.stdout!.pause();
  let err = '';
  child.stderr!.on('data', (d) => (err += d));
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((r) =>
    child.once('exit', (code, signal) => r({ code, signal })),
  );
  await until(() => /attached/.test(err));
  const rssBefore = rssKb(child.pid!);
  const load = async (n: number) => {
    for (let i = 0; i < n; i++) assert.equal((await srv.get('/?arg=10000', 30000)).status, 200);
  };
  // The tracer's process stopped: the ring buffer fills and the kernel counts what it cannot hold.
  child.kill('SIGSTOP');
  await load(3);
  child.kill('SIGCONT');
  // Running again with stdout full: the probe's queue fills and the rest is counted as the reader's.
  await load(3);
  const fired = 6 * 10001;
  await until(() => /lost \d+ events in the last 5 s/.test(err)); // said while it happens
  const ringCounted = kernelDrops(child.pid!);
  const rssAfter = rssKb(child.pid!);
  child.kill('SIGTERM');
  let out = '';
  child.stdout!.on('data', (d) => (out += d));
  child.stdout!.resume();
  assert.deepEqual(await exited, { code: 3, signal: null }, err);
  const lines = jsonLines(out);
  const delivered = lines.filter((l) => l.kind === 'entry').length;
  const final = lines.filter((l) => l.kind === 'drops').pop();
  assert.ok(final?.final, `a final drops record: ${JSON.stringify(final)}`);
  assert.ok(final.ring > 0 && final.reader > 0, `both reasons happened: ${JSON.stringify(final)}`);
  assert.equal(
    final.ring,
    ringCounted.get(1),
    'the ring-buffer drops are what the BPF programs counted for the probe (id 1)',
  );
  assert.equal(final.total, final.ring + final.reader);
  assert.equal(delivered + final.total, fired, 'every call is either delivered or counted');
  assert.match(
    err,
    new RegExp(
      `lost ${final.total} events: ${final.ring} because the ring buffer was full .* and ${final.reader} because the reader was too slow`,
    ),
  );
  assert.ok(
    rssAfter - rssBefore < 60 * 1024,
    `RSS grew ${((rssAfter - rssBefore) / 1024).toFixed(1)} MB behind the stalled pipe`,
  );
  assert.ok(srv.alive);
});
