/**
 * The crash matrix as data: the shape of docs/data/crash-matrix.json (engines/crash-matrix.ts runs it)
 * and what a cell is called, from its counts: the one label the README, the text table, the site's
 * matrix and the notebooks show.
 *
 * A cell that crashed in any of its runs is a crash ("✗ crashes 2 of 5 runs"), never a ✓, whatever
 * the majority of its runs did; likewise a wrong answer in any run outranks the survivors.
 */
import type { CrashKind } from './forensics.ts';

export type Outcome = 'survive' | 'crash' | 'survive-but-wrong';

/** A crash trigger, as the server lists it (`server -list`). */
export interface Trigger {
  id: string;
  title: string;
  /** The request, e.g. "/?arg=2000". */
  path: string;
  symbol: string;
  /** A regexp for the part of the body that differs between two healthy runs. */
  varies?: string;
}

/** One cell: a trigger on one Go toolchain under one probe kind ('none' or a kind of the tracer's table). */
export interface Cell<Probe extends string = string> {
  go: string;
  trigger: string;
  probe: Probe;
  outcome: Outcome;
  status: number;
  /** Runtime throw vs kernel signal, for crashes. */
  crashKind?: CrashKind;
  /** The death was the probe's doing (classifyDeath), not the program's own. */
  probeCrash?: boolean;
  signature?: string;
  /** What differs from the unprobed run, for survive-but-wrong. */
  wrong?: string;
  events: number;
  body: string;
  /**
   * When the cell was run more than once (--repeat N): how many runs it had and how often each
   * outcome happened; the fields above describe the first run with the most frequent outcome.
   */
  runs?: number;
  outcomes?: Partial<Record<Outcome, number>>;
  /** Share of the runs that crashed (0 … 1), for repeated cells. */
  rate?: number;
  /** How often each kind of crash happened, when the runs crashed in more than one way. */
  crashKinds?: Record<string, number>;
}

export interface CrashMatrix<Probe extends string = string> {
  recordedAt: string;
  /** Hash of what decides the result (server, BPF programs, the matrix's engine): the build re-runs the matrix when it changes. */
  inputsHash?: string;
  kernel: string;
  toolchains: string[];
  /** The triggers run, as the server listed them (`server -list`). */
  triggers: Trigger[];
  probes: readonly Probe[];
  cells: Cell<Probe>[];
}

/** The fields of a matrix cell (Cell, above) a label is made from. */
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
