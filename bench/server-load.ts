/**
 * The Go server under a loopback load generator (keep-alive fetch, bounded count and time) while a
 * tracer follows main.demo in ret mode: every request must come back as one 'call' event or be
 * counted as dropped. Also request → event latency and the tracer's memory over a burst.
 */
import { copyFileSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { ManagedServer } from '../engines/managed-server.ts';
import { at, serverBinary } from '../core/paths.ts';
import { peerArgs } from '../engines/tracing/cilium.ts';
import { peerBinary } from '../bpf/cilium/build.ts';
import { attach } from './tracers.ts';
import { percentile, rssOf, sleep, startChild, type Child } from './child.ts';

/** A private copy of the server binary: probes on it never touch anyone else's server. */
export function privateServerBinary(): { binary: string; [Symbol.dispose](): void } {
  const dir = mkdtempSync(join(tmpdir(), 'lab-bench-'));
  const binary = join(dir, 'server');
  copyFileSync(serverBinary, binary);
  return { binary, [Symbol.dispose]: () => rmSync(dir, { recursive: true, force: true }) };
}

/** demo's argument for request i: small (no deep recursion), varied so calls can be matched to requests. */
export const argFor = (i: number) => (i % 50) + 1;

export interface LoadRun {
  requests: number;
  ok: number;
  failed: number;
  ms: number;
}

/** Sends `requests` GETs /?arg=… over keep-alive connections, `concurrency` at a time, stopping at `maxMs`. */
export async function generateLoad(
  url: string,
  opts: { requests: number; concurrency: number; maxMs?: number; path?: (i: number) => string },
): Promise<LoadRun> {
  const path = opts.path ?? ((i: number) => `/?arg=${argFor(i)}`);
  const started = performance.now();
  let next = 0;
  let ok = 0;
  let failed = 0;
  const worker = async () => {
    while (next < opts.requests && (opts.maxMs === undefined || performance.now() - started < opts.maxMs)) {
      const i = next++;
      try {
        const res = await fetch(new URL(path(i), url), { signal: AbortSignal.timeout(20000) });
        await res.arrayBuffer();
        if (res.status === 200) ok++;
        else failed++;
      } catch {
        failed++;
      }
    }
  };
  await Promise.all(Array.from({ length: opts.concurrency }, worker));
  return { requests: next, ok, failed, ms: performance.now() - started };
}

export interface TracedLoad {
  tracer: 'ours' | 'cilium';
  requests: number;
  concurrency: number;
  ok: number;
  failed: number;
  calls: number;
  drops: number;
  /** requests == calls + drops, and the calls' arguments are exactly the requests' (when none dropped). */
  accounted: boolean;
  args_match: boolean;
  req_per_s: number;
  untraced_req_per_s: number;
  server_alive: boolean;
}

export async function tracedLoad(
  tracer: 'ours' | 'cilium',
  opts: { requests: number; concurrency: number; maxMs?: number },
): Promise<TracedLoad> {
  await using srv = await ManagedServer.start({ privateCopy: 'lab-bench-' });
  // Warm-up: the client's JIT and the server's heap and connections take a few thousand requests to settle.
  await generateLoad(srv.url, opts);
  const untraced = await generateLoad(srv.url, opts);
  const attached = await attach(
    tracer,
    'ret',
    { binary: srv.binary, pid: srv.pid, symbol: 'main.demo' },
    { keep: true },
  );
  let load: LoadRun;
  try {
    load = await generateLoad(srv.url, opts);
  } finally {
    await attached.close();
  }
  const want = new Map<number, number>();
  for (let i = 0; i < load.requests; i++) want.set(argFor(i), (want.get(argFor(i)) ?? 0) + 1);
  const got = new Map<number, number>();
  for (const e of attached.kept)
    if (e.kind === 'call') got.set(Number(e.args[0]), (got.get(Number(e.args[0])) ?? 0) + 1);
  const calls = attached.kept.filter((e) => e.kind === 'call').length;
  const argsMatch = [...want].every(([a, n]) => got.get(a) === n) && got.size === want.size;
  return {
    tracer,
    requests: load.requests,
    concurrency: opts.concurrency,
    ok: load.ok,
    failed: load.failed,
    calls,
    drops: attached.drops(),
    accounted: load.failed === 0 && calls + attached.drops() === load.requests,
    args_match: argsMatch,
    req_per_s: (load.requests * 1000) / load.ms,
    untraced_req_per_s: (untraced.requests * 1000) / untraced.ms,
    server_alive: srv.alive,
  };
}

export interface LatencyRun {
  tracer: 'ours' | 'cilium';
  requests: number;
  p50_ms: number;
  p99_ms: number;
  max_ms: number;
}

/** One request at a time: from sending it to the moment its 'call' event reaches this process. */
export async function requestToEvent(tracer: 'ours' | 'cilium', requests: number): Promise<LatencyRun> {
  await using srv = await ManagedServer.start({ privateCopy: 'lab-bench-' });
  let arrived: (() => void) | undefined;
  const attached = await attach(
    tracer,
    'ret',
    { binary: srv.binary, pid: srv.pid, symbol: 'main.demo' },
    { onEvent: () => arrived?.() },
  );
  const latencies: number[] = [];
  try {
    for (let i = 0; i < requests; i++) {
      const event = new Promise<void>((resolve) => (arrived = resolve));
      const t0 = performance.now();
      const reply = fetch(new URL(`/?arg=${argFor(i)}`, srv.url)).then((r) => r.arrayBuffer());
      await Promise.race([event, sleep(5000)]);
      latencies.push(performance.now() - t0);
      await reply;
      arrived = undefined;
    }
  } finally {
    await attached.close();
  }
  latencies.sort((a, b) => a - b);
  return {
    tracer,
    requests,
    p50_ms: percentile(latencies, 50),
    p99_ms: percentile(latencies, 99),
    max_ms: latencies[latencies.length - 1],
  };
}

export interface RssRun {
  tracer: 'ours' | 'cilium';
  process: string;
  seconds: number;
  /** The same load first, for warmupSeconds: the heap sizes itself to it. */
  warmup_seconds: number;
  requests: number;
  events: number;
  /** Before the warm-up, just attached. */
  attached_mb: number;
  /** Highest RSS during the warm-up, above attached_mb. */
  warmup_rise_mb: number;
  /** After the warm-up: what the burst is compared with. */
  baseline_mb: number;
  peak_mb: number;
  growth_mb: number;
  /** RSS above the baseline every 5 s of the burst. */
  timeline_mb: number[];
}

/**
 * The tracer as users run it — `./lab run-tracer --mode ret --json` (ours, a Node process) and the
 * cilium peer — under load: first `warmupSeconds` of it (V8 grows its young generation to the
 * allocation rate, Go its heap), then `seconds` more, resident memory sampled against the level
 * after the warm-up. A leak grows through the burst; heap sizing happens in the warm-up.
 */
export async function tracerRss(tracer: 'ours' | 'cilium', seconds: number, warmupSeconds: number): Promise<RssRun> {
  await using srv = await ManagedServer.start({ privateCopy: 'lab-bench-' });
  let events = 0;
  const req = { mode: 'ret' as const, symbol: 'main.demo', binary: srv.binary, pid: srv.pid, args: 1, rets: 1 };
  const onLine = (l: string) => void (l.startsWith('{') && events++);
  const child: Child =
    tracer === 'ours'
      ? await startChild(
          at('lab'),
          ['run-tracer', '--mode', 'ret', '--json', '--binary', srv.binary, '--pid', String(srv.pid)],
          { ready: /attached ret/, readyTimeoutMs: 120000, keepLines: false, onLine },
        )
      : await startChild(peerBinary, await peerArgs(req), { ready: /attached /, keepLines: false, onLine });
  try {
    const mb = (b: number) => b / (1024 * 1024);
    const attached = rssOf(child.pid);
    let warmPeak = attached;
    const warmSampler = setInterval(() => (warmPeak = Math.max(warmPeak, rssOf(child.pid))), 250);
    await generateLoad(srv.url, { requests: Number.MAX_SAFE_INTEGER, concurrency: 8, maxMs: warmupSeconds * 1000 });
    clearInterval(warmSampler);
    await sleep(500);
    const baseline = rssOf(child.pid);
    let peak = baseline;
    const timeline: number[] = [];
    let ticks = 0;
    const sampler = setInterval(() => {
      const now = rssOf(child.pid);
      peak = Math.max(peak, now);
      if (++ticks % 20 === 0) timeline.push(Number(mb(now - baseline).toFixed(1)));
    }, 250);
    const load = await generateLoad(srv.url, {
      requests: Number.MAX_SAFE_INTEGER,
      concurrency: 8,
      maxMs: seconds * 1000,
    });
    await sleep(500);
    clearInterval(sampler);
    peak = Math.max(peak, rssOf(child.pid));
    return {
      tracer,
      process: tracer === 'ours' ? './lab run-tracer (node)' : 'cilium-tracer (go)',
      seconds,
      warmup_seconds: warmupSeconds,
      requests: load.requests,
      events,
      attached_mb: mb(attached),
      warmup_rise_mb: mb(warmPeak - attached),
      baseline_mb: mb(baseline),
      peak_mb: mb(peak),
      growth_mb: mb(peak - baseline),
      timeline_mb: timeline,
    };
  } finally {
    await child.stop('SIGTERM');
  }
}
