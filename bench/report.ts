/** The benchmarks' one table of ratios: for the terminal, bench/results.json and the README. */
import type { RingbufRun } from './ringbuf.ts';
import type { LatencyRun, RssRun, TracedLoad } from './server-load.ts';
import type { Timing } from './external.ts';
import type { ProbeServiceRun } from './probe-service.ts';
import type { LifecycleRun, StalledPipeRun } from './lifecycle.ts';
import { alignTables } from '../model/markdown-table.ts';
import type { RoomRun } from './room.ts';
import { roomSection, roomSummaryRows } from './room-report.ts';
import type { SummaryRow } from './summary-row.ts';

export interface BenchResults {
  date: string;
  kernel: string;
  machine: string;
  nproc: number;
  memory_gb: number;
  go_version: string;
  node_version: string;
  bpftrace_version: string;
  load_average_at_start: string;
  sizes: string;
  summary: SummaryRow[];
  probe_cost: {
    config: string;
    /** CPU ns per call of the loop thread: the median of the runs (results before it kept the fastest run). */
    ns_per_call: number | 'crashed';
    /** The fastest and the slowest run, and how many runs; absent in results recorded before them. */
    min_ns_per_call?: number | null;
    max_ns_per_call?: number | null;
    runs?: number | null;
    wall_ns_per_call: number | null;
    overhead_ns: number | null;
    events: number | null;
    expected_events: number | null;
    drops: number | null;
    note: string;
  }[];
  ringbuf: RingbufRun[];
  latency: LatencyRun[];
  rss: RssRun[];
  /** Hands-on attendees' path (probe-gate + service) beside a direct attach; absent in results recorded before it existed. */
  probe_service?: ProbeServiceRun[];
  load: TracedLoad[];
  /** Opening and closing many probes, by link kind; absent in results recorded before it existed. */
  lifecycle?: LifecycleRun[];
  /** run-tracer behind a pipe nobody reads; absent in results recorded before it existed. */
  stalled_pipe?: StalledPipeRun[];
  /** The hands-on room with N attendees at once (bench/room.ts); absent in results recorded before it existed. */
  room?: RoomRun[];
  timings: Timing[];
  /** Benchmarks re-run later by ./lab bench --only … --merge, with when. */
  merged?: { benchmarks: string[]; date: string; kernel: string; load_average_at_start: string }[];
}

/** A partial run's tables replace the full run's (timings by what they time); the summary is recomputed. */
export function mergeResults(full: BenchResults, partial: BenchResults, benchmarks: string[]): BenchResults {
  const out: BenchResults = { ...full };
  const tables = [
    'probe_cost',
    'ringbuf',
    'latency',
    'rss',
    'probe_service',
    'load',
    'lifecycle',
    'stalled_pipe',
    'room',
  ] as const;
  for (const t of tables) {
    const rows = partial[t];
    if (Array.isArray(rows) && rows.length) (out as unknown as Record<string, unknown>)[t] = rows;
  }
  const redone = new Set(partial.timings.map((x) => x.what));
  out.timings = [...full.timings.filter((x) => !redone.has(x.what)), ...partial.timings];
  out.merged = [
    ...(full.merged ?? []),
    { benchmarks, date: partial.date, kernel: partial.kernel, load_average_at_start: partial.load_average_at_start },
  ];
  out.summary = summarize(out);
  return out;
}

export type { SummaryRow };

const perSecond = (x: number) => `${(x / 1e6).toFixed(2)} M/s`;
const duration = (x: number) => (x >= 1000 ? `${(x / 1000).toFixed(2)} µs` : `${x.toFixed(1)} ns`);
const millis = (x: number) => `${x.toFixed(1)} ms`;
const megabytes = (x: number) => `${x.toFixed(1)} MB`;

/** A row that misses its target: shown as a failure, and ./lab bench exits non-zero for it. */
export const MISSED = '✗ no';
const verdict = (ok: boolean) => (ok ? 'yes' : MISSED);

