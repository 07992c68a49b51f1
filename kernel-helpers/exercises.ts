/**
 * Exercises as cells use them:
 *   lab.exercise("03-kill-the-server")            the card: task, choices, state on this machine
 *   lab.predict("02-arg-register", "a")           lock a prediction in
 *   await lab.attempt("05-survive-growth", async ({ server, exe }) => { … })   save and check (the Check button)
 *   await lab.explain("04-hijacked-slot", { slot, frame }, { stderr, maps })
 *   await lab.check("02-arg-register")            judge what is saved, on the real kernel
 *   await lab.retry("02-arg-register")           answer a prediction again (attempts and the best result are kept)
 *   lab.hint(name) · lab.solution(name) · await lab.resetExercises("05")
 * The checks live in engines/exercises (the CLI runs the same ones).
 */
import { LabError } from '../core/errors.ts';
import {
  exercise as find,
  exercisesOf,
  checkSaved,
  judgeEvidence,
  readProgress,
  save,
  forget,
  type Exercise,
  type Verdict,
  type Attempt,
} from '../engines/exercises/index.ts';
import { attemptCell, exerciseHtml, inlineHtml } from '../model/exercises/card.ts';
import { parseCrash } from '../model/forensics.ts';
import { attemptsLine, plainText, readChoice } from '../model/exercises/judging.ts';
import { showHtml, preHtml } from './display.ts';

function known(name: string): Exercise {
  const ex = find(name);
  if (!ex) throw new LabError(`no exercise named "${name}"`, 'see ./lab exercises --names');
  return ex;
}

/** Shows the exercise's card with what this machine has saved for it. */
export async function exercise(name: string): Promise<void> {
  const ex = known(name);
  const saved = (await readProgress())[name];
  showHtml(exerciseHtml(ex, saved));
}

const squash = (code: string) => code.replace(/\s+/g, '');

async function say(name: string, v: Verdict): Promise<void> {
  console.log(`${v.pass ? '✓ pass' : '✗ not yet'} · ${name}: ${plainText(v.message)}`);
  const saved = (await readProgress())[name];
  if (!v.pass && saved?.result?.pass)
    console.log(`still passed from an earlier attempt (${attemptsLine(saved.attempts ?? [])})`);
}

/** Locks a prediction in; an empty choice says how to answer, a second answer is refused. */
export async function predict(name: string, choice: string): Promise<void> {
  const ex = known(name);
  if (ex.kind !== 'predict')
    throw new LabError(`${name} is not a prediction`, `use lab.${ex.kind === 'do' ? 'attempt' : 'explain'}`);
  const ids = ex.choices.map((c) => c.id);
  const saved = (await readProgress())[name];
  if (saved?.answer !== undefined) {
    console.log(`${name}: locked in as ${saved.answer} (await lab.retry("${name}") to answer again)`);
    return;
  }
  if (!choice) {
    console.log(`${name}: no answer yet — put one of ${ids.join(', ')} between the quotes and run this cell`);
    return;
  }
  const id = readChoice(ex, choice);
  if (id === undefined) throw new LabError(`"${choice}" is none of the choices`, `answer one of ${ids.join(', ')}`);
  await save(name, { answer: id });
  console.log(`${name}: locked in ${id} — now run the next cells; lab.check("${name}") says who was right`);
}

/** Unlocks a prediction to answer it again; its attempts and best result stay. Other exercises are untouched. */
export async function retry(name: string): Promise<void> {
  const ex = known(name);
  if (ex.kind === 'predict') await save(name, { answer: undefined });
  console.log(
    ex.kind === 'predict'
      ? `${name}: answer again with lab.predict("${name}", …) — earlier attempts and the best result are kept`
      : `${name}: edit your answer and run its cell again — every attempt is judged, the best result is kept`,
  );
}

