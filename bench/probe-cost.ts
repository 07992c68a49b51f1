/**
 * What a probe costs per call of a tight Go loop (engines/goloop, main.work //go:noinline): no probe,
 * our uprobe / uretprobe / ret mode, the cilium/ebpf peer, the same probe sites with an empty
 * program, and bpftrace's empty uprobe / uretprobe. Each cell is the median of its runs over every
 * round, with the fastest and the slowest run as its spread: the one method of engines/overhead.ts
 * (measureOverhead), which notebook 07 runs live, so the page, the README and the notebook agree.
 * Rounds interleave the configurations, so a neighbour's load on this shared machine spreads over all.
 */
import type { ProbeKind } from '../bpf/ts/index.ts';
import { say } from '../core/ui.ts';
import { goloopBinary } from './build.ts';
import { GoLoop } from './goloop.ts';
import { attach, eventsPerCall, type TracerName } from './tracers.ts';
import { median } from '../engines/overhead.ts';

export interface ProbeCostResult {
  calls: number;
  reps: number;
  /**
   * "none", "ours uprobe", "bpftrace uretprobe", "empty ret", … → ns per call of the loop thread's CPU
   * time (user + kernel, where the traps and BPF programs run), or "crashed".
   */
  per_call_ns: Record<string, number | 'crashed'>;
  /** Fastest and slowest run (CPU ns per call) of each configuration, and how many runs the median is of. */
  spread_ns: Record<string, { min: number; max: number; runs: number }>;
  /** The same in wall-clock time (includes time other processes on this shared machine had the CPU). */
  wall_per_call_ns: Record<string, number>;
  /** For tracers that deliver events: what arrived vs what the calls should have produced. */
  delivered: Record<string, { events: number; drops: number; expected: number }>;
  /** How the loop died under a configuration that crashed it. */
  crashes: Record<string, string>;
}

export const probeConfigs: [TracerName, ProbeKind][] = [
  ['ours', 'uprobe'],
  ['ours', 'ret'],
  ['typed', 'ret'],
  ['empty', 'uprobe'],
  ['empty', 'ret'],
  ['cilium', 'uprobe'],
  ['cilium', 'ret'],
  ['bpftrace', 'uprobe'],
  // uretprobes last: they may kill the Go loop (then it is restarted)
  ['ours', 'uretprobe'],
  ['cilium', 'uretprobe'],
  ['bpftrace', 'uretprobe'],
];

export async function probeCost(opts: {
  calls: number;
  reps: number;
  rounds?: number;
  only?: string[];
}): Promise<ProbeCostResult> {
  const result: ProbeCostResult = {
    calls: opts.calls,
    reps: opts.reps,
    per_call_ns: {},
    spread_ns: {},
    wall_per_call_ns: {},
    delivered: {},
    crashes: {},
  };
  const warmup = Math.min(1000, opts.calls);
  const samples = new Map<string, number[]>();
  const wallSamples = new Map<string, number[]>();
  const add = (name: string, cell: { wall: number; cpu: number }) => {
    samples.set(name, [...(samples.get(name) ?? []), cell.cpu]);
    wallSamples.set(name, [...(wallSamples.get(name) ?? []), cell.wall]);
  };
  let loop = await GoLoop.start();
  try {
    const measure = async (): Promise<{ wall: number; cpu: number }[] | 'crashed'> => {
      if ((await loop.run(warmup)) === undefined) return 'crashed';
      const runs: { wall: number; cpu: number }[] = [];
      for (let i = 0; i < opts.reps; i++) {
        const ns = await loop.run(opts.calls);
        if (ns === undefined) return 'crashed';
        runs.push(ns);
      }
      return runs;
    };
    const configs = probeConfigs.filter(
      ([tracer, mode]) => !opts.only || opts.only.some((o) => `${tracer} ${mode}`.includes(o)),
    );
    // Rounds over every configuration, so a neighbour's load on this shared machine spreads over all of them.
    for (let round = 0; round < (opts.rounds ?? 1); round++) {
      const none = await measure();
      if (none !== 'crashed') for (const r of none) add('none', r);
      for (const [tracer, mode] of configs) {
        const name = `${tracer} ${mode}`;
        if (result.per_call_ns[name] === 'crashed') continue;
        if (!loop.alive()) loop = await GoLoop.start();
        const attached = await attach(tracer, mode, { binary: goloopBinary, pid: loop.pid, symbol: 'main.work' });
        let cell: { wall: number; cpu: number }[] | 'crashed';
        try {
          cell = await measure();
        } finally {
          await attached.close();
        }
        if (cell === 'crashed') {
          result.per_call_ns[name] = 'crashed';
          result.crashes[name] = loop.death();
          await loop.stop();
          say(`  ${name}: crashed the Go loop (${result.crashes[name]})`);
          continue;
        }
        for (const r of cell) add(name, r);
        if (tracer === 'ours' || tracer === 'typed' || tracer === 'cilium') {
          const d = (result.delivered[name] ??= { events: 0, drops: 0, expected: 0 });
          d.events += attached.events();
          d.drops += attached.drops();
          d.expected += (warmup + opts.reps * opts.calls) * eventsPerCall[mode];
        }
        const d = result.delivered[name];
        say(
          `  ${name}: ${fmt(cell)} per call${d ? ` (${d.events}/${d.expected} events so far, ${d.drops} dropped)` : ''}`,
        );
      }
    }
  } finally {
    await loop.stop();
  }
  for (const [name, xs] of samples)
    if (result.per_call_ns[name] !== 'crashed') {
      result.per_call_ns[name] = median(xs);
      result.spread_ns[name] = { min: Math.min(...xs), max: Math.max(...xs), runs: xs.length };
    }
  for (const [name, xs] of wallSamples)
    if (result.per_call_ns[name] !== 'crashed') result.wall_per_call_ns[name] = median(xs);
  return result;
}

const fmt = (v: { wall: number; cpu: number }[] | 'crashed') =>
  v === 'crashed'
    ? 'crashed'
    : `${median(v.map((r) => r.cpu)).toFixed(1)} ns CPU (${median(v.map((r) => r.wall)).toFixed(1)} ns wall), median of ${v.length} runs`;
