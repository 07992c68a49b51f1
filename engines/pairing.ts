/**
 * Thread key vs goroutine key. Ret mode pairs each RET with its entry by
 * goroutine; many tracers written for C key pending entries by thread id.
 * Replaying the same calls through a thread-keyed table shows what that key
 * gets wrong when goroutines move between OS threads.
 */
import type { TraceEvent } from '../bpf/ts/index.ts';
import { ManagedServer } from './managed-server.ts';
import { openExecutable } from '../bpf/ts/index.ts';

export interface KeyScore {
  /** Returns matched with their own entry. */
  right: number;
  /** Returns matched with another call's entry: wrong arguments, wrong latency. */
  wrong: number;
  /** Returns with no entry under their key: the call is lost. */
  unpaired: number;
}

export interface PairingComparison {
  calls: number;
  /** Calls whose return ran on another thread than their entry. */
  movedThreads: number;
  threadKey: KeyScore;
  goroutineKey: KeyScore;
}

type Edge = { t: number; kind: 'entry' | 'return'; call: number; thread: number; goroutine: string };

/** Replays completed calls (ret mode 'call' events) through a table keyed by `key`, as a tracer would. */
function replay(edges: Edge[], key: (e: Edge) => string): KeyScore {
  const pending = new Map<string, number>();
  const score: KeyScore = { right: 0, wrong: 0, unpaired: 0 };
  for (const e of edges) {
    if (e.kind === 'entry') {
      pending.set(key(e), e.call); // a newer entry on the same key replaces the older one
      continue;
    }
    const call = pending.get(key(e));
    if (call === undefined) score.unpaired++;
    else if (call === e.call) score.right++;
    else score.wrong++;
    pending.delete(key(e));
  }
  return score;
}

export function comparePairing(calls: TraceEvent[]): PairingComparison {
  const done = calls.filter((c) => c.kind === 'call' && c.latency_ns !== null);
  const edges: Edge[] = done.flatMap((c, call) => [
    { t: c.ts_ns - c.latency_ns!, kind: 'entry' as const, call, thread: c.entry_tid ?? c.tid, goroutine: c.goroutine },
    { t: c.ts_ns, kind: 'return' as const, call, thread: c.tid, goroutine: c.goroutine },
  ]);
  edges.sort((a, b) => a.t - b.t || (a.kind === 'entry' ? -1 : 1));
  return {
    calls: done.length,
    movedThreads: done.filter((c) => c.entry_tid !== undefined && c.entry_tid !== c.tid).length,
    threadKey: replay(edges, (e) => `t${e.thread}`),
    goroutineKey: replay(edges, (e) => `g${e.goroutine}`),
  };
}

/**
 * Sends `requests` concurrent requests to `path` on a fresh server traced in ret mode on `symbol`,
 * and compares the two keys on the calls it saw.
 */
export async function measurePairing(
  opts: { binary?: string; symbol?: string; path?: string; requests?: number } = {},
): Promise<PairingComparison> {
  const { symbol = 'main.hopThreads', path = '/hop?arg=5', requests = 20 } = opts;
  await using server = await ManagedServer.start({ binary: opts.binary });
  const exe = await openExecutable(server.binary);
  const probe = exe.returnProbes(symbol, { pid: server.pid });
  const events: TraceEvent[] = [];
  const reading = (async () => {
    for await (const e of probe) events.push(e);
  })();
  try {
    await Promise.all(Array.from({ length: requests }, () => server.get(path)));
    await new Promise((r) => setTimeout(r, 50));
  } finally {
    probe.close();
    await reading;
  }
  return comparePairing(events);
}

export function renderPairingText(p: PairingComparison): string {
  const row = (name: string, s: KeyScore) =>
    `  ${name.padEnd(16)} ${String(s.right).padStart(5)} ${String(s.wrong).padStart(6)} ${String(s.unpaired).padStart(9)}`;
  return [
    `${p.calls} completed calls; ${p.movedThreads} returned on another OS thread than they entered on`,
    `  ${'pending key'.padEnd(16)} ${'right'.padStart(5)} ${'wrong'.padStart(6)} ${'unpaired'.padStart(9)}`,
    row('thread id', p.threadKey),
    row('goroutine (r14)', p.goroutineKey),
  ].join('\n');
}
