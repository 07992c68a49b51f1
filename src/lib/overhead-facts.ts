// What the overhead page says about how its numbers were measured, read from the recording itself
// (bench/results.json), so the sentence is true of whichever recording the site was built from.
interface ProbeCostRow {
  config: string;
  ns_per_call: number | 'crashed';
  min_ns_per_call?: number | null;
  max_ns_per_call?: number | null;
  runs?: number | null;
}

const rowsOf = (bench: unknown): ProbeCostRow[] => {
  const rows = (bench as { probe_cost?: unknown } | null)?.probe_cost;
  return Array.isArray(rows) ? (rows as ProbeCostRow[]) : [];
};

const us = (ns: number) => `${(ns / 1000).toFixed(1)} µs`;

/** "the median of 9 runs (fastest – slowest) …" or, for a recording made before the spread was kept, what it is. */
export function perCallMethod(bench: unknown): string {
  const rows = rowsOf(bench);
  if (rows.length === 0) return 'not recorded yet: ./lab bench writes bench/results.json.';
  const spread = rows.filter((r) => typeof r.runs === 'number' && r.runs > 0);
  if (spread.length === 0)
    return (
      'the fastest of its runs: this recording was made before ./lab bench kept every run, so it has no spread; ' +
      're-record it (./lab bench --only probes --merge) for the median and its spread.'
    );
  const ours = spread.find((r) => r.config === 'ours ret') ?? spread[0];
  const runs = Math.max(...spread.map((r) => r.runs ?? 0));
  return (
    `the median of ${runs} runs of the loop thread's CPU time, with the fastest and the slowest run as its spread ` +
    `(RET-site uprobes: ${typeof ours.ns_per_call === 'number' ? us(ours.ns_per_call) : ours.ns_per_call}, ` +
    `${us(ours.min_ns_per_call ?? 0)} – ${us(ours.max_ns_per_call ?? 0)}).`
  );
}
