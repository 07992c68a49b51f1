// An exercise on a notebook page: predictions locked in and judged against the recorded run,
// "do it" tasks (the editable cell below is the Check when a notebook kernel is live) and the
// evidence judged with the lab's forensics — progress kept in this browser, per notebook.
import { useEffect, useState } from 'react';
import clsx from 'clsx';
import CodeBlock from '@theme/CodeBlock';
import { exercise, exercisesOf, type Exercise, type Prediction } from '../../../engines/exercises/catalog.ts';
import { attemptCell, inlineHtml, kindLabel } from '../../../engines/exercises/card.ts';
import { judgeEvidence } from '../../../engines/exercises/evidence.ts';
import type { CellView } from '../../lib/notebook';
import { Outputs } from '../NotebookView/Outputs';
import { useProgress, type CardState } from './progress';
import styles from './styles.module.css';

export type ExercisePart = 'card' | 'answer' | 'check' | 'dump';
/** The text a part's cell printed: live (the page's notebook kernel ran it), else as recorded unless liveOnly. */
export type OutputsOf = (part: ExercisePart, liveOnly?: boolean) => string | undefined;

/** How the page shows an exercise cell: the card, the cell as usual, or folded away (the card stands for it). */
export function exerciseCellRole(x: { name: string; part: string }): 'card' | 'cell' | 'folded' {
  if (x.part === 'card') return 'card';
  const kind = exercise(x.name)?.kind;
  if (kind === 'predict') return 'folded';
  if (kind === 'explain' && x.part === 'answer') return 'folded';
  return 'cell';
}

/** A cell the card stands for on the site (lab.predict, lab.check…): folded, with what the notebook recorded. */
export function FoldedCell({ cell }: { cell: Extract<CellView, { kind: 'code' }> }) {
  return (
    <details className={styles.folded} data-folded-cell>
      <summary>
        In JupyterLab this is a cell: <code>{cell.source.split('\n')[0]}</code>
      </summary>
      <CodeBlock language="typescript">{cell.source}</CodeBlock>
      <Outputs outputs={cell.outputs} live={false} />
    </details>
  );
}

/** Plain text of outputs: recorded views ({ html }) or live kernel outputs (nbformat). */
export function outputsText(outputs: readonly unknown[] | undefined): string | undefined {
  if (!outputs || typeof document === 'undefined') return undefined;
  return outputs
    .map((o) => {
      const x = o as { html?: string; text?: string | string[]; data?: Record<string, string | string[]> };
      if (x.html !== undefined) {
        const d = document.createElement('div');
        d.innerHTML = x.html;
        return d.textContent ?? '';
      }
      const t = x.text ?? x.data?.['text/plain'] ?? '';
      return Array.isArray(t) ? t.join('') : t;
    })
    .join('\n');
}

function Progress({
  notebook,
  progress,
  reset,
}: {
  notebook: string;
  progress: Record<string, CardState>;
  reset: () => void;
}) {
  const all = exercisesOf(notebook.slice(0, 2));
  const done = all.filter((e) => progress[e.name]?.pass).length;
  const touched = all.some((e) => progress[e.name]);
  return (
    <span className={styles.progress} data-testid="exercise-progress">
      {done} of {all.length} exercises of this notebook done{' '}
      <button
        type="button"
        className="button button--sm button--link"
        onClick={reset}
        disabled={!touched}
        data-testid="exercise-reset"
      >
        Reset this notebook’s exercises
      </button>
    </span>
  );
}

function Hints({ ex, shown, show }: { ex: Exercise; shown: number; show: (n: number) => void }) {
  return (
    <>
      {ex.hints.slice(0, shown).map((h, i) => (
        <p key={i} className={styles.note} data-testid="exercise-hint">
          Hint {i + 1}/{ex.hints.length}: <span dangerouslySetInnerHTML={{ __html: inlineHtml(h) }} />
        </p>
      ))}
      {shown < ex.hints.length && (
        <button type="button" className="button button--sm button--secondary" onClick={() => show(shown + 1)}>
          {shown === 0 ? 'A hint' : 'Another hint'}
        </button>
      )}
    </>
  );
}

