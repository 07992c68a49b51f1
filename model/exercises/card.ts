/**
 * An exercise as something to put on a screen: the card the notebook cell shows
 * (lab.exercise), and what the workshop's instructor console can project. Browser-safe.
 */
import { exercise, attemptSignature, type Exercise } from './catalog.ts';
import { attemptsLine, type AttemptRecord, type Verdict } from './judging.ts';

export const kindLabel = { predict: 'Predict, then run', do: 'Do it', explain: 'Explain the evidence' } as const;

const esc = (s: unknown) =>
  String(s).replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');
/** The catalog's little markdown: `code` and **bold**. */
export const inlineHtml = (s: string) =>
  esc(s)
    .replace(/`([^`]+)`/g, '<code>$1</code>')
    .replace(/\*\*([^*]+)\*\*/g, '<b>$1</b>');

/** The code a "do it" cell holds: the attempt function around a body (the starter or the solution). */
export const attemptCell = (name: string, body: string) =>
  `await lab.attempt("${name}", ${attemptSignature} {\n${body.replace(/^/gm, '  ')}\n});`;

/** The card as HTML, with what this machine saved for it when given. */
export function exerciseHtml(
  ex: Exercise,
  state?: { answer?: string; result?: Verdict; attempts?: AttemptRecord[] },
): string {
  const choices =
    ex.kind === 'predict'
      ? `<ul style="list-style:none;padding-left:0">${ex.choices.map((c) => `<li><code>${esc(c.id)}</code> ${inlineHtml(c.text)}${state?.answer === c.id ? ' ← your answer' : ''}</li>`).join('')}</ul>`
      : '';
  const result = state?.result
    ? `<p>${state.result.pass ? '✅ passed' : '❌ not yet'}: ${inlineHtml(state.result.message)}</p>${state.attempts?.length ? `<p>attempts: ${esc(attemptsLine(state.attempts))}</p>` : ''}`
    : '';
  return `<div class="lab-exercise" data-exercise="${esc(ex.name)}"><p><b>${kindLabel[ex.kind]} · ${esc(ex.title)}</b> <code>${esc(ex.name)}</code></p><p>${inlineHtml(ex.prompt)}</p>${choices}${result}</div>`;
}

/**
 * For the workshop: everything to put one exercise on screen — the card's HTML, the hints in
 * order and the solution to reveal — or undefined for an unknown name.
 */
export function exerciseScreen(name: string):
  | {
      name: string;
      kind: Exercise['kind'];
      title: string;
      html: string;
      hints: string[];
      solution: string;
      why: string;
    }
  | undefined {
  const ex = exercise(name);
  if (!ex) return undefined;
  const solution =
    ex.kind === 'predict'
      ? `${ex.answer}) ${ex.choices.find((c) => c.id === ex.answer)?.text}`
      : ex.kind === 'do'
        ? attemptCell(ex.name, ex.solution)
        : ex.solution;
  return {
    name: ex.name,
    kind: ex.kind,
    title: ex.title,
    html: exerciseHtml(ex),
    hints: ex.hints,
    solution,
    why: ex.why,
  };
}
