/**
 * What a crash-matrix cell is called, from its counts: the one label the README, the text table,
 * the site's matrix and the notebooks show. Browser-safe (no Node import): the site imports it.
 *
 * A cell that crashed in any of its runs is a crash ("✗ crashes 2 of 5 runs"), never a ✓, whatever
 * the majority of its runs did; likewise a wrong answer in any run outranks the survivors.
 */
export type Outcome = 'survive' | 'crash' | 'survive-but-wrong';

/** The fields of a matrix cell (engines/crash-matrix.ts's Cell) a label is made from. */
export interface CellCounts {
  /** The most frequent outcome of the cell's runs (the first run's, for a cell run once). */
  outcome: Outcome;
  /** Runs of a repeated cell, and how often each outcome happened. */
  runs?: number;
  outcomes?: Partial<Record<Outcome, number>>;
}

const severity: Outcome[] = ['crash', 'survive-but-wrong', 'survive'];

/** How often the cell had each outcome (a cell run once: its one outcome, once). */
export function outcomeCounts(c: CellCounts): { runs: number; counts: Partial<Record<Outcome, number>> } {
  if (c.runs && c.outcomes) return { runs: c.runs, counts: c.outcomes };
  return { runs: 1, counts: { [c.outcome]: 1 } };
}

/** The worst outcome any run of the cell had: what its colour and mark say. */
export function worstOutcome(c: CellCounts): Outcome {
  const { counts } = outcomeCounts(c);
  return severity.find((o) => (counts[o] ?? 0) > 0) ?? c.outcome;
}

/** The mark of each outcome, shared by every rendering. */
export const outcomeMark: Record<Outcome, string> = { survive: '✓', crash: '✗', 'survive-but-wrong': '⚠' };

/**
 * The cell's label: "✓ survives", "✗ crash", "⚠ wrong result" for a cell run once; for a repeated
 * cell that did not always survive, how many of its runs had the worst outcome ("✗ crashes 2 of 5
 * runs", "✗ crashes 5 of 5 runs", "⚠ wrong in 1 of 3 runs"); a cell whose every run survived is "✓ survives".
 */
export function matrixCellLabel(c: CellCounts): string {
  const worst = worstOutcome(c);
  const { runs, counts } = outcomeCounts(c);
  const mark = outcomeMark[worst];
  if (runs <= 1 || worst === 'survive')
    return { survive: `${mark} survives`, crash: `${mark} crash`, 'survive-but-wrong': `${mark} wrong result` }[worst];
  const k = counts[worst] ?? 0;
  const of = `${k} of ${runs} runs`;
  return worst === 'crash' ? `${mark} crashes ${of}` : `${mark} wrong in ${of}`;
}
