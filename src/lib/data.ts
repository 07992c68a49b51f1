// The recordings in docs/data/, as the lab-site plugin loaded them at build time.
import { usePluginData } from '@docusaurus/useGlobalData';
import type { LabData } from './data-types';

export type { CrashRecording, CrashMatrix, MatrixCell, Outcome, LabData } from './data-types';
export { crashedRuns } from './data-types';

export function useLabData(): LabData {
  return usePluginData('lab-site') as LabData;
}
