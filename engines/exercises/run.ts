import { judge, type Verdict } from './checks.ts';
import { readProgress, recordVerdict } from './progress.ts';
import type { Attempt } from './sandbox.ts';

/** Judges what is saved for `name` (or the attempt given) and saves the verdict. */
export async function checkSaved(name: string, attempt?: Attempt): Promise<Verdict> {
  const saved = (await readProgress())[name] ?? {};
  const verdict = await judge(name, saved, attempt);
  if (!verdict.untried) await recordVerdict(name, {}, verdict);
  return verdict;
}
