/** One row of the benchmark summary table (bench/report.ts and the groups that add rows). */
export interface SummaryRow {
  benchmark: string;
  ours: string;
  reference: string;
  /** ours ÷ reference (null when either is missing). */
  ratio: number | null;
  target: string;
  /** "yes" / MISSED / "—" (no target or not measured). */
  meets: string;
}
