/**
 * Tracing back-ends: the lab's addon and the cilium/ebpf peer answer the same request with the
 * same TraceEvents. The caller builds what an engine needs first (only the CLI starts a build).
 */
import { say } from '../../core/ui.ts';

import type { TraceRequest, TraceSession } from './types.ts';
export type { TraceRequest, TraceSession };

/** Tracing back-ends by --engine name; each yields the same TraceEvents. */
export const tracerEngines: Record<string, (req: TraceRequest) => Promise<TraceSession>> = {
  async addon(req) {
    const { openExecutable, probeKinds } = await import('../../bpf/ts/index.ts');
    const exe = await openExecutable(req.binary);
    if (probeKinds[req.mode].returns === 'ret-sites')
      for (const w of exe.retSites(req.symbol).warnings) say(`warning: ${w}`);
    const probe = exe.probe(req.mode, req.symbol, {
      pid: req.pid,
      args: req.args,
      rets: req.rets,
      stringArg: req.stringArg,
      queueLimit: req.queueLimit,
      valueBytes: req.valueBytes,
    });
    return {
      events: probe,
      drops: () => probe.dropCounts(),
      close: async () => {
        probe.close();
        await probe.detached;
      },
    };
  },
  cilium: async (req) => (await import('./cilium.ts')).ciliumEngine(req),
};
