// lab-test: concurrent — merges results in memory.
/** ./lab bench --only … --merge: the re-run benchmarks' tables replace the recorded ones, nothing else moves. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { at } from '../../core/paths.ts';
import { mergeResults, type BenchResults } from '../../bench/report.ts';

test('a merged partial run replaces only its own tables and timings, and says when it ran', () => {
  const full = JSON.parse(readFileSync(at('bench', 'results.json'), 'utf8')) as BenchResults;
  const partial: BenchResults = {
    ...full,
    date: '2026-12-01T00:00:00.000Z',
    probe_cost: [],
    ringbuf: [],
    latency: [],
    rss: [],
    load: [],
    probe_service: [
      { transport: 'direct', calls: 10, cpu_ns_per_call: 1000, events: 10, drops: 0, events_per_s: 1, drain_ms: 0 },
      {
        transport: 'probe service',
        calls: 10,
        cpu_ns_per_call: 1100,
        events: 10,
        drops: 0,
        events_per_s: 1,
        drain_ms: 0,
      },
    ],
    timings: [],
  };
  const merged = mergeResults(full, partial, ['service']);
  assert.deepEqual(merged.probe_service, partial.probe_service);
  assert.deepEqual(merged.ringbuf, full.ringbuf);
  assert.deepEqual(merged.timings, full.timings);
  assert.equal(merged.date, full.date);
  assert.deepEqual(merged.merged?.at(-1)?.benchmarks, ['service']);
  assert.ok(
    merged.summary.some((r) => /probe service/.test(r.benchmark)),
    'the summary has the merged row',
  );
});