/** The Check button of a "do it" cell: saves the attempt (its source, for ./lab exercises --check) and checks it on a fresh server. */
export async function attempt(name: string, fn: Attempt): Promise<void> {
  const ex = known(name);
  if (ex.kind !== 'do')
    throw new LabError(
      `${name} is not a "do it" exercise`,
      ex.kind === 'predict' ? 'use lab.predict' : 'use lab.explain',
    );
  if (typeof fn !== 'function')
    throw new LabError('pass your attempt as a function', attemptCell(name, '…').split('\n')[0]);
  // The starter as the notebook ships it is checked but not kept: running a notebook top to bottom is not an attempt.
  const unchanged =
    squash(fn.toString()) ===
    squash(
      attemptCell(name, ex.starter)
        .replace(/^await lab\.attempt\("[^"]+", /, '')
        .replace(/\);$/, ''),
    );
  if (!unchanged) await save(name, { attempt: fn.toString() });
  await say(name, await checkSaved(name, fn, { keep: !unchanged }));
}

/** Points at the evidence in a crash: saves what you pointed at with the crash text, and checks it. */
export async function explain(
  name: string,
  answer: { slot: string; frame: string },
  crash: { stderr: string; maps?: string },
): Promise<void> {
  const ex = known(name);
  if (ex.kind !== 'explain')
    throw new LabError(`${name} is not an "explain" exercise`, 'use lab.predict or lab.attempt');
  const evidence = {
    slot: String(answer?.slot ?? ''),
    frame: String(answer?.frame ?? ''),
    stderr: crash.stderr,
    maps: crash.maps ?? '',
  };
  // The placeholders as the notebook ships them are judged but not kept, like an unchanged starter.
  const unchanged =
    squash(`{ slot: ${JSON.stringify(evidence.slot)}, frame: ${JSON.stringify(evidence.frame)} }`) ===
    squash(ex.starter);
  if (unchanged) return say(name, judgeEvidence(evidence));
  await save(name, { evidence });
  await say(name, await checkSaved(name));
}

/** Judges what is saved for the exercise on the real kernel and prints the one-line verdict. */
export async function check(name: string): Promise<void> {
  const ex = known(name);
  const v = await checkSaved(name);
  await say(name, v);
  if (ex.kind === 'predict' && (await readProgress())[name]?.answer !== undefined)
    console.log(`why: ${plainText(ex.why)}`);
}

/** The next hint (each call shows one more). */
export async function hint(name: string): Promise<void> {
  const ex = known(name);
  const shown = Math.min(((await readProgress())[name]?.hints ?? 0) + 1, ex.hints.length);
  await save(name, { hints: shown });
  ex.hints.slice(0, shown).forEach((h, i) => console.log(`hint ${i + 1}/${ex.hints.length}: ${h}`));
}

/** The solution, to read (run it by pasting it into the attempt). */
export function solution(name: string): void {
  const ex = known(name);
  if (ex.kind === 'predict')
    console.log(`answer: ${ex.answer}) ${ex.choices.find((c) => c.id === ex.answer)?.text} — ${ex.why}`);
  else
    showHtml(`${preHtml(ex.kind === 'do' ? attemptCell(name, ex.solution) : ex.solution)}<p>${inlineHtml(ex.why)}</p>`);
}

/** The runtime's crash lines up to the end of its stack dump: what the "explain" exercise asks you to read. */
export function showCrashDump(stderr: string): void {
  const lines = stderr.split('\n');
  const from = lines.findIndex((l) => /unexpected return pc/.test(l));
  if (from < 0 || !parseCrash(stderr))
    throw new LabError('this text holds no "unexpected return pc" crash', 'crash the server under a uretprobe first');
  const end = lines.findIndex((l, i) => i > from + 2 && !/^([0-9a-f]{16}:|0x[0-9a-f]{16}:|\s+\^|\s+7 6 5 4)/.test(l));
  console.log(lines.slice(from, end < 0 ? undefined : end).join('\n'));
}

/** Forgets this machine's progress: one exercise by name, a notebook's by its number, or all. */
export async function resetExercises(which?: string): Promise<void> {
  const names = which === undefined ? undefined : find(which) ? [which] : exercisesOf(which).map((e) => e.name);
  if (names?.length === 0)
    throw new LabError(
      `"${which}" is neither an exercise nor a notebook number`,
      'pass e.g. "05" or "05-survive-growth"',
    );
  const gone = await forget(names);
  console.log(`forgot ${gone.length} exercise(s)`);
}
