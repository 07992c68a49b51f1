/**
 * The probe service's price: the same RET-site probe on engines/goloop's main.work, attached directly
 * and through the probe service (gate + service + JSON lines), run interleaved. Per call: the loop
 * thread's CPU time (the trap is the same; what differs is the tracer's side). Delivery: events/s
 * until the last event arrived, and how long after the loop finished that was.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { openExecutable, type Probe } from '../bpf/ts/index.ts';
import { remoteProbe } from '../bpf/ts/probe-service-client.ts';
import { ProbeService } from '../engines/services/probe-service.ts';
import { goloopBinary } from './build.ts';
import { GoLoop } from './goloop.ts';

export interface ProbeServiceRun {
  transport: 'direct' | 'probe service';
  calls: number;
  /** CPU time per call of the loop thread, probed. */
  cpu_ns_per_call: number;
  events: number;
  drops: number;
  /** Events delivered per second, from the loop's start to the last event in hand. */
  events_per_s: number;
  /** From the loop's end to the last event in hand. */
  drain_ms: number;
}

async function drive(probe: Probe, loop: GoLoop, calls: number): Promise<Omit<ProbeServiceRun, 'transport'>> {
  let events = 0;
  let last = 0;
  const reading = (async () => {
    for await (const batch of probe.batches()) {
      events += batch.filter((e) => e.kind === 'call').length;
      last = performance.now();
      if (events >= calls) return;
    }
  })();
  const start = performance.now();
  const r = await loop.run(calls);
  const loopEnd = performance.now();
  await Promise.race([reading, new Promise((res) => setTimeout(res, 15000))]);
  const drops = probe.drops();
  probe.close();
  if (!r) throw new Error(`goloop died under the probe: ${loop.death()}`);
  return {
    calls,
    cpu_ns_per_call: r.cpu,
    events,
    drops,
    events_per_s: Math.round(events / ((last - start) / 1000)),
    drain_ms: Math.round(Math.max(0, last - loopEnd)),
  };
}

/** Interleaved runs of both transports; each row is the faster of its runs (noise only slows a run down). */
export async function probeServiceCost(opts: { calls: number; reps: number }): Promise<ProbeServiceRun[]> {
  const dir = await mkdtemp(join(tmpdir(), 'lab-bench-service-'));
  const service = new ProbeService(join(dir, 'probe.sock'), { maxProbes: 4, maxEventsPerSecond: 1e9 });
  await service.start();
  await using loop = await GoLoop.start();
  try {
    const exe = await openExecutable(goloopBinary);
    const best = new Map<ProbeServiceRun['transport'], ProbeServiceRun>();
    await loop.run(1000); // warm-up, unprobed
    for (let rep = 0; rep <= opts.reps; rep++) {
      for (const transport of ['direct', 'probe service'] as const) {
        const probe =
          transport === 'direct'
            ? exe.probe('ret', 'main.work', { pid: loop.pid })
            : remoteProbe(service.publicSocket, 'ret', 'main.work', { pid: loop.pid });
        if ('ready' in probe) await (probe as { ready: Promise<void> }).ready;
        const run = { transport, ...(await drive(probe, loop, opts.calls)) };
        if (rep === 0) continue; // the first round lets V8 compile both readers
        const prev = best.get(transport);
        if (!prev || run.cpu_ns_per_call < prev.cpu_ns_per_call) best.set(transport, run);
      }
    }
    return [...best.values()];
  } finally {
    await service.stop();
    await rm(dir, { recursive: true, force: true });
  }
}
