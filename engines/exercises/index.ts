/** The exercises: catalog (browser-safe data), checks against the real kernel, progress on this machine. */
export * from '../../model/exercises/catalog.ts';
export { judge, checkedNames, type Verdict, type Submission } from './checks.ts';
export { Sandbox, SandboxServer, attemptFromSource, type Attempt, type AttemptContext } from './sandbox.ts';
export { readProgress, save, forget, recordVerdict, progressFile, type Saved, type Progress } from './progress.ts';
export { checkSaved } from './run.ts';
export { exerciseHtml, exerciseScreen, attemptCell } from '../../model/exercises/card.ts';
export { judgeEvidence } from '../../model/exercises/evidence.ts';
