// The shapes of the recordings in docs/data/ (contract 4). No Docusaurus imports: tests use it too.
import type { CrashRecording } from '../../model/forensics.ts';
import type { Cell, CrashMatrix, Outcome } from '../../model/crash-matrix.ts';

/** Written by ./lab record-crash --write and ./lab crash-matrix --write; their shapes are model/'s. */
export type { CrashRecording, CrashMatrix, Outcome };
export type MatrixCell = Cell;

/** "crashed 3 of 5 runs" for a cell that was run several times. */
export const crashedRuns = (c: MatrixCell) =>
  c.runs && c.rate !== undefined ? `crashed ${c.outcomes?.crash ?? 0} of ${c.runs} runs` : undefined;

export interface LabData {
  crashRecording: CrashRecording | null;
  crashMatrix: CrashMatrix | null;
  /** bench/results.json as written by ./lab bench; its shape belongs to the bench engineer. */
  bench: unknown;
  benchPath: string | null;
}