/** The rows that missed their targets. */
export const missedTargets = (rows: SummaryRow[]): SummaryRow[] => rows.filter((row) => row.meets === MISSED);
const ratio = (a: number | undefined, b: number | undefined) =>
  a !== undefined && b !== undefined && b !== 0 ? Number((a / b).toPrecision(3)) : null;

export function summarize(r: BenchResults): SummaryRow[] {
  const rows: SummaryRow[] = [];
  const rb = (consumer: string, policy: string) =>
    r.ringbuf.find((x) => x.consumer === consumer && x.policy === policy);
  const c = rb('c', 'lab');
  // Raw events (a probe opened with register counts) must keep up with C; typed ones decode what the consumer reads.
  const apis = [
    ['js-batches', 'JS TraceEvents of a raw probe, probe.batches()', '≥ 1.0× C, 0 drops'],
    ['js', 'JS TraceEvents of a raw probe, for await, one event at a time', '≥ 0.70× C, 0 drops'],
    ['js-typed', 'typed events, values decoded as the consumer reads them, probe.batches()', '≥ 2 M/s, 0 drops'],
  ] as const;
  for (const [consumer, what, target] of apis) {
    const js = rb(consumer, 'lab');
    if (!js || !c) continue;
    // Judged on the unrounded ratio: 0.996 shows as 1× but misses ≥ 1.0×.
    const exact = js.events_per_s / c.events_per_s;
    const fast = consumer === 'js-typed' ? js.events_per_s >= 2e6 : exact >= (consumer === 'js' ? 0.7 : 1.0);
    rows.push({
      benchmark: `ring buffer → ${what} (vs plain C libbpf consumer)`,
      ours: `${perSecond(js.events_per_s)}, ${js.drops} drops`,
      reference: perSecond(c.events_per_s),
      ratio: ratio(js.events_per_s, c.events_per_s),
      target,
      meets: verdict(fast && js.drops === 0 && js.received === js.sent),
    });
    rows.push({
      benchmark: `consumer CPU per event, ${what} (vs plain C)`,
      ours: `${duration(js.consumer_cpu_ns_per_event)}/event`,
      reference: `${duration(c.consumer_cpu_ns_per_event)}/event`,
      ratio: ratio(js.consumer_cpu_ns_per_event, c.consumer_cpu_ns_per_event),
      target: '—',
      meets: '—',
    });
  }
  const cil = rb('cilium', 'lab');
  if (cil && c)
    rows.push({
      benchmark: 'ring buffer → cilium/ebpf ringbuf.Reader (vs plain C)',
      ours: `${perSecond(cil.events_per_s)}, ${cil.drops} drops`,
      reference: perSecond(c.events_per_s),
      ratio: ratio(cil.events_per_s, c.events_per_s),
      target: '—',
      meets: '—',
    });
  const ck = rb('c', 'kernel');
  if (c && ck)
    rows.push({
      benchmark: "plain C consumer: lab_submit's wake-ups (vs the kernel's default)",
      ours: perSecond(c.events_per_s),
      reference: perSecond(ck.events_per_s),
      ratio: ratio(c.events_per_s, ck.events_per_s),
      target: '—',
      meets: '—',
    });

  const cost = new Map(r.probe_cost.map((p) => [p.config, p]));
  const over = (cfg: string) => {
    const p = cost.get(cfg);
    return p && typeof p.overhead_ns === 'number' ? p.overhead_ns : undefined;
  };
  const cell = (cfg: string) => {
    const p = cost.get(cfg);
    if (!p) return 'not measured';
    return p.ns_per_call === 'crashed' ? 'crashed' : `+${duration(p.overhead_ns ?? 0)}/call`;
  };
  if (cost.has('ours uprobe') && cost.has('bpftrace uprobe')) {
    rows.push({
      benchmark: 'per-hit cost: our entry program (vs bpftrace empty uprobe)',
      ours: cell('ours uprobe'),
      reference: cell('bpftrace uprobe'),
      ratio: ratio(over('ours uprobe'), over('bpftrace uprobe')),
      target: '—',
      meets: '—',
    });
  }
  for (const mode of ['uretprobe', 'ret'] as const) {
    const ref = mode === 'ret' ? 'cilium ret' : 'bpftrace uretprobe';
    if (!cost.has(`ours ${mode}`)) continue;
    rows.push({
      benchmark: `overhead per call, ${mode} (vs ${ref})`,
      ours: cell(`ours ${mode}`),
      reference: cell(ref),
      ratio: ratio(over(`ours ${mode}`), over(ref)),
      target: '—',
      meets: '—',
    });
  }
  if (cost.has('ours ret') && cost.has('empty ret')) {
    const shown = ratio(over('ours ret'), over('empty ret'));
    // Judged on the unrounded ratio: 1.0547 shows as 1.05× but misses ≤ 1.05×.
    const exact = (over('ours ret') ?? NaN) / (over('empty ret') ?? NaN);
    rows.push({
      benchmark: 'full ret-mode pipeline per call (vs the same probes, empty programs)',
      ours: cell('ours ret'),
      reference: cell('empty ret'),
      ratio: shown,
      target: '≤ 1.05×',
      meets: shown === null ? '—' : verdict(exact <= 1.05),
    });
    const own = (over('ours ret') ?? 0) - (over('empty ret') ?? 0);
    rows.push({
      benchmark: "ret mode: our programs' own cost per call (ours − empty programs)",
      ours: `${duration(own)}/call`,
      reference: '—',
      ratio: null,
      target: '—',
      meets: '—',
    });
  }
  if (cost.has('typed ret') && cost.has('empty ret')) {
    const shown = ratio(over('typed ret'), over('empty ret'));
    const exact = (over('typed ret') ?? NaN) / (over('empty ret') ?? NaN);
    rows.push({
      benchmark: 'typed ret-mode pipeline per call: goid, frame depth, DWARF-typed values (vs empty programs)',
      ours: cell('typed ret'),
      reference: cell('empty ret'),
      ratio: shown,
      target: '≤ 1.05×',
      meets: shown === null ? '—' : verdict(exact <= 1.05),
    });
    if (cost.has('ours ret'))
      rows.push({
        benchmark: 'typed vs untyped ret-mode pipeline per call',
        ours: cell('typed ret'),
        reference: cell('ours ret'),
        ratio: ratio(over('typed ret'), over('ours ret')),
        target: '—',
        meets: '—',
      });
  }

  const lat = (t: string) => r.latency.find((x) => x.tracer === t);
  if (lat('ours')) {
    const o = lat('ours')!;
    const ci = lat('cilium');
    rows.push({
      benchmark: 'request → event visible, p99 (p50) (vs cilium peer)',
      ours: `${millis(o.p99_ms)} (${millis(o.p50_ms)})`,
      reference: ci ? `${millis(ci.p99_ms)} (${millis(ci.p50_ms)})` : 'not measured',
      ratio: ratio(o.p99_ms, ci?.p99_ms),
      target: 'p99 < 100 ms',
      meets: verdict(o.p99_ms < 100),
    });
  }
  const rss = (t: string) => r.rss.find((x) => x.tracer === t);
  if (rss('ours')) {
    const o = rss('ours')!;
    const ci = rss('cilium');
    rows.push({
      benchmark: `tracer RSS growth over a ${o.seconds} s burst, after ${o.warmup_seconds} s of the same load (vs cilium peer)`,
      ours: `${megabytes(o.growth_mb)} (${o.events} events)`,
      reference: ci ? `${megabytes(ci.growth_mb)} (${ci.events} events)` : 'not measured',
      ratio: ci && ci.growth_mb >= 0.5 ? ratio(o.growth_mb, ci.growth_mb) : null,
      target: '< 10 MB',
      meets: verdict(o.growth_mb < 10),
    });
    if (o.warmup_rise_mb !== undefined) {
      rows.push({
        benchmark: `tracer RSS rise during the ${o.warmup_seconds} s warm-up, heap sizing to the load (vs cilium peer)`,
        ours: `${megabytes(o.warmup_rise_mb)} (from ${megabytes(o.attached_mb)})`,
        reference: ci ? `${megabytes(ci.warmup_rise_mb)} (from ${megabytes(ci.attached_mb)})` : 'not measured',
        ratio: null,
        target: '—',
        meets: '—',
      });
    }
  }
  const load = (t: string) => r.load.find((x) => x.tracer === t);
  if (load('ours')) {
    const o = load('ours')!;
    const ci = load('cilium');
    const acc = (x: typeof o) => `${x.calls}+${x.drops} of ${x.requests} ${x.accounted ? '✓' : '✗'}`;
    rows.push({
      benchmark: 'server under load, ret mode: calls + drops = requests (vs cilium peer)',
      ours: acc(o),
      reference: ci ? acc(ci) : 'not measured',
      ratio: null,
      target: 'exact',
      meets: verdict(o.accounted),
    });
    rows.push({
      benchmark: 'server under load: traced req/s (vs cilium peer traced)',
      ours: `${o.req_per_s.toFixed(0)} req/s (untraced ${o.untraced_req_per_s.toFixed(0)})`,
      reference: ci ? `${ci.req_per_s.toFixed(0)} req/s` : 'not measured',
      ratio: ratio(o.req_per_s, ci?.req_per_s),
      target: '—',
      meets: '—',
    });
  }
  const life = (l: LifecycleRun['links']) => r.lifecycle?.find((x) => x.links === l);
  const multi = life('uprobe_multi');
  const perf = life('perf-event');
  if (multi) {
    const seconds = (x: number) => `${(x / 1000).toFixed(2)} s`;
    rows.push({
      benchmark: `close ${multi.probes} probes until the kernel released every link: uprobe_multi (vs perf-event links)`,
      ours: seconds(multi.close_ms),
      reference: perf ? seconds(perf.close_ms) : 'not measured',
      ratio: ratio(multi.close_ms, perf?.close_ms),
      target: '—',
      meets: '—',
    });
    rows.push({
      benchmark: `open ${multi.probes} probes (vs perf-event links)`,
      ours: seconds(multi.open_ms),
      reference: perf ? seconds(perf.open_ms) : 'not measured',
      ratio: ratio(multi.open_ms, perf?.open_ms),
      target: '—',
      meets: '—',
    });
    rows.push({
      benchmark: `${multi.cycles} open/close cycles of a uprobe, objects loaded once (vs perf-event links)`,
      ours: seconds(multi.cycles_ms),
      reference: perf ? seconds(perf.cycles_ms) : 'not measured',
      ratio: ratio(multi.cycles_ms, perf?.cycles_ms),
      target: '—',
      meets: '—',
    });
    const worst = Math.max(multi.worst_stall_ms, perf?.worst_stall_ms ?? 0);
    const wall = Math.max(multi.worst_wall_stall_ms ?? worst, perf?.worst_wall_stall_ms ?? 0);
    rows.push({
      benchmark: `longest event-loop stall while ${multi.probes} probes close (either link kind; waits for a CPU taken out)`,
      ours: `${millis(worst)} (wall clock ${millis(wall)})`,
      reference: '—',
      ratio: null,
      target: '< 50 ms',
      meets: verdict(worst < 50),
    });
  }
  const pipe: StalledPipeRun | undefined = r.stalled_pipe?.[0];
  if (pipe) {
    rows.push({
      benchmark: `run-tracer --json RSS behind a stalled pipe over ${pipe.seconds} s of load (calls = delivered + counted drops)`,
      ours: `${megabytes(pipe.growth_mb)} (${megabytes(pipe.rss_start_mb)} → ${megabytes(pipe.rss_end_mb)}; ${pipe.delivered}+${pipe.dropped} of ${pipe.calls} ${pipe.accounted ? '✓' : '✗'})`,
      reference: '—',
      ratio: null,
      target: '< 50 MB, exact',
      meets: verdict(pipe.growth_mb < 50 && pipe.accounted),
    });
  }
  const svc = (t: string) => r.probe_service?.find((x) => x.transport === t);
  const viaService = svc('probe service');
  const direct = svc('direct');
  if (viaService && direct) {
    const per = (x: ProbeServiceRun) =>
      `${(x.cpu_ns_per_call / 1000).toFixed(1)} µs/call, ${(x.events_per_s / 1000).toFixed(1)} k events/s, last event ${x.drain_ms} ms after the loop`;
    rows.push({
      benchmark: 'hands-on: ret probe through the probe service (vs attaching directly)',
      ours: per(viaService),
      reference: per(direct),
      ratio: ratio(viaService.cpu_ns_per_call, direct.cpu_ns_per_call),
      target: '—',
      meets: '—',
    });
  }
  rows.push(...roomSummaryRows(r.room));
  for (const t of r.timings) {
    rows.push({
      benchmark: t.what,
      ours: t.seconds === null ? t.note : `${t.seconds.toFixed(1)} s`,
      reference: '—',
      ratio: null,
      target: `< ${t.target_s} s`,
      meets: t.seconds === null ? '—' : verdict(t.seconds < t.target_s),
    });
  }
  return rows;
}

