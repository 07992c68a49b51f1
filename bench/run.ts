/** Runs every benchmark of the lab in one go and gathers bench/results.json. */
import { cpus, loadavg, release, totalmem } from 'node:os';
import { goToolchain } from '../core/go.ts';
import { run } from '../core/proc.ts';
import { step } from '../core/ui.ts';
import { closeAllProbes } from '../bpf/ts/index.ts';
import { probeCost, type ProbeCostResult } from './probe-cost.ts';
import { ringbufThroughput } from './ringbuf.ts';
import { requestToEvent, tracedLoad, tracerRss } from './server-load.ts';
import { notebookSuiteTime, siteBuildTimes } from './external.ts';
import { coldStartTime, warmStartTime } from './start-time.ts';
import { summarize, type BenchResults } from './report.ts';
import { probeServiceCost } from './probe-service.ts';
import { probeLifecycle, stalledPipeRss } from './lifecycle.ts';
export type { BenchResults };

export const benchmarkNames = [
  'ringbuf',
  'probes',
  'latency',
  'rss',
  'load',
  'lifecycle',
  'service',
  'site',
  'notebooks',
  'start',
  'room',
] as const;
export type BenchmarkName = (typeof benchmarkNames)[number];

export interface Sizes {
  ringbufEvents: number;
  ringbufReps: number;
  loopCalls: number;
  loopReps: number;
  loopRounds: number;
  latencyRequests: number;
  rssSeconds: number;
  rssWarmupSeconds: number;
  loadRequests: number;
  loadConcurrency: number;
  lifecycleProbes: number;
  lifecycleCycles: number;
  stalledPipeSeconds: number;
  /** Hands-on rooms measured, one after the other (LAB_BENCH_ROOM_SIZES=1,2,4,8 overrides). */
  roomAttendees: number[];
}

export const fullSizes: Sizes = {
  ringbufEvents: 500_000,
  ringbufReps: 3,
  loopCalls: 20_000,
  loopReps: 3,
  loopRounds: 3,
  latencyRequests: 200,
  rssSeconds: 60,
  rssWarmupSeconds: 10,
  loadRequests: 5000,
  loadConcurrency: 16,
  lifecycleProbes: 500,
  lifecycleCycles: 500,
  stalledPipeSeconds: 45,
  roomAttendees: [1, 2, 4, 8],
};
export const quickSizes: Sizes = {
  ringbufEvents: 100_000,
  ringbufReps: 1,
  loopCalls: 5_000,
  loopReps: 2,
  loopRounds: 1,
  latencyRequests: 40,
  rssSeconds: 5,
  rssWarmupSeconds: 2,
  loadRequests: 1000,
  loadConcurrency: 8,
  lifecycleProbes: 50,
  lifecycleCycles: 50,
  stalledPipeSeconds: 5,
  roomAttendees: [1],
};

/** bench/results.json: provenance as top-level scalars, every table as an array of rows (the site renders both). */

async function provenance(sizes: Sizes, quick: boolean) {
  const bpftrace = await run('bpftrace', ['--version'], { capture: true }).catch(() => 'not installed');
  return {
    date: new Date().toISOString(),
    kernel: release(),
    machine: `${cpus().length} × ${cpus()[0]?.model.trim() ?? 'unknown CPU'}`,
    nproc: cpus().length,
    memory_gb: Math.round((totalmem() / 2 ** 30) * 10) / 10,
    go_version: (await goToolchain()).version,
    node_version: process.version,
    bpftrace_version: bpftrace.trim(),
    load_average_at_start: loadavg()
      .map((l) => l.toFixed(2))
      .join(' '),
    sizes: `${quick ? 'quick' : 'full'}: ring buffer ${sizes.ringbufReps} × ${sizes.ringbufEvents} events per consumer; Go loop ${sizes.loopRounds} rounds × ${sizes.loopReps} runs × ${sizes.loopCalls} calls; ${sizes.latencyRequests} latency requests; RSS over ${sizes.rssSeconds} s after ${sizes.rssWarmupSeconds} s of warm-up; load ${sizes.loadRequests} requests × ${sizes.loadConcurrency} connections`,
  };
}

