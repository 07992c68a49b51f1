// Exercise progress in this browser: one localStorage entry per notebook, shared by every card
// of the page (a change in one card reaches the others through a window event). Attempts are
// listed and the best kept by the exercises' own rules (model/exercises/judging.ts).
import { useCallback, useEffect, useState } from 'react';
import { bestAttempt, withAttempt, type AttemptRecord, type Judgement } from '../../../model/exercises/judging.ts';

export interface CardState {
  /** predict: the choice locked in (cleared by Try again); explain: what was last checked. */
  answer?: string;
  /** predict: the locked-in choice has been judged (after its cell ran, or on asking for the answer). */
  judged?: boolean;
  /** The best result: a pass stays a pass. */
  pass?: boolean;
  message?: string;
  /** Every judged attempt, the first always kept. */
  attempts?: AttemptRecord[];
  /** How many hints were shown. */
  hints?: number;
}
export type NotebookProgress = Record<string, CardState>;

const key = (notebook: string) => `go-uretprobe-lab.exercises.${notebook}`;
const changed = 'go-uretprobe-lab.exercises-changed';

export function loadProgress(notebook: string): NotebookProgress {
  try {
    const p = JSON.parse(localStorage.getItem(key(notebook)) ?? '{}') as unknown;
    return p && typeof p === 'object' && !Array.isArray(p) ? (p as NotebookProgress) : {};
  } catch {
    return {};
  }
}

function store(notebook: string, p: NotebookProgress | null): void {
  if (p) localStorage.setItem(key(notebook), JSON.stringify(p));
  else localStorage.removeItem(key(notebook));
  window.dispatchEvent(new CustomEvent(changed, { detail: notebook }));
}

/** The page's progress for `notebook`, and ways to change it. Empty during server rendering. */
export function useProgress(notebook: string) {
  const [progress, setProgress] = useState<NotebookProgress>({});
  useEffect(() => {
    const reload = () => setProgress(loadProgress(notebook));
    reload();
    window.addEventListener(changed, reload);
    window.addEventListener('storage', reload);
    return () => {
      window.removeEventListener(changed, reload);
      window.removeEventListener('storage', reload);
    };
  }, [notebook]);
  const update = useCallback(
    (name: string, s: CardState) => {
      const all = loadProgress(notebook);
      store(notebook, { ...all, [name]: { ...all[name], ...s } });
    },
    [notebook],
  );
  /** Lists a judged attempt of `name` and keeps the best result. */
  const judged = useCallback(
    (name: string, answer: string, j: Judgement, s: CardState = {}) => {
      const all = loadProgress(notebook);
      const attempts = withAttempt(all[name]?.attempts, { answer, ...j, at: new Date().toISOString() });
      const best = bestAttempt(attempts)!;
      store(notebook, { ...all, [name]: { ...all[name], ...s, attempts, pass: best.pass, message: best.message } });
    },
    [notebook],
  );
  const reset = useCallback(() => store(notebook, null), [notebook]);
  return { progress, update, judged, reset };
}