function Verdict({ state }: { state: CardState }) {
  if (state.pass === undefined) return null;
  return (
    <div
      className={clsx(styles.verdict, state.pass ? styles.pass : styles.fail)}
      data-testid="exercise-verdict"
      data-pass={String(state.pass)}
      role="status"
    >
      {state.pass ? '✓ ' : '✗ '}
      {state.message}
    </div>
  );
}

function Predict({
  ex,
  state,
  update,
  runReveal,
}: {
  ex: Prediction;
  state: CardState;
  update: (s: CardState) => void;
  runReveal?: () => void;
}) {
  const [choice, setChoice] = useState<string | null>(null);
  const locked = state.answer;
  const right = ex.choices.find((c) => c.id === ex.answer)!;
  const lockIn = () => {
    if (!choice) return;
    const pass = choice === ex.answer;
    update({
      answer: choice,
      pass,
      message: pass
        ? `Right: ${right.id}) ${right.text}. ${ex.why}`
        : `You said ${choice}; the recorded run shows ${right.id}) ${right.text}. ${ex.why}`,
    });
  };
  return (
    <>
      {/* biome-ignore lint/a11y/noNoninteractiveElementToInteractiveRole: a list of radio choices is a radiogroup */}
      <ul className={styles.choices} role="radiogroup" aria-label={ex.title}>
        {ex.choices.map((c) => (
          <li key={c.id}>
            <label>
              <input
                type="radio"
                name={ex.name}
                value={c.id}
                checked={(locked ?? choice) === c.id}
                disabled={locked !== undefined}
                onChange={() => setChoice(c.id)}
                aria-label={`${c.id}) ${c.text}`}
              />{' '}
              <b>{c.id}</b> — <span dangerouslySetInnerHTML={{ __html: inlineHtml(c.text) }} />
            </label>
          </li>
        ))}
      </ul>
      {locked === undefined ? (
        <button
          type="button"
          className="button button--sm button--primary"
          onClick={lockIn}
          disabled={!choice}
          data-testid="exercise-lock-in"
        >
          Lock in my answer
        </button>
      ) : (
        <p className={styles.note}>
          Locked in: <b>{locked}</b>.{' '}
          {runReveal ? (
            <>
              Now run it on the notebook kernel: the cells down to the one that shows the truth run live.{' '}
              <button
                type="button"
                className="button button--sm button--primary"
                onClick={runReveal}
                data-testid="exercise-run-reveal"
              >
                ▶ Run it
              </button>
            </>
          ) : (
            'The recorded run below shows what happened.'
          )}
        </p>
      )}
      <Verdict state={state} />
    </>
  );
}

function DoIt({
  ex,
  state,
  live,
  outputsOf,
  update,
}: {
  ex: Extract<Exercise, { kind: 'do' }>;
  state: CardState;
  live: boolean;
  outputsOf: OutputsOf;
  update: (s: CardState) => void;
}) {
  const [solution, setSolution] = useState(false);
  const answer = outputsOf('answer', true);
  // The cell below is the Check: when the page's kernel ran it, its one-line verdict is the result.
  useEffect(() => {
    if (!live || answer === undefined) return;
    const m = new RegExp(`(✓ pass|✗ not yet) · ${ex.name}: (.*)`).exec(answer);
    if (m && (state.message !== m[2] || state.pass !== m[1].startsWith('✓')))
      update({ pass: m[1].startsWith('✓'), message: m[2] });
  }, [live, answer, ex.name, state.message, state.pass, update]);
  return (
    <>
      <p className={styles.note} data-testid="exercise-how">
        {live
          ? 'Edit the function in the cell below and ▶ Run it: running it is the Check. It gets a fresh server of its own, the check reads what your probe delivered and whether the server lives, and everything is detached and stopped afterwards.'
          : 'This page has no notebook kernel. On a privileged machine (./lab start, or a server set in Live mode) the cell below becomes editable and running it is the Check: your attempt runs on a fresh server on a real kernel, and the check reads the events your probe delivered, the process and its crash. Below: the recorded verdict of the starter code.'}
      </p>
      <Verdict state={state} />
      {solution ? (
        <>
          <CodeBlock language="typescript">{attemptCell(ex.name, ex.solution)}</CodeBlock>
          <p className={styles.note} dangerouslySetInnerHTML={{ __html: inlineHtml(ex.why) }} />
        </>
      ) : (
        <button type="button" className="button button--sm button--link" onClick={() => setSolution(true)}>
          Show the solution
        </button>
      )}
    </>
  );
}