function probeRows(p: ProbeCostResult): BenchResults['probe_cost'] {
  const none = p.per_call_ns.none;
  return Object.entries(p.per_call_ns).map(([config, ns]) => {
    const d = p.delivered[config];
    return {
      config,
      ns_per_call: ns,
      min_ns_per_call: p.spread_ns[config]?.min ?? null,
      max_ns_per_call: p.spread_ns[config]?.max ?? null,
      runs: p.spread_ns[config]?.runs ?? null,
      wall_ns_per_call: p.wall_per_call_ns[config] ?? null,
      overhead_ns: typeof ns === 'number' && typeof none === 'number' && config !== 'none' ? ns - none : null,
      events: d?.events ?? null,
      expected_events: d?.expected ?? null,
      drops: d?.drops ?? null,
      note:
        p.crashes[config] ??
        (config.startsWith('empty')
          ? 'cilium peer attaching an empty program at the same sites'
          : config.startsWith('bpftrace')
            ? 'empty probe bodies'
            : ''),
    };
  });
}

export async function runBenchmarks(opts: {
  only?: BenchmarkName[];
  quick?: boolean;
  /** The hands-on room the room benchmark measures (the workshop's startHandsOn, passed by ./lab bench). */
  startRoom?: import('./room.ts').StartRoom;
}): Promise<BenchResults> {
  const sizes = opts.quick ? quickSizes : fullSizes;
  const wanted = (b: BenchmarkName) => !opts.only || opts.only.includes(b);
  const results: BenchResults = {
    ...(await provenance(sizes, opts.quick ?? false)),
    summary: [],
    probe_cost: [],
    ringbuf: [],
    latency: [],
    rss: [],
    load: [],
    probe_service: [],
    timings: [],
  };
  try {
    if (wanted('ringbuf'))
      results.ringbuf = await step('ring buffer → consumer throughput', () =>
        ringbufThroughput({ events: sizes.ringbufEvents, reps: sizes.ringbufReps }),
      );
    if (wanted('probes')) {
      const p = await step('per-call cost of probes on a Go loop', () =>
        probeCost({ calls: sizes.loopCalls, reps: sizes.loopReps, rounds: sizes.loopRounds }),
      );
      results.probe_cost = probeRows(p);
    }
    for (const tracer of ['ours', 'cilium'] as const) {
      if (wanted('latency'))
        results.latency.push(
          await step(`request → event latency (${tracer})`, () => requestToEvent(tracer, sizes.latencyRequests)),
        );
      if (wanted('load'))
        results.load.push(
          await step(`server under load, ret mode (${tracer})`, () =>
            tracedLoad(tracer, { requests: sizes.loadRequests, concurrency: sizes.loadConcurrency, maxMs: 120000 }),
          ),
        );
      if (wanted('rss'))
        results.rss.push(
          await step(
            `tracer RSS over a ${sizes.rssSeconds} s burst after ${sizes.rssWarmupSeconds} s of warm-up (${tracer})`,
            () => tracerRss(tracer, sizes.rssSeconds, sizes.rssWarmupSeconds),
          ),
        );
    }
    if (wanted('lifecycle')) {
      results.lifecycle = await step(
        `open and close ${sizes.lifecycleProbes} probes, ${sizes.lifecycleCycles} open/close cycles (uprobe_multi vs perf-event links)`,
        () => probeLifecycle({ probes: sizes.lifecycleProbes, cycles: sizes.lifecycleCycles }),
      );
      results.stalled_pipe = [
        await step(`run-tracer RSS behind a stalled pipe, ${sizes.stalledPipeSeconds} s of load`, () =>
          stalledPipeRss(sizes.stalledPipeSeconds),
        ),
      ];
    }
    if (wanted('service'))
      results.probe_service = await step('the probe service vs attaching directly (ret mode, Go loop)', () =>
        probeServiceCost({ calls: sizes.loopCalls, reps: sizes.loopReps }),
      );
    if (wanted('room')) {
      const { roomBenches } = await import('./room.ts');
      const startRoom = opts.startRoom;
      if (!startRoom) throw new Error('the room benchmark needs a room to start (runBenchmarks({ startRoom }))');
      const n = process.env.LAB_BENCH_ROOM_SIZES?.split(',').map(Number) ?? sizes.roomAttendees;
      results.room = await step(`hands-on rooms of ${n.join(', ')} attendees running notebooks 03 and 05 at once`, () =>
        roomBenches(startRoom, n),
      );
    }
    if (wanted('site')) results.timings.push(...(await step('site build time, cold and warm', siteBuildTimes)));
    if (wanted('notebooks')) results.timings.push(await step('notebook suite time', notebookSuiteTime));
    if (wanted('start')) {
      results.timings.push(await step('workshop room warm start (./lab start)', warmStartTime));
      // Last: a whole fresh install, minutes long (--quick skips it unless asked for by name).
      if (!opts.quick || opts.only?.includes('start'))
        results.timings.push(await step('workshop room cold start (fresh clone, empty caches)', coldStartTime));
    }
  } finally {
    await closeAllProbes();
  }
  results.summary = summarize(results);
  return results;
}
