import { useCallback, useEffect, useRef, useState } from 'react';
import Layout from '@theme/Layout';
import Heading from '@theme/Heading';
import CodeBlock from '@theme/CodeBlock';
import Mermaid from '@theme/Mermaid';
import Link from '@docusaurus/Link';
import useBaseUrl from '@docusaurus/useBaseUrl';
import type { CellView, NotebookView } from '../lib/notebook';
import { checkTarget, findTarget, LiveSession, type JupyterTarget, type KernelState, type LiveOutput } from '../lib/live';
import type { OutputView } from '../lib/notebook';
import { Outputs } from './NotebookView/Outputs';
import styles from './NotebookView/styles.module.css';

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
          {r.go && <> with {r.go}</>} by running <code>notebooks/{nb.file}</code> on a real kernel.
        </>
      ) : (
        <>
          Outputs as saved in <code>notebooks/{nb.file}</code> (the notebook carries no recording metadata).
        </>
      )}
    </div>
  );
}

type LiveState =
  | { phase: 'looking' }
  | { phase: 'offline' }
  | { phase: 'unreachable'; target: JupyterTarget; reason: string }
  | { phase: 'ready'; target: JupyterTarget };

function Markdown({ cell }: { cell: Extract<CellView, { kind: 'markdown' }> }) {
  return (
    <div className={styles.cell}>
      {cell.parts.map((p, i) =>
        'mermaid' in p ? <Mermaid key={i} value={p.mermaid} /> : <div key={i} dangerouslySetInnerHTML={{ __html: p.html }} />,
      )}
    </div>
  );
}