const columns: (keyof SummaryRow)[] = ['benchmark', 'ours', 'reference', 'ratio', 'target', 'meets'];
const text = (v: SummaryRow[keyof SummaryRow]) => (v === null ? '—' : typeof v === 'number' ? `${v}×` : v);

/** A plain-text table for the terminal. */
export function renderTable(rows: SummaryRow[]): string {
  const widths = columns.map((c) => Math.max(c.length, ...rows.map((r) => text(r[c]).length)));
  const line = (cells: string[]) => cells.map((s, i) => s.padEnd(widths[i])).join('  ');
  return [
    line(columns),
    line(widths.map((w) => '-'.repeat(w))),
    ...rows.map((r) => line(columns.map((c) => text(r[c])))),
  ].join('\n');
}

/** The benchmarks re-run since the full run (./lab bench --only … --merge): each named once, at its latest re-run. */
function rerunLines(r: BenchResults): string[] {
  const latest = new Map<string, NonNullable<BenchResults['merged']>[number]>();
  for (const m of r.merged ?? []) for (const b of m.benchmarks) if (m.date > r.date) latest.set(b, m);
  const runs = [...new Set(latest.values())].map(
    (m) =>
      `${m.benchmarks.filter((b) => latest.get(b) === m).join(', ')} at ${m.date.slice(0, 16).replace('T', ' ')} UTC (load ${m.load_average_at_start})`,
  );
  return runs.length ? [`Re-run since then and merged: ${runs.join('; ')}.`] : [];
}

