import { judge, type Submission, type Verdict } from './checks.ts';
import { bestAttempt, withAttempt } from '../../model/exercises/judging.ts';
import { readProgress, save } from './progress.ts';
import type { Attempt } from './sandbox.ts';

/** What an attempt submitted, in the words of the attempts list. */
function submitted(s: Submission, attempt?: Attempt): string {
  if (attempt || s.attempt !== undefined) return 'code';
  if (s.evidence) return `${s.evidence.slot} ${s.evidence.frame}`;
  return s.answer ?? '';
}

/**
 * Judges what is saved for `name` (or the attempt given) and, unless told not to, lists the attempt
 * and keeps the best result: a later failure does not undo a pass.
 */
export async function checkSaved(name: string, attempt?: Attempt, opts: { keep?: boolean } = {}): Promise<Verdict> {
  const saved = (await readProgress())[name] ?? {};
  const verdict = await judge(name, saved, attempt);
  if (!verdict.untried && opts.keep !== false) {
    // A file written before attempts were listed: its one result is the first attempt.
    const earlier = saved.attempts ?? (saved.result ? [{ ...saved.result, answer: undefined }] : []);
    const attempts = withAttempt(earlier, {
      answer: submitted(saved, attempt),
      pass: verdict.pass,
      message: verdict.message,
      at: new Date().toISOString(),
    });
    const best = bestAttempt(attempts)!;
    await save(name, { attempts, result: { pass: best.pass, message: best.message, at: best.at } });
  }
  return verdict;
}
