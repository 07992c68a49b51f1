// lab-test: concurrent — pure functions.
/** The benchmark report's pure parts: ratios and verdicts from results, and the README section swap. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { MISSED, missedTargets, readmeSection, summarize } from '../../bench/report.ts';
import { withReadmeBlock } from '../../engines/readme.ts';
import type { BenchResults } from '../../bench/run.ts';

const base: BenchResults = {
  date: '2026-11-25T02:20:00.000Z',
  kernel: '6.18.0',
  machine: '2 × test CPU',
  nproc: 2,
  memory_gb: 8,
  go_version: 'go1.26.8',
  node_version: 'v20',
  bpftrace_version: 'bpftrace v0.17.0',
  load_average_at_start: '1 1 1',
  sizes: 'test',
  summary: [],
  probe_cost: [],
  ringbuf: [],
  latency: [],
  rss: [],
  load: [],
  timings: [],
};

const consumerRun = (consumer: 'js-batches' | 'js-typed') => ({
  consumer,
  policy: 'lab' as const,
  sent: 10,
  received: 10,
  drops: 0,
  out_of_order: 0,
  events_per_s: 0,
  producer_events_per_s: 8e6,
  consumer_cpu_ns_per_event: 100,
});

test('summary: ratios are ours ÷ reference, verdicts follow the targets, and every missed target is a failure', () => {
  const rows = summarize({
    ...base,
    ringbuf: [
      {
        consumer: 'c',
        policy: 'lab',
        sent: 10,
        received: 10,
        drops: 0,
        out_of_order: 0,
        events_per_s: 8e6,
        producer_events_per_s: 8e6,
        consumer_cpu_ns_per_event: 100,
      },
      {
        consumer: 'js',
        policy: 'lab',
        sent: 10,
        received: 10,
        drops: 0,
        out_of_order: 0,
        events_per_s: 6e6,
        producer_events_per_s: 6e6,
        consumer_cpu_ns_per_event: 150,
      },
      // 0.999× C shows as 1× but misses ≥ 1.0×.
      { ...consumerRun('js-batches'), events_per_s: 7.992e6 },
      { ...consumerRun('js-typed'), events_per_s: 2.1e6 },
    ],
    probe_cost: [
      {
        config: 'none',
        ns_per_call: 2,
        wall_ns_per_call: null,
        overhead_ns: null,
        events: null,
        expected_events: null,
        drops: null,
        note: '',
      },
      {
        config: 'ours ret',
        ns_per_call: 2102,
        wall_ns_per_call: null,
        overhead_ns: 2100,
        events: 5,
        expected_events: 5,
        drops: 0,
        note: '',
      },
      {
        config: 'empty ret',
        ns_per_call: 2002,
        wall_ns_per_call: null,
        overhead_ns: 2000,
        events: null,
        expected_events: null,
        drops: null,
        note: '',
      },
      {
        config: 'ours uretprobe',
        ns_per_call: 'crashed',
        wall_ns_per_call: null,
        overhead_ns: null,
        events: null,
        expected_events: null,
        drops: null,
        note: 'SIGILL',
      },
    ],
    latency: [{ tracer: 'ours', requests: 10, p50_ms: 5, p99_ms: 120, max_ms: 130 }],
  });
  const row = (prefix: string) => rows.find((r) => r.benchmark.startsWith(prefix))!;
  assert.equal(row('ring buffer → JS TraceEvents of a raw probe, for await').ratio, 0.75);
  assert.equal(row('ring buffer → JS TraceEvents of a raw probe, for await').meets, 'yes');
  assert.equal(row('full ret-mode pipeline').ratio, 1.05);
  assert.equal(row('full ret-mode pipeline').meets, 'yes');
  assert.equal(row('overhead per call, uretprobe').ours, 'crashed');
  assert.equal(row('request → event').meets, MISSED);
  assert.equal(row('ring buffer → JS TraceEvents of a raw probe, probe.batches()').ratio, 0.999);
  assert.equal(row('ring buffer → typed events').meets, 'yes');
  assert.deepEqual(
    missedTargets(rows).map((r) => r.benchmark),
    [row('ring buffer → JS TraceEvents of a raw probe, probe.batches()').benchmark, row('request → event').benchmark],
  );
});

test('the README section is replaced in place, every other section kept, and a second run changes nothing', () => {
  const readme =
    '# Lab\n\nintro\n\n## Benchmarks\n\n<!-- benchmarks:start -->\nold table\n<!-- benchmarks:end -->\n\n## Later\n\nkept\n';
  const withBenchmarkSection = (text: string, section: string) =>
    withReadmeBlock(text, 'benchmarks', '## Benchmarks', section);
  const section = readmeSection({
    ...base,
    summary: [{ benchmark: 'a | b', ours: '1', reference: '2', ratio: 0.5, target: '—', meets: '—' }],
  });
  const once = withBenchmarkSection(readme, section);
  assert.ok(!once.includes('old table'));
  assert.match(once, /## Later\n\nkept\n$/);
  assert.match(once, /^# Lab\n\nintro\n\n## Benchmarks\n/);
  assert.match(once, /\| a \\\| b +\| 1 +\| 2 +\| 0\.5× +\|/);
  assert.equal(withBenchmarkSection(once, section), once);
  assert.equal(
    withBenchmarkSection('# Lab\n', section),
    `# Lab\n\n## Benchmarks\n\n<!-- benchmarks:start -->\n${section.trim()}\n<!-- benchmarks:end -->\n`,
  );
});
