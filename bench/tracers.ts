/**
 * Every tracer the benchmarks compare, attached the same way to one process: ours (the tracer
 * API, events decoded in this process), the cilium/ebpf peer (and its empty-program baseline)
 * and bpftrace. Each counts what it delivered so no event goes missing unnoticed.
 */
import { openExecutable, probeKindNames, probeKinds, type ProbeKind, type TraceEvent } from '../bpf/ts/index.ts';
import { peerArgs } from '../engines/tracing/cilium.ts';
import { peerBinary } from '../bpf/cilium/build.ts';
import { sleep, startChild, type Child } from './child.ts';

/** ours: raw registers (args/rets set); typed: the same programs reading the function's typed values from DWARF. */
export type TracerName = 'ours' | 'typed' | 'cilium' | 'empty' | 'bpftrace';

export interface Target {
  binary: string;
  pid: number;
  symbol: string;
  args?: number;
  rets?: number;
}

export interface Attached {
  /** Events delivered so far (for bpftrace, which prints none: 0). */
  events(): number;
  /** Events the kernel or the consumer had to drop. */
  drops(): number;
  /** Detaches; afterwards events() and drops() are final. */
  close(): Promise<void>;
  /** Every delivered event, when asked to keep them. */
  kept: TraceEvent[];
}

/** Events one call produces in each mode (uretprobe: entry + return; ret: one 'call'). */
export const eventsPerCall = Object.fromEntries(probeKindNames.map((k) => [k, probeKinds[k].eventsPerCall])) as Record<
  ProbeKind,
  number
>;

export interface AttachOptions {
  /** Keep every event in `kept`. */
  keep?: boolean;
  /** Called as each event reaches this process. */
  onEvent?: (e: TraceEvent) => void;
}

export async function attach(
  tracer: TracerName,
  mode: ProbeKind,
  t: Target,
  opts: AttachOptions = {},
): Promise<Attached> {
  switch (tracer) {
    case 'ours':
    case 'typed':
      return attachOurs(mode, t, opts, tracer === 'typed');
    case 'cilium':
    case 'empty':
      return attachPeer(mode, t, tracer === 'empty', opts);
    case 'bpftrace':
      return attachBpftrace(mode, t);
  }
}

async function attachOurs(
  mode: ProbeKind,
  t: Target,
  { keep, onEvent }: AttachOptions,
  typed = false,
): Promise<Attached> {
  const exe = await openExecutable(t.binary);
  const o = typed ? { pid: t.pid } : { pid: t.pid, args: t.args ?? 1, rets: t.rets ?? 1 };
  const probe = exe.probe(mode, t.symbol, o);
  let count = 0;
  const kept: TraceEvent[] = [];
  const reading = (async () => {
    for await (const e of probe) {
      if (e.kind === 'exit') continue;
      count++;
      onEvent?.(e);
      if (keep) kept.push(e);
    }
  })();
  let finalDrops: number | undefined;
  return {
    events: () => count,
    drops: () => finalDrops ?? probe.drops(),
    kept,
    async close() {
      probe.close();
      await reading;
      await probe.detached;
      finalDrops = probe.drops();
    },
  };
}

async function attachPeer(
  mode: ProbeKind,
  t: Target,
  empty: boolean,
  { keep, onEvent }: AttachOptions,
): Promise<Attached> {
  const args = await peerArgs({
    mode,
    symbol: t.symbol,
    binary: t.binary,
    pid: t.pid,
    args: t.args ?? 1,
    rets: t.rets ?? 1,
  });
  let count = 0;
  const kept: TraceEvent[] = [];
  const peer: Child = await startChild(peerBinary, empty ? [...args, '-empty'] : args, {
    ready: /attached /,
    keepLines: false,
    onLine: (line) => {
      if (!line.startsWith('{') || line.includes('"kind":"exit"')) return;
      count++;
      if (keep || onEvent) {
        const e = JSON.parse(line) as TraceEvent;
        onEvent?.(e);
        if (keep) kept.push(e);
      }
    },
  });
  const dropped = () => Number(/dropped (\d+) events/.exec(peer.stderr())?.[1] ?? 0);
  return {
    events: () => count,
    drops: dropped,
    kept,
    async close() {
      await peer.stop('SIGTERM'); // the peer reports its drops as it exits
    },
  };
}

async function attachBpftrace(mode: ProbeKind, t: Target): Promise<Attached> {
  const { returns } = probeKinds[mode];
  if (returns === 'ret-sites') throw new Error(`bpftrace has no ${mode} mode here`);
  const probes = [`uprobe:${t.binary}:${t.symbol} {}`];
  if (returns === 'uretprobe') probes.push(`uretprobe:${t.binary}:${t.symbol} {}`);
  const bt = await startChild('bpftrace', ['-p', String(t.pid), '-e', probes.join(' ')], {
    ready: /Attaching \d+ probe/,
    readyTimeoutMs: 60000,
  });
  await sleep(1000); // it says "Attaching" before it has attached
  return {
    events: () => 0,
    drops: () => 0,
    kept: [],
    async close() {
      await bt.stop('SIGINT');
    },
  };
}