/** The README's benchmarks block (under "## Benchmarks"), from a results file. */
export function readmeSection(r: BenchResults): string {
  const md = (s: string) => s.replace(/\|/g, '\\|');
  return alignTables(
    [
      `\`./lab bench\` runs every benchmark in one go and writes \`bench/results.json\` and this table, generated from it (again`,
      `by \`./lab bench --readme\`). Latest run: ${r.date.slice(0, 16).replace('T', ' ')} UTC, kernel ${r.kernel}, ${r.machine}`,
      `(nproc ${r.nproc}, ${r.memory_gb} GB), ${r.go_version}, ${r.bpftrace_version}; load average at start ${r.load_average_at_start}`,
      '(a machine shared with other work, so absolute numbers are noisy; the ratios compare tracers measured side by side in the same run).',
      ...rerunLines(r),
      '',
      `| ${columns.join(' | ')} |`,
      `|${columns.map(() => '---').join('|')}|`,
      ...r.summary.map((row) => `| ${columns.map((c) => md(text(row[c]))).join(' | ')} |`),
      '',
      'How each is measured (sizes: ' + r.sizes + '):',
      '',
      "- **ring buffer**: `bench/bpf/burst.bpf.c`, run with `BPF_PROG_TEST_RUN`, fills the lab's `lab_events` ring through",
      '  `lab_submit` (no uprobe traps), pausing while half the ring waits, so the consumer sets the pace; each event is a call',
      '  `main.work(x) = 2x`. Consumers: plain C libbpf (`bench/ringbuf`), cilium/ebpf `ringbuf.Reader`, and the tracer API in',
      '  this Node process: a raw probe (`args: 1, rets: 1`, registers as numbers) through `probe.batches()` and through',
      '  `for await (const e of probe)` (one more `await` each), and a typed probe through `probe.batches()`, the consumer',
      "  reading every event's `args[0]` and `ret[0]` (BigInts, decoded as they are read) and checking them, each kind read",
      '  by a function of its own (as a program reads one kind); a discarded first run of each lets V8 compile the consumer;',
      "  each row is the fastest of its runs, consumers interleaved (this machine is shared: a neighbour's load only slows a",
      '  run down, the more so for a consumer that needs more CPU per event). A row that misses its target is marked ✗ and',
      '  fails the run.',
      "  Where the time went (`perf record -g` after attach, `--perf-basic-prof`, V8's heap sampler): at 2.8 M/s a raw event",
      '  allocated ~260 B (the object and two arrays), a scavenge every ~60 k events whose parallel helper queued behind the',
      '  producer on 2 CPUs (0.3–4 ms stalls); then, at ~186 ns an event, a 9-field event object plus a boxed timestamp, and',
      '  64-bit readers V8 would not inline. The addon also waited ~70 ns a record for lines the producer had just written on',
      '  the other CPU. Now the addon copies each record into a block of 8-byte slots as it scans the batch, prefetching ~2 KiB',
      '  ahead (~27 ns a record); an event is 3 fields (its block, its slot, `args`/`ret` once read) whose fields are getters',
      '  over the slots; blocks come from a pool refilled off the JS thread, and a batch that used little of its block keeps an',
      '  exact copy. What is left (~130 B and ~70–130 ns an event) is the event object and its share of the scavenges: C reads',
      '  one word in place and allocates nothing.',
      "- **per call**: `engines/goloop` calls `main.work` (a `//go:noinline` leaf) in a tight loop; the cost is the loop thread's",
      ...(r.probe_cost.some((p) => p.runs)
        ? [
            '  CPU time (the traps and BPF programs run on it), the median of the runs over every round (`bench/results.json` keeps the',
            '  fastest and the slowest: the same method as notebook 07\'s live cell); "empty" is the cilium peer attaching',
          ]
        : [
            '  CPU time (the traps and BPF programs run on it), the fastest run over every round; "empty" is the cilium peer attaching',
          ]),
      '  `bpf/cilium/empty.bpf.c` at exactly the sites ret mode uses.',
      '- **server**: a private copy of `server/server`, `main.demo` traced in ret mode, keep-alive `fetch` load on loopback.',
      '  RSS: the tracer process as users run it (`./lab run-tracer --mode ret --json`, the cilium peer), sampled every 250 ms;',
      '  the warm-up row is the heap growing to the allocation rate, the burst row what happens after (a leak keeps growing).',
      '- **start**: `./lab start --no-app` until the docs site and JupyterLab both answer HTTP. Cold: a fresh `git clone` of HEAD',
      "  with empty npm, pip and Go module caches (everything downloaded and built); Debian's packages are already installed",
      "  (installing all of them took 24 s in this machine's first `./lab setup`). Warm: this checkout, everything built.",
      '- **site build**: `docusaurus build` into a temporary directory; cold after removing `.docusaurus` and `node_modules/.cache`.',
      '',
      ...roomSection(r.room, r.nproc, r.memory_gb),
    ].join('\n'),
  );
}
