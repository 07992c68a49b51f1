import { useCallback, useEffect, useMemo, useState } from 'react';
import clsx from 'clsx';
import Layout from '@theme/Layout';
import Heading from '@theme/Heading';
import CodeBlock from '@theme/CodeBlock';
import Mermaid from '@theme/Mermaid';
import Link from '@docusaurus/Link';
import useBaseUrl from '@docusaurus/useBaseUrl';
import type { CellView, NotebookView } from '../lib/notebook';
import { outputView, type OutputView } from '../lib/notebook';
import { diagnosisText, proxied } from '../lib/live';
import { Outputs } from './NotebookView/Outputs';
import { CellEditor } from './NotebookView/CellEditor';
import { dropEdit, loadEdit, saveEdit } from './NotebookView/edits';
import { useLiveNotebook, type CellRun } from './NotebookView/useLiveNotebook';
import styles from './NotebookView/styles.module.css';
import ExerciseCard, { exerciseCellRole, FoldedCell, outputsText } from './Exercise';

type Neighbour = { slug: string; title: string } | null;
type Props = { notebook: NotebookView & { previous: Neighbour; next: Neighbour } };

export function RecordingNote({ nb }: { nb: Pick<NotebookView, 'recording' | 'file'> }) {
  const r = nb.recording;
  return (
    <div className={styles.recording} data-testid="recording-note">
      {r?.recordedAt ? (
        <>
          Outputs recorded {r.recordedAt.slice(0, 19).replace('T', ' ')} UTC
          {r.kernel && <> on Linux {r.kernel}</>}
          {r.go && <> with {r.go}</>} by running <code>notebooks/{nb.file}</code> on a real Linux kernel.
        </>
      ) : (
        <>
          Outputs as saved in <code>notebooks/{nb.file}</code> (the notebook carries no recording metadata).
        </>
      )}
    </div>
  );
}

function Markdown({ cell }: { cell: Extract<CellView, { kind: 'markdown' }> }) {
  return (
    <div className={styles.cell}>
      {cell.parts.map((p, i) =>
        'mermaid' in p ? (
          <Mermaid key={i} value={p.mermaid} />
        ) : (
          <div key={i} dangerouslySetInnerHTML={{ __html: p.html }} />
        ),
      )}
    </div>
  );
}

const stateWords: Record<string, string> = {
  none: 'not started (starts at the first Run)',
  starting: 'starting',
  idle: 'idle',
  busy: 'busy',
  restarting: 'restarting',
  dead: 'dead',
  disconnected: 'disconnected',
};

const runWords: Partial<Record<CellRun, string>> = {
  queued: 'queued',
  running: 'running…',
  error: 'failed',
  aborted: 'not run',
};

