/**
 * The one place answers are read and results kept, for every face of the exercises (the site's
 * cards, the notebook kernel's lab.predict/lab.check, ./lab exercises). Browser-safe.
 *
 * - Answers are read the way the evidence prints them: an address with or without 0x, with leading
 *   zeros, in any case, or as the two 8-digit halves Go ≥ 1.21 prints; a number with or without
 *   separators; a choice as `b`, `B` or `b)`.
 * - A prediction is judged against a truth (this lab's recording on the site, the live machine in
 *   the kernel and the CLI); its message is markdown (`code`, **bold**), plainText() for a terminal.
 * - Every judged attempt is listed, the first one always; the kept result is the best: a pass stays a pass.
 */
import type { Prediction } from './catalog.ts';

export interface Judgement {
  pass: boolean;
  /** One line of markdown: what passed, or which part is wrong and what to try. */
  message: string;
}

/** A judgement of a submission, or the note that nothing was submitted yet. */
export interface Verdict extends Judgement {
  /** Nothing was submitted yet: not a result to keep. */
  untried?: true;
}

/** One judged attempt, as the progress keeps it. */
export interface AttemptRecord extends Judgement {
  /** What was submitted, as the learner would recognise it: a choice, "slot frame", or "code". */
  answer?: string;
  /** ISO time. */
  at: string;
}

/** Attempts kept per exercise: the first, and the latest up to this many. */
const keptAttempts = 20;

// ---------------------------------------------------------------- reading answers

/**
 * An address as a dump prints it: `0x000000c000123f58`, `000000c000123f58`, `C000123F58`, or the
 * two halves `000000c0 00123f58` (Go ≥ 1.21's hex dump). Undefined when it is not one.
 */
export function readAddress(text: string): bigint | undefined {
  const t = text.trim().replace(/^0x/i, '');
  const halves = /^([0-9a-f]{8})[\s_]+([0-9a-f]{8})$/i.exec(t);
  const digits = halves ? halves[1] + halves[2] : t.replace(/_/g, '');
  if (!/^[0-9a-f]{1,16}$/i.test(digits)) return undefined;
  return BigInt(`0x${digits}`);
}

export const hexAddress = (a: bigint) => `0x${a.toString(16)}`;

/** A whole number with or without separators: `1234`, `1,234`, `1_234`, `1 234`, `1'234`. */
export function readNumber(text: string): number | undefined {
  const t = text.trim();
  if (!/^-?\d{1,3}([,_ '.\u202f\u00a0]?\d{3})*$|^-?\d+$/.test(t)) return undefined;
  return Number(t.replace(/[,_ '.\u202f\u00a0]/g, ''));
}

/** A Go function name as the learner may type it: `main.demo`, `main.demo(...)`, ` main.demo `. */
export const readFuncName = (text: string) =>
  text
    .trim()
    .replace(/\(.*\)$/, '')
    .trim();

/** The choice id an answer names (`b`, `B`, `b)`, `(b)`, ` 1,000 ` for a numeric id), or undefined. */
export function readChoice(ex: Prediction, text: string): string | undefined {
  const t = text
    .trim()
    .replace(/^\((.*)\)$/, '$1')
    .replace(/\)$/, '')
    .trim();
  const exact = ex.choices.find((c) => c.id === t) ?? ex.choices.find((c) => c.id.toLowerCase() === t.toLowerCase());
  if (exact) return exact.id;
  const n = readNumber(t);
  return n === undefined ? undefined : ex.choices.find((c) => readNumber(c.id) === n)?.id;
}

// ---------------------------------------------------------------- judging a prediction

/**
 * A locked-in choice against the truth: `truth.choice` is the right id (undefined: none of the
 * choices matches what was seen), `truth.seen` what showed it, `truth.source` who showed it.
 */
export function judgePrediction(
  ex: Prediction,
  answer: string,
  truth: { choice: string | undefined; seen?: string; source: string },
): Judgement {
  const ids = ex.choices.map((c) => c.id).join(', ');
  const chosen = readChoice(ex, answer);
  if (chosen === undefined) return { pass: false, message: `"${answer}" is none of the choices (${ids})` };
  const seen = truth.seen ? ` — ${truth.seen}` : '';
  if (truth.choice === undefined)
    return { pass: false, message: `none of the choices matches what ${truth.source} shows${seen}` };
  const right = ex.choices.find((c) => c.id === truth.choice)!;
  if (chosen === truth.choice) return { pass: true, message: `right: **${right.id}**) ${right.text}${seen}` };
  const said = ex.choices.find((c) => c.id === chosen)!;
  return {
    pass: false,
    message: `you said **${said.id}**) ${said.text}; ${truth.source} shows **${right.id}**) ${right.text}${seen}`,
  };
}

/** Markdown of a message as a terminal line: no backticks, no stars. */
export const plainText = (md: string) => md.replace(/`([^`]*)`/g, '$1').replace(/\*\*([^*]+)\*\*/g, '$1');

// ---------------------------------------------------------------- attempts and the kept result

/** The attempts with `a` added: the first and the first pass are never dropped, then the latest. */
export function withAttempt(attempts: readonly AttemptRecord[] | undefined, a: AttemptRecord): AttemptRecord[] {
  const all = [...(attempts ?? []), a];
  if (all.length <= keptAttempts) return all;
  const pinned = new Set([all[0], all.find((x) => x.pass) ?? all[0]]);
  const latest = all.filter((x) => !pinned.has(x)).slice(-(keptAttempts - pinned.size));
  return all.filter((x) => pinned.has(x) || latest.includes(x));
}

/** The result to keep: the first pass (a pass stays a pass), else the latest attempt. */
export const bestAttempt = (attempts: readonly AttemptRecord[] | undefined): AttemptRecord | undefined =>
  attempts?.find((a) => a.pass) ?? attempts?.at(-1);

/** One line per attempt, oldest first: `1. b ✗`, `2. a ✓`. */
export const attemptsLine = (attempts: readonly AttemptRecord[]) =>
  attempts.map((a, i) => `${i + 1}. ${a.answer ?? 'attempt'} ${a.pass ? '✓' : '✗'}`).join(' · ');
