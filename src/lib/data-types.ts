// The shapes of the recordings in docs/data/ (contract 4). No Docusaurus imports: tests use it too.
import type { CrashRecording } from '../../engines/record-crash.ts';

/** Written by ./lab record-crash --write (engines/record-crash.ts owns the schema). */
export type { CrashRecording };

export type Outcome = 'survive' | 'crash' | 'survive-but-wrong';

export interface MatrixCell {
  go: string;
  trigger: string;
  probe: string;
  outcome: Outcome;
  status: number;
  crashKind?: string;
  signature?: string;
  wrong?: string;
  events: number;
  body?: string;
  /** Repeated cells (./lab crash-matrix --repeat N): runs, how often each outcome happened, share that crashed. */
  runs?: number;
  outcomes?: Partial<Record<Outcome, number>>;
  rate?: number;
}

/** "crashed 3 of 5 runs" for a cell that was run several times. */
export const crashedRuns = (c: MatrixCell) => (c.runs && c.rate !== undefined ? `crashed ${c.outcomes?.crash ?? 0} of ${c.runs} runs` : undefined);

export interface CrashMatrix {
  recordedAt: string;
  kernel: string;
  toolchains: string[];
  triggers: { id: string; title: string; path: string; symbol: string }[];
  probes: string[];
  cells: MatrixCell[];
}

export interface LabData {
  crashRecording: CrashRecording | null;
  crashMatrix: CrashMatrix | null;
  /** bench/results.json as written by ./lab bench; its shape belongs to the bench engineer. */
  bench: unknown;
  benchPath: string | null;
}
