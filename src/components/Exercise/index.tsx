// An exercise on a notebook page: predictions locked in, then judged against the recorded run once
// their cell ran (or the learner asks for the answer), retried one at a time; "do it" tasks (the editable cell below is the Check when a notebook kernel is live) and the
// evidence judged with the lab's forensics — progress kept in this browser, per notebook.
import { useEffect, useRef, useState } from 'react';
import clsx from 'clsx';
import CodeBlock from '@theme/CodeBlock';
import { exercise, exercisesOf, type Exercise, type Prediction } from '../../../model/exercises/catalog.ts';
import { attemptCell, inlineHtml, kindLabel } from '../../../model/exercises/card.ts';
import { judgeEvidence } from '../../../model/exercises/evidence.ts';
import { attemptsLine, judgePrediction, type Judgement } from '../../../model/exercises/judging.ts';
import type { CellView } from '../../lib/notebook';
import { Outputs } from '../NotebookView/Outputs';
import { useProgress, type CardState } from './progress';

type Judged = (answer: string, j: Judgement, s?: CardState) => void;
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

/**
 * The latest attempt's verdict (markdown rendered), then the attempts and whether a pass is kept.
 * pending: a new answer is not judged yet — only the earlier attempts show.
 */
function Verdict({ state, pending = false }: { state: CardState; pending?: boolean }) {
  const attempts = state.attempts ?? [];
  const latest =
    attempts.at(-1) ?? (state.pass === undefined ? undefined : { pass: state.pass, message: state.message ?? '' });
  if (!latest) return null;
  return (
    <>
      {!pending && (
        <div
          className={clsx(styles.verdict, latest.pass ? styles.pass : styles.fail)}
          data-testid="exercise-verdict"
          data-pass={String(latest.pass)}
          role="status"
        >
          {latest.pass ? '✓ ' : '✗ '}
          <span dangerouslySetInnerHTML={{ __html: inlineHtml(latest.message) }} />
        </div>
      )}
      {attempts.length > 0 && (
        <p className={styles.note} data-testid="exercise-attempts" data-passed={String(state.pass === true)}>
          {state.pass && (pending || !latest.pass) ? 'Passed before: the pass is kept. ' : ''}
          {pending ? 'Earlier attempts' : 'Attempts'}: {attemptsLine(attempts)}
        </p>
      )}
    </>
  );
}

function Predict({
  ex,
  state,
  update,
  judged,
  runReveal,
}: {
  ex: Prediction;
  state: CardState;
  update: (s: CardState) => void;
  judged: Judged;
  runReveal?: () => unknown;
}) {
  const [choice, setChoice] = useState<string | null>(null);
  const [running, setRunning] = useState(false);
  const locked = state.answer;
  const lockIn = () => choice && update({ answer: choice, judged: false });
  // Judged against what this lab's recordings show, only once the truth is on the page.
  const judge = () =>
    locked !== undefined &&
    judged(locked, judgePrediction(ex, locked, { choice: ex.answer, source: 'the recorded run' }), { judged: true });
  const runThenJudge = async () => {
    setRunning(true);
    try {
      await runReveal?.();
      judge();
    } finally {
      setRunning(false);
    }
  };
  const retry = () => {
    setChoice(null);
    update({ answer: undefined, judged: undefined });
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
      ) : !state.judged ? (
        <p className={styles.note} data-testid="exercise-locked">
          Locked in: <b>{locked}</b>.{' '}
          {runReveal || running ? (
            <>
              Now run it on the notebook kernel: the cells down to the one that shows the truth run live, then your
              answer is judged.{' '}
              <button
                type="button"
                className="button button--sm button--primary"
                onClick={runThenJudge}
                disabled={running}
                data-testid="exercise-run-reveal"
              >
                {running ? 'Running…' : '▶ Run it'}
              </button>{' '}
            </>
          ) : (
            'The recorded run below shows what happened — read it, then ask for the verdict. '
          )}
          <button
            type="button"
            className="button button--sm button--secondary"
            onClick={judge}
            disabled={running}
            data-testid="exercise-show-answer"
          >
            Show the answer
          </button>
        </p>
      ) : (
        <p className={styles.note}>
          Locked in: <b>{locked}</b>.{' '}
          <button
            type="button"
            className="button button--sm button--secondary"
            onClick={retry}
            data-testid="exercise-retry"
          >
            Try again
          </button>
        </p>
      )}
      <Verdict state={state} pending={!state.judged} />
      {state.judged && (
        <p
          className={styles.note}
          data-testid="exercise-why"
          dangerouslySetInnerHTML={{ __html: inlineHtml(ex.why) }}
        />
      )}
    </>
  );
}

function DoIt({
  ex,
  state,
  live,
  outputsOf,
  judged,
}: {
  ex: Extract<Exercise, { kind: 'do' }>;
  state: CardState;
  live: boolean;
  outputsOf: OutputsOf;
  judged: Judged;
}) {
  const [solution, setSolution] = useState(false);
  const answer = outputsOf('answer', true);
  // The cell below is the Check: each run of it on the page's kernel is an attempt, its one-line verdict the result.
  const seen = useRef<string | null>(null);
  useEffect(() => {
    const m = live && answer !== undefined ? new RegExp(`(✓ pass|✗ not yet) · ${ex.name}: (.*)`).exec(answer) : null;
    if (!m) {
      seen.current = null;
      return;
    }
    if (seen.current === m[0]) return;
    seen.current = m[0];
    judged('code', { pass: m[1].startsWith('✓'), message: m[2] });
  }, [live, answer, ex.name, judged]);
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
  judged,
}: {
  ex: Extract<Exercise, { kind: 'explain' }>;
  state: CardState;
  outputsOf: OutputsOf;
  judged: Judged;
}) {
  const [slot, setSlot] = useState('');
  const [frame, setFrame] = useState('');
  const check = () => {
    const stderr = outputsOf('dump') ?? '';
    judged(`${slot.trim()} ${frame.trim()}`, judgeEvidence({ slot, frame, stderr }));
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
  runReveal?: () => unknown;
}) {
  const ex = exercise(name);
  const { progress, update, judged, reset } = useProgress(notebook);
  if (!ex) return <div className="alert alert--warning">Unknown exercise {name}</div>;
  const state = progress[name] ?? {};
  const set = (s: CardState) => update(name, s);
  const judge: Judged = (answer, j, s) => judged(name, answer, j, s);
  return (
    <section className={styles.card} data-exercise={name} data-kind={ex.kind} aria-label={`Exercise: ${ex.title}`}>
      <div className={styles.head}>
        <span className={styles.kind}>{kindLabel[ex.kind]}</span>
        <strong className={styles.grow}>{ex.title}</strong>
        <Progress notebook={notebook} progress={progress} reset={reset} />
      </div>
      <p dangerouslySetInnerHTML={{ __html: inlineHtml(ex.prompt) }} />
      {ex.kind === 'predict' && <Predict ex={ex} state={state} update={set} judged={judge} runReveal={runReveal} />}
      {ex.kind === 'do' && <DoIt ex={ex} state={state} live={live} outputsOf={outputsOf} judged={judge} />}
      {ex.kind === 'explain' && <Explain ex={ex} state={state} outputsOf={outputsOf} judged={judge} />}
      {!(ex.kind === 'predict' && state.judged) && (
        <Hints ex={ex} shown={state.hints ?? 0} show={(n) => set({ hints: n })} />
      )}
    </section>
  );
}
