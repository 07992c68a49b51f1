// What the overhead page shows, derived from bench/results.json (written by ./lab bench). No
// Docusaurus imports: tests read the same model the page renders.

/** One probe_cost row as bench/probe-cost.ts writes it. */
export interface ProbeCostRow {
  config: string;
  ns_per_call: number | 'crashed';
  wall_ns_per_call?: number | 'crashed';
  /** The fastest and the slowest run, and how many runs ns_per_call (their median) is of; absent in older recordings. */
  min_ns_per_call?: number | null;
  max_ns_per_call?: number | null;
  runs?: number | null;
  events?: number | null;
  expected_events?: number | null;
  drops?: number | null;
  note?: string;
}

export interface ProbeKind {
  id: 'none' | 'uprobe' | 'uretprobe' | 'ret';
  label: string;
  /** The lab's own tracer (bench config "ours …"); "none" for the unprobed loop. */
  nsPerCall: number;
  /** The spread of the lab's runs: its fastest and slowest run (both nsPerCall when the recording kept no spread). */
  low: number;
  high: number;
  /** How many runs nsPerCall is the median of (0: the recording kept only one number). */
  runs: number;
  /** Every tracer measured attaching this kind of probe ("ours uprobe", "cilium uprobe", …), for the table. */
  measured: string[];
}

const kinds: { id: ProbeKind['id']; label: string; suffix: string }[] = [
  { id: 'none', label: 'no probe', suffix: 'none' },
  { id: 'uprobe', label: 'entry uprobe', suffix: 'uprobe' },
  { id: 'uretprobe', label: 'uretprobe', suffix: 'uretprobe' },
  { id: 'ret', label: 'RET-site uprobes', suffix: 'ret' },
];

const num = (v: unknown): v is number => typeof v === 'number' && Number.isFinite(v);

/** The four probe kinds, or null when the results hold no probe_cost table. */
export function probeKinds(bench: unknown): ProbeKind[] | null {
  const rows = (bench as { probe_cost?: ProbeCostRow[] } | null)?.probe_cost;
  if (!Array.isArray(rows)) return null;
  const out: ProbeKind[] = [];
  for (const k of kinds) {
    const same = rows.filter(
      (r) =>
        (k.id === 'none' ? r.config === 'none' : r.config.split(' ').slice(1).join(' ') === k.suffix) &&
        num(r.ns_per_call),
    );
    const ours = same.find((r) => k.id === 'none' || r.config.startsWith('ours '));
    if (!ours || !num(ours.ns_per_call)) return null;
    const spread = num(ours.min_ns_per_call) && num(ours.max_ns_per_call);
    out.push({
      id: k.id,
      label: k.label,
      nsPerCall: ours.ns_per_call,
      low: spread ? (ours.min_ns_per_call as number) : ours.ns_per_call,
      high: spread ? (ours.max_ns_per_call as number) : ours.ns_per_call,
      runs: spread && num(ours.runs) ? ours.runs : 0,
      measured: same.map((r) => r.config),
    });
  }
  return out;
}

export const micros = (ns: number) => (ns < 100 ? `${ns.toFixed(1)} ns` : `${(ns / 1000).toFixed(1)} µs`);

/** The page's one-line takeaway, from the numbers. */
export function takeaway(k: ProbeKind[]): string {
  const [, up, uret, ret] = k;
  return (
    `One probe hit costs about ${micros(up.nsPerCall)} here; a uretprobe's return adds only ${micros(uret.nsPerCall - up.nsPerCall)} ` +
    `(the trampoline enters the kernel by a system call, not a trap), while the RET-site probes that keep Go alive trap twice: ` +
    `${micros(ret.nsPerCall)} a call, ${(ret.nsPerCall / uret.nsPerCall).toFixed(1)}× a uretprobe.`
  );
}
