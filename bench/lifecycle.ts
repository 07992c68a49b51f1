/**
 * The tracer's lifecycle costs: opening and closing many probes (uprobe_multi links against the
 * perf-event links the tracer used before), open/close cycles that reuse the loaded objects, the
 * event loop's longest stall meanwhile; and run-tracer's memory behind a pipe nobody reads.
 */
import { spawn } from 'node:child_process';
import { performance } from 'node:perf_hooks';
import { at } from '../core/paths.ts';
import { stallMeter } from '../core/stall-meter.ts';
import { ManagedServer } from '../engines/managed-server.ts';
import { closeAllProbes, openExecutable } from '../bpf/ts/index.ts';
import { rssOf, sleep } from './child.ts';
import { generateLoad, privateServerBinary } from './server-load.ts';

export interface LifecycleRun {
  links: 'uprobe_multi' | 'perf-event';
  probes: number;
  open_ms: number;
  /** From the first close() until the kernel has released every link. */
  close_ms: number;
  /** The longest the event loop went without running a 5 ms timer while they closed, waits for a CPU taken out. */
  worst_stall_ms: number;
  /** The same by the wall clock: on a loaded machine, the other processes' turns included. */
  worst_wall_stall_ms?: number;
  cycles: number;
  /** `cycles` times open a uprobe then close it, until every link is released. */
  cycles_ms: number;
}

export async function probeLifecycle(opts: { probes: number; cycles: number }): Promise<LifecycleRun[]> {
  using copy = privateServerBinary();
  const exe = await openExecutable(copy.binary);
  const runs: LifecycleRun[] = [];
  const saved = process.env.LAB_UPROBE_LINKS;
  try {
    for (const links of ['perf-event', 'uprobe_multi'] as const) {
      await closeAllProbes(); // the next session reads the link kind
      process.env.LAB_UPROBE_LINKS = links === 'perf-event' ? 'perf' : 'multi';
      exe.uprobe('main.demo').close(); // load the objects outside the measurement
      let t = performance.now();
      const probes = Array.from({ length: opts.probes }, () => exe.uprobe('main.demo'));
      const open_ms = performance.now() - t;
      const meter = stallMeter();
      t = performance.now();
      for (const p of probes) p.close();
      await Promise.all(probes.map((p) => p.detached));
      const close_ms = performance.now() - t;
      const stalls = meter.stop();
      t = performance.now();
      const cycled = [];
      for (let i = 0; i < opts.cycles; i++) {
        const p = exe.uprobe('main.demo');
        p.close();
        cycled.push(p.detached);
      }
      await Promise.all(cycled);
      runs.push({
        links,
        probes: opts.probes,
        open_ms,
        close_ms,
        worst_stall_ms: stalls.own,
        worst_wall_stall_ms: stalls.wall,
        cycles: opts.cycles,
        cycles_ms: performance.now() - t,
      });
    }
  } finally {
    if (saved === undefined) delete process.env.LAB_UPROBE_LINKS;
    else process.env.LAB_UPROBE_LINKS = saved;
    await closeAllProbes();
  }
  return runs;
}

export interface StalledPipeRun {
  seconds: number;
  /** run-tracer's RSS once attached and after `seconds` of load with its stdout unread. */
  rss_start_mb: number;
  rss_end_mb: number;
  growth_mb: number;
  calls: number;
  delivered: number;
  dropped: number;
  /** delivered + dropped = calls: nothing lost without being counted. */
  accounted: boolean;
}

/** `./lab run-tracer --json | (sleep N; cat)` under load: its memory stays flat, its drops are counted. */
export async function stalledPipeRss(seconds: number): Promise<StalledPipeRun> {
  await using srv = await ManagedServer.start({ privateCopy: 'lab-bench-' });
  const child = spawn(
    at('lab'),
    ['run-tracer', '--mode', 'ret', '--json', '--binary', srv.binary, '--pid', String(srv.pid)],
    { stdio: ['ignore', 'pipe', 'pipe'] },
  );
  child.stdout.pause();
  let err = '';
  child.stderr.on('data', (d) => (err += d));
  const exited = new Promise<number | null>((r) => child.once('exit', (code) => r(code)));
  try {
    for (let i = 0; i < 600 && !/attached/.test(err); i++) await sleep(100);
    if (!/attached/.test(err)) throw new Error(`run-tracer did not attach: ${err.slice(-300)}`);
    await sleep(1000);
    const start = rssOf(child.pid!);
    const load = await generateLoad(srv.url, {
      requests: Number.MAX_SAFE_INTEGER,
      concurrency: 8,
      maxMs: seconds * 1000,
    });
    await sleep(500);
    const end = rssOf(child.pid!);
    child.kill('SIGTERM');
    let out = '';
    child.stdout.on('data', (d) => (out += d));
    child.stdout.resume();
    await exited;
    const lines = out
      .split('\n')
      .filter((l) => l.startsWith('{'))
      .map((l) => JSON.parse(l) as { kind: string; total?: number; final?: boolean });
    const delivered = lines.filter((l) => l.kind === 'call').length;
    const dropped = lines.filter((l) => l.kind === 'drops' && l.final).pop()?.total ?? NaN;
    const mb = (b: number) => Math.round((b / 2 ** 20) * 10) / 10;
    return {
      seconds,
      rss_start_mb: mb(start),
      rss_end_mb: mb(end),
      growth_mb: mb(end - start),
      calls: load.ok,
      delivered,
      dropped,
      accounted: delivered + dropped === load.ok,
    };
  } finally {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  }
}
