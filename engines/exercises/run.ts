import { judge, type Verdict } from './checks.ts';
import { readProgress, recordVerdict } from './progress.ts';
import type { Attempt } from './sandbox.ts';

/** Judges what is saved for `name` (or the attempt given) and saves the verdict unless told not to. */
export async function checkSaved(name: string, attempt?: Attempt, opts: { keep?: boolean } = {}): Promise<Verdict> {
  const saved = (await readProgress())[name] ?? {};
  const verdict = await judge(name, saved, attempt);
  if (!verdict.untried && opts.keep !== false) await recordVerdict(name, {}, verdict);
  return verdict;
}
