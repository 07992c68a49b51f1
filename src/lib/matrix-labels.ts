// The crash matrix's cell labels, for the site: the same function the README and the text table use
// (engines/crash-matrix-labels.ts, browser-safe). A cell that crashed in any run is "✗ crashes k of n runs".
export { matrixCellLabel, worstOutcome, outcomeCounts, outcomeMark } from '../../engines/crash-matrix-labels.ts';
export type { CellCounts } from '../../engines/crash-matrix-labels.ts';