function Explain({
  state,
  outputsOf,
  update,
}: {
  ex: Extract<Exercise, { kind: 'explain' }>;
  state: CardState;
  outputsOf: OutputsOf;
  update: (s: CardState) => void;
}) {
  const [slot, setSlot] = useState('');
  const [frame, setFrame] = useState('');
  const check = () => {
    const stderr = outputsOf('dump') ?? '';
    const v = judgeEvidence({ slot, frame, stderr });
    update({ answer: `${slot} ${frame}`, pass: v.pass, message: v.message });
  };
  return (
    <>
      <p className={styles.note}>
        The cell below shows the runtime’s crash dump; the check reads the same text with the lab’s forensics.
      </p>
      <div className={styles.row}>
        <label>
          slot{' '}
          <input
            value={slot}
            onChange={(e) => setSlot(e.target.value)}
            placeholder="0x…"
            aria-label="the hijacked slot's address"
            size={20}
          />
        </label>
        <label>
          frame{' '}
          <input
            value={frame}
            onChange={(e) => setFrame(e.target.value)}
            placeholder="main.…"
            aria-label="whose return address it held"
            size={16}
          />
        </label>
        <button
          type="button"
          className="button button--sm button--primary"
          onClick={check}
          disabled={!slot || !frame}
          data-testid="exercise-check"
        >
          Check
        </button>
      </div>
      <Verdict state={state} />
    </>
  );
}

/** runReveal: runs the notebook down to the cell that shows a prediction's truth (live pages only). */
export default function ExerciseCard({
  name,
  notebook,
  live,
  outputsOf,
  runReveal,
}: {
  name: string;
  notebook: string;
  live: boolean;
  outputsOf: OutputsOf;
  runReveal?: () => void;
}) {
  const ex = exercise(name);
  const { progress, update, reset } = useProgress(notebook);
  if (!ex) return <div className="alert alert--warning">Unknown exercise {name}</div>;
  const state = progress[name] ?? {};
  const set = (s: CardState) => update(name, s);
  return (
    <section className={styles.card} data-exercise={name} data-kind={ex.kind} aria-label={`Exercise: ${ex.title}`}>
      <div className={styles.head}>
        <span className={styles.kind}>{kindLabel[ex.kind]}</span>
        <strong className={styles.grow}>{ex.title}</strong>
        <Progress notebook={notebook} progress={progress} reset={reset} />
      </div>
      <p dangerouslySetInnerHTML={{ __html: inlineHtml(ex.prompt) }} />
      {ex.kind === 'predict' && <Predict ex={ex} state={state} update={set} runReveal={runReveal} />}
      {ex.kind === 'do' && <DoIt ex={ex} state={state} live={live} outputsOf={outputsOf} update={set} />}
      {ex.kind === 'explain' && <Explain ex={ex} state={state} outputsOf={outputsOf} update={set} />}
      {!(ex.kind === 'predict' && state.answer !== undefined) && (
        <Hints ex={ex} shown={state.hints ?? 0} show={(n) => set({ hints: n })} />
      )}
    </section>
  );
}