export default function NotebookPage({ notebook: nb }: Props) {
  const baseUrl = useBaseUrl('/');
  const original = useMemo(() => nb.cells.map((c) => (c.kind === 'code' ? c.source : '')), [nb]);
  const [sources, setSources] = useState<string[]>(original);
  // Edits live in this browser: restored after the first render (the server-rendered page is the original).
  useEffect(
    () => setSources(original.map((s, i) => (nb.cells[i].kind === 'code' ? (loadEdit(nb.slug, i, s) ?? s) : s))),
    [nb, original],
  );
  const edit = useCallback(
    (i: number, source: string) => {
      saveEdit(nb.slug, i, original[i], source);
      setSources((s) => s.map((x, j) => (j === i ? source : x)));
    },
    [nb.slug, original],
  );
  const reset = (i: number) => {
    dropEdit(nb.slug, i);
    setSources((s) => s.map((x, j) => (j === i ? original[i] : x)));
  };

  const live = useLiveNotebook({ baseUrl, kernelName: nb.kernelName, path: `notebooks/${nb.file}`, sources });
  const ready = live.live.phase === 'ready';
  const codeCells = nb.cells.flatMap((c, i) => (c.kind === 'code' ? [i] : []));
  const numberOf = (i: number) => codeCells.indexOf(i) + 1;
  const upTo = (i: number) => codeCells.filter((c) => c <= i);
  const restartAndRunAll = async () => {
    if (!(await live.restart())) return;
    await live.runCells(codeCells);
  };
  const state = live.kernelState;
  /** What an exercise's cell printed: live when this page's kernel ran it, else as recorded (unless liveOnly). */
  const exerciseOutputs = (name: string, part: string, liveOnly?: boolean) => {
    const j = nb.cells.findIndex((c) => c.exercise?.name === name && c.exercise.part === part);
    const c = nb.cells[j];
    return c && outputsText(live.outputs[j] ?? (c.kind === 'code' && !liveOnly ? c.outputs : undefined));
  };
  const target = live.live.phase === 'ready' ? live.live.target : null;

  return (
    <Layout title={nb.title} description={nb.summary}>
      <main className="container margin-vert--lg" data-notebook={nb.slug}>
        <Heading as="h1">{nb.title}</Heading>
        <RecordingNote nb={nb} />
        <div className={styles.liveBar} data-testid="live-bar" data-live={live.live.phase}>
          {live.live.phase === 'looking' && <span className={styles.grow}>Looking for a Jupyter server…</span>}
          {live.live.phase === 'offline' && (
            <span className={styles.grow}>
              No Jupyter server is configured, so this page shows the recorded outputs. To run and edit the cells
              yourself on a privileged notebook kernel, start the lab with <code>./lab start</code> or set a server in{' '}
              <Link to="/live/">Live mode</Link>.
            </span>
          )}
          {live.live.phase === 'unreachable' && (
            <span className={styles.grow} data-testid="live-diagnosis" data-problem={live.live.diagnosis.problem}>
              Live mode is off: {diagnosisText(live.live.diagnosis)}. Showing the recorded outputs.{' '}
              <Link to="/live/">Check the server in Live mode</Link>.
            </span>
          )}
          {target && (
            <span className={styles.grow}>
              Live: cells run on the <code>{nb.kernelName}</code> notebook kernel through{' '}
              {proxied(target) ? 'this site (the lab’s Jupyter)' : <code>{target.url}</code>}
              {target.source === 'reader' ? ' (set in Live mode)' : ' (started by ./lab start)'} ·{' '}
              <a
                href={`${target.url}lab/tree/notebooks/${encodeURIComponent(nb.file)}${target.token ? `?token=${encodeURIComponent(target.token)}` : ''}`}
                target="_blank"
                rel="noreferrer"
              >
                open in JupyterLab
              </a>
              . In a code cell, Tab indents; press <kbd>Esc</kbd> then <kbd>Tab</kbd> to move on.
            </span>
          )}
        </div>
        {target && (
          // What you act on while reading: the notebook kernel's state and the whole-notebook buttons,
          // kept on screen in one opaque row (styles.module.css: small on a phone).
          <section className={styles.controls} data-testid="live-controls" aria-label="Notebook kernel">
            <span className={styles.grow}>
              <span className={styles.wideOnly}>notebook kernel </span>
              <strong
                data-testid="kernel-state"
                data-state={state}
                className={clsx(styles.state, styles[`state-${state}`])}
              >
                {state === 'none' ? 'not started' : state}
              </strong>
              <span className={styles.visuallyHidden}> ({stateWords[state]})</span>
            </span>
            <button
              type="button"
              className="button button--sm button--primary"
              onClick={() => live.runCells(codeCells)}
              disabled={live.busy}
            >
              ▶▶ Run all
            </button>
            <button
              type="button"
              className="button button--sm button--secondary"
              onClick={restartAndRunAll}
              disabled={live.busy && !live.started}
            >
              Restart &amp; run all
            </button>
            <button
              type="button"
              className="button button--sm button--secondary"
              onClick={live.interrupt}
              aria-label="Interrupt the notebook kernel"
              disabled={!live.busy}
            >
              ■<span className={styles.wideOnly}> Interrupt</span>
            </button>
            <button
              type="button"
              className="button button--sm button--secondary"
              onClick={live.restart}
              aria-label="Restart the notebook kernel"
              disabled={!live.started}
            >
              ↻<span className={styles.wideOnly}> Restart</span>
            </button>
          </section>
        )}
        {live.problem && (
          <div
            className="alert alert--danger margin-bottom--md"
            role="alert"
            data-testid="session-problem"
            data-problem={live.problem.problem}
          >
            {diagnosisText(live.problem)}
          </div>
        )}
        {live.notice && (
          <div
            className={clsx('alert margin-bottom--md', live.notice.tone === 'danger' ? 'alert--danger' : 'alert--info')}
            role={live.notice.tone === 'danger' ? 'alert' : 'status'}
            data-testid="live-notice"
          >
            {live.notice.text}
          </div>
        )}
        {nb.cells.length === 0 && <p>This notebook has no cells.</p>}
        {nb.cells.map((cell, i) => {
          const role = cell.exercise && exerciseCellRole(cell.exercise);
          if (role === 'folded' && cell.kind === 'code') return <FoldedCell key={i} cell={cell} />;
          if (role === 'card') {
            // A prediction's check cell follows the cell that shows the truth: Run it runs the notebook up to that cell.
            const check = nb.cells.findIndex(
              (c) => c.exercise?.name === cell.exercise!.name && c.exercise.part === 'check',
            );
            const runReveal = ready && check > 0 && !live.busy ? () => live.runCells(upTo(check - 1)) : undefined;
            return (
              <ExerciseCard
                key={i}
                name={cell.exercise!.name}
                notebook={nb.slug}
                live={ready}
                runReveal={runReveal}
                outputsOf={(part, liveOnly) => exerciseOutputs(cell.exercise!.name, part, liveOnly)}
              />
            );
          }
          if (cell.kind === 'markdown') return <Markdown key={i} cell={cell} />;
          const n = numberOf(i);
          const run = live.runs[i];
          const liveOut = live.outputs[i];
          const edited = sources[i] !== original[i];
          const needed = live.needs[i] ?? [];
          const views = liveOut?.map(outputView).filter((o): o is OutputView => o !== null);
          return (
            <div
              key={i}
              className={clsx(styles.cell, run === 'running' && styles.cellRunning)}
              data-cell={n}
              data-run={run ?? 'none'}
            >
              <div className={styles.codeHeader}>
                <span className={styles.grow}>
                  In [
                  {run === 'running' || run === 'queued'
                    ? '*'
                    : i in live.counts
                      ? (live.counts[i] ?? ' ')
                      : (cell.count ?? ' ')}
                  ]
                  {run && runWords[run] && (
                    <span className={clsx(styles.runState, run === 'running' && styles.running)}> {runWords[run]}</span>
                  )}
                  {edited && <span className={styles.edited}> · edited</span>}
                </span>
                {ready && (
                  <>
                    {edited && (
                      <button
                        type="button"
                        className="button button--sm button--link"
                        onClick={() => reset(i)}
                        aria-label={`Reset cell ${n} to the original`}
                      >
                        Reset
                      </button>
                    )}
                    <button
                      type="button"
                      className="button button--sm button--secondary"
                      onClick={() => live.runCells(upTo(i))}
                      disabled={live.busy}
                      aria-label={`Run cells 1 to ${n}`}
                    >
                      Run to here
                    </button>
                    <button
                      type="button"
                      className="button button--sm button--primary"
                      onClick={() => live.runCells([i])}
                      disabled={live.busy}
                      aria-label={`Run cell ${n}`}
                    >
                      ▶ Run
                    </button>
                  </>
                )}
              </div>
              {ready ? (
                <CellEditor
                  value={sources[i]}
                  label={`Code of cell ${n}`}
                  onChange={(s) => edit(i, s)}
                  onRun={() => !live.busy && live.runCells([i])}
                />
              ) : (
                <CodeBlock language={nb.language === 'typescript' ? 'typescript' : nb.language}>
                  {cell.source}
                </CodeBlock>
              )}
              {needed.length > 0 && (
                <div className="alert alert--warning margin-bottom--sm" data-testid="needs-above">
                  This cell uses what cell{needed.length > 1 ? 's' : ''} {needed.map(numberOf).join(', ')} above define
                  {needed.length > 1 ? '' : 's'}, and the notebook kernel has not run{' '}
                  {needed.length > 1 ? 'them' : 'it'} yet: run the cells above first.{' '}
                  <button
                    type="button"
                    className="button button--sm button--warning"
                    onClick={() => live.runCells(upTo(i))}
                    disabled={live.busy}
                  >
                    Run cells 1–{n}
                  </button>
                </div>
              )}
              {views ? (
                <Outputs outputs={views} live collapsed={needed.length > 0} />
              ) : (
                <Outputs outputs={cell.outputs} live={false} />
              )}
            </div>
          );
        })}
        <nav className={styles.nav} aria-label="Other notebooks">
          <span>{nb.previous && <Link to={`/notebooks/${nb.previous.slug}/`}>← {nb.previous.title}</Link>}</span>
          <span>{nb.next && <Link to={`/notebooks/${nb.next.slug}/`}>{nb.next.title} →</Link>}</span>
        </nav>
      </main>
    </Layout>
  );
}
