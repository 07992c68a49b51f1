/**
 * What a probe costs per call of a tight Go loop (bench/goloop, main.work //go:noinline): no probe,
 * our uprobe / uretprobe / ret mode, the cilium/ebpf peer, the same probe sites with an empty
 * program, and bpftrace's empty uprobe / uretprobe. Each cell is the median of `reps` runs.
 */
import type { ProbeKind } from '../bpf/ts/index.ts';
import { say } from '../cli/ui.ts';
import { goloopBinary } from './build.ts';
import { median } from './child.ts';
import { GoLoop } from './goloop.ts';
import { attach, eventsPerCall, type TracerName } from './tracers.ts';

export interface ProbeCostResult {
  calls: number;
  reps: number;
  /** "none", "ours uprobe", "bpftrace uretprobe", "empty ret", … → ns per call, or "crashed". */
  per_call_ns: Record<string, number | 'crashed'>;
  /** For tracers that deliver events: what arrived vs what the calls should have produced. */
  delivered: Record<string, { events: number; drops: number; expected: number }>;
  /** How the loop died under a configuration that crashed it. */
  crashes: Record<string, string>;
}

export const probeConfigs: [TracerName, ProbeKind][] = [
  ['ours', 'uprobe'],
  ['ours', 'ret'],
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

export async function probeCost(opts: { calls: number; reps: number; only?: string[] }): Promise<ProbeCostResult> {
  const result: ProbeCostResult = { calls: opts.calls, reps: opts.reps, per_call_ns: {}, delivered: {}, crashes: {} };
  let loop = await GoLoop.start();
  try {
    const measure = async (): Promise<number | 'crashed'> => {
      if ((await loop.run(Math.min(1000, opts.calls))) === undefined) return 'crashed'; // warm-up
      const runs: number[] = [];
      for (let i = 0; i < opts.reps; i++) {
        const ns = await loop.run(opts.calls);
        if (ns === undefined) return 'crashed';
        runs.push(ns);
      }
      return median(runs);
    };
    result.per_call_ns.none = await measure();
    say(`  no probe: ${fmt(result.per_call_ns.none)} per call`);
    for (const [tracer, mode] of probeConfigs) {
      const name = `${tracer} ${mode}`;
      if (opts.only && !opts.only.some((o) => name.includes(o))) continue;
      if (!loop.alive()) loop = await GoLoop.start();
      const attached = await attach(tracer, mode, { binary: goloopBinary, pid: loop.pid, symbol: 'main.work' });
      let cell: number | 'crashed';
      try {
        cell = await measure();
      } finally {
        await attached.close();
      }
      result.per_call_ns[name] = cell;
      if (cell === 'crashed') {
        result.crashes[name] = loop.death();
        await loop.stop();
      } else if (tracer === 'ours' || tracer === 'cilium') {
        const hits = Math.min(1000, opts.calls) + opts.reps * opts.calls;
        result.delivered[name] = { events: attached.events(), drops: attached.drops(), expected: hits * eventsPerCall[mode] };
      }
      say(`  ${name}: ${fmt(cell)} per call${result.delivered[name] ? ` (${result.delivered[name].events}/${result.delivered[name].expected} events, ${result.delivered[name].drops} dropped)` : ''}`);
    }
  } finally {
    await loop.stop();
  }
  return result;
}

const fmt = (v: number | 'crashed') => (v === 'crashed' ? 'crashed' : `${v.toFixed(1)} ns`);