export default function NotebookPage({ notebook: nb }: Props) {
  const baseUrl = useBaseUrl('/');
  const [live, setLive] = useState<LiveState>({ phase: 'looking' });
  const [kernelState, setKernelState] = useState<KernelState | 'none'>('none');
  const [liveOutputs, setLiveOutputs] = useState<Record<number, OutputView[]>>({});
  const [running, setRunning] = useState<number | null>(null);
  const [liveCounts, setLiveCounts] = useState<Record<number, number | null>>({});
  const [error, setError] = useState<string | null>(null);
  const session = useRef<Promise<LiveSession> | null>(null);

  useEffect(() => {
    let cancelled = false;
    (async () => {
      const target = await findTarget(baseUrl);
      if (cancelled) return;
      if (!target) return setLive({ phase: 'offline' });
      try {
        await checkTarget(target);
        if (!cancelled) setLive({ phase: 'ready', target });
      } catch (e) {
        if (!cancelled) setLive({ phase: 'unreachable', target, reason: (e as Error).message });
      }
    })();
    return () => {
      cancelled = true;
    };
  }, [baseUrl]);

  // The kernel belongs to this page: shut it down when the reader leaves.
  useEffect(() => {
    const stop = () => {
      const s = session.current;
      session.current = null;
      s?.then((k) => k.shutdown()).catch(() => undefined);
    };
    window.addEventListener('pagehide', stop);
    return () => {
      window.removeEventListener('pagehide', stop);
      stop();
    };
  }, []);

  const kernel = useCallback(() => {
    if (live.phase !== 'ready') throw new Error('no Jupyter server');
    session.current ??= LiveSession.start(live.target, nb.kernelName, `notebooks/${nb.file}`, setKernelState).catch((e) => {
      session.current = null;
      throw e;
    });
    return session.current;
  }, [live, nb.kernelName]);

  const run = useCallback(
    async (index: number, code: string) => {
      setError(null);
      setRunning(index);
      setLiveOutputs((o) => ({ ...o, [index]: [] }));
      try {
        const k = await kernel();
        let clearPending = false;
        const reply = await k.execute(code, (out: LiveOutput) => {
          if ('clear' in out) {
            if (out.wait) clearPending = true;
            else setLiveOutputs((o) => ({ ...o, [index]: [] }));
            return;
          }
          setLiveOutputs((o) => {
            const before = clearPending ? [] : (o[index] ?? []);
            clearPending = false;
            return { ...o, [index]: [...before, out] };
          });
        });
        setLiveCounts((c) => ({ ...c, [index]: reply.count }));
      } catch (e) {
        setError(`could not run the cell: ${(e as Error).message}`);
      } finally {
        setRunning(null);
      }
    },
    [kernel],
  );

  const interrupt = async () => {
    const s = await session.current?.catch(() => null);
    await s?.interrupt().catch((e: Error) => setError(`interrupt failed: ${e.message}`));
  };
  const restart = async () => {
    const s = await session.current?.catch(() => null);
    if (!s) return;
    setLiveOutputs({});
    setLiveCounts({});
    await s.restart().catch((e: Error) => setError(`restart failed: ${e.message}`));
  };

  let codeIndex = 0;
  return (
    <Layout title={nb.title} description={nb.summary}>
      <main className="container margin-vert--lg" data-notebook={nb.slug}>
        <Heading as="h1">{nb.title}</Heading>
        <RecordingNote nb={nb} />
        <div className={styles.liveBar} data-testid="live-bar" data-live={live.phase}>
          {live.phase === 'looking' && <span className={styles.grow}>Looking for a Jupyter server…</span>}
          {live.phase === 'offline' && (
            <span className={styles.grow}>
              No Jupyter server is configured, so this page shows the recorded outputs. To run the cells yourself on a privileged
              kernel, start the lab with <code>./lab start</code> or set a server in <Link to="/live/">Live mode</Link>.
            </span>
          )}
          {live.phase === 'unreachable' && (
            <span className={styles.grow}>
              Live mode is off: {live.reason}. Showing the recorded outputs. <Link to="/live/">Change the server</Link>.
            </span>
          )}
          {live.phase === 'ready' && (
            <>
              <span className={styles.grow}>
                Live: cells run on the <code>{nb.kernelName}</code> kernel at <code>{live.target.url}</code>
                {live.target.source === 'reader' ? ' (set in Live mode)' : ' (started by ./lab start)'} · kernel{' '}
                <strong data-testid="kernel-state">{kernelState === 'none' ? 'not started' : kernelState}</strong> ·{' '}
                <a href={`${live.target.url}lab/tree/notebooks/${encodeURIComponent(nb.file)}?token=${encodeURIComponent(live.target.token)}`} target="_blank" rel="noreferrer">
                  open in JupyterLab
                </a>
              </span>
              <button type="button" className="button button--sm button--secondary" onClick={interrupt} aria-label="Interrupt the kernel" disabled={kernelState === 'none'}>
                Interrupt
              </button>
              <button type="button" className="button button--sm button--secondary" onClick={restart} aria-label="Restart the kernel" disabled={kernelState === 'none'}>
                Restart
              </button>
            </>
          )}
        </div>
        {error && (
          <div className="alert alert--danger margin-bottom--md" role="alert">
            {error}
          </div>
        )}
        {nb.cells.length === 0 && <p>This notebook has no cells.</p>}
        {nb.cells.map((cell, i) => {
          if (cell.kind === 'markdown') return <Markdown key={i} cell={cell} />;
          const n = ++codeIndex;
          const liveOut = liveOutputs[i];
          return (
            <div key={i} className={styles.cell} data-cell={n}>
              <div className={styles.codeHeader}>
                <span className={styles.grow}>
                  In [{running === i ? '*' : i in liveCounts ? (liveCounts[i] ?? ' ') : (cell.count ?? ' ')}]
                  {running === i && <span className={styles.running}> running…</span>}
                </span>
                {live.phase === 'ready' && (
                  <button
                    type="button"
                    className="button button--sm button--primary"
                    onClick={() => run(i, cell.source)}
                    disabled={running !== null}
                    aria-label={`Run cell ${n}`}
                  >
                    ▶ Run
                  </button>
                )}
              </div>
              <CodeBlock language={nb.language === 'typescript' ? 'typescript' : nb.language}>{cell.source}</CodeBlock>
              {liveOut ? <Outputs outputs={liveOut} live /> : <Outputs outputs={cell.outputs} live={false} />}
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
