// The crash matrix's cell labels, for the site: the same function the README and the text table use
// (model/crash-matrix.ts, browser-safe). A cell that crashed in any run is "✗ crashes k of n runs".
export { matrixCellLabel, worstOutcome, outcomeCounts, outcomeMark } from '../../model/crash-matrix.ts';
export type { CellCounts } from '../../model/crash-matrix.ts';
