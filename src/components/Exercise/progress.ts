// Exercise progress in this browser: one localStorage entry per notebook, shared by every card
// of the page (a change in one card reaches the others through a window event).
import { useCallback, useEffect, useState } from 'react';

export interface CardState {
  /** predict/explain: what was locked in. */
  answer?: string;
  pass?: boolean;
  message?: string;
  /** How many hints were shown. */
  hints?: number;
}
export type NotebookProgress = Record<string, CardState>;

const key = (notebook: string) => `go-uretprobe-lab.exercises.${notebook}`;
const changed = 'go-uretprobe-lab.exercises-changed';

export function loadProgress(notebook: string): NotebookProgress {
  try {
    return JSON.parse(localStorage.getItem(key(notebook)) ?? '{}') as NotebookProgress;
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
    (name: string, s: CardState) =>
      store(notebook, { ...loadProgress(notebook), [name]: { ...loadProgress(notebook)[name], ...s } }),
    [notebook],
  );
  const reset = useCallback(() => store(notebook, null), [notebook]);
  return { progress, update, reset };
}
