// The live side of a notebook page: which Jupyter server, the notebook kernel's session, the cells'
// live outputs (kept in an OutputStore, so display updates land in place), and the run queue behind
// Run, Run all, Run to here, Restart & run all and Interrupt.
import { useCallback, useEffect, useMemo, useRef, useState } from 'react';
import { OutputStore, type KernelOutput } from '../../../model/live-outputs.ts';
import { releaseCell } from '../../../model/kernel-cells.ts';
import {
  diagnose,
  DiagnosisError,
  diagnosisText,
  findTarget,
  LiveSession,
  type Diagnosis,
  type JupyterTarget,
  type KernelState,
} from '../../lib/live';
import { cellsNeeded } from './needs-above';

export type LivePhase =
  | { phase: 'looking' }
  | { phase: 'offline' }
  | { phase: 'unreachable'; target: JupyterTarget; diagnosis: Diagnosis }
  | { phase: 'ready'; target: JupyterTarget };

export type CellRun = 'queued' | 'running' | 'ok' | 'error' | 'aborted';

export interface Notice {
  tone: 'info' | 'danger';
  text: string;
}

/** Names a cell keeps in the kernel helpers' registry: attach("name", …), keep("name", …), startServer("name"). */
export function keptNames(source: string): string[] {
  const names = Array.from(source.matchAll(/\b(?:attach|keep|startServer)\(\s*(["'`])([^"'`]+)\1/g), (m) => m[2]);
  if (/\bstartServer\(\s*\)/.test(source)) names.push('server');
  return Array.from(new Set(names));
}

export function useLiveNotebook(opts: { baseUrl: string; kernelName: string; path: string; sources: string[] }) {
  const { baseUrl, kernelName, path } = opts;
  const sources = useRef(opts.sources);
  sources.current = opts.sources;
  const [live, setLive] = useState<LivePhase>({ phase: 'looking' });
  const [kernelState, setKernelState] = useState<KernelState | 'none'>('none');
  const [problem, setProblem] = useState<Diagnosis | null>(null);
  const [notice, setNotice] = useState<Notice | null>(null);
  const [runs, setRuns] = useState<Record<number, CellRun>>({});
  const [counts, setCounts] = useState<Record<number, number | null>>({});
  const [needs, setNeeds] = useState<Record<number, number[]>>({});
  const store = useMemo(() => new OutputStore<string>(), []);
  const [outputs, setOutputs] = useState<Record<number, readonly KernelOutput[]>>({});
  const session = useRef<Promise<LiveSession> | null>(null);
  const stopBatch = useRef(false);
  const running = useRef<number | null>(null);
  const busy = Object.values(runs).some((r) => r === 'queued' || r === 'running');

  useEffect(
    () =>
      store.subscribe((changed) =>
        setOutputs((o) => {
          const next = { ...o };
          for (const k of changed) next[Number(k)] = store.outputs(k);
          return next;
        }),
      ),
    [store],
  );

  const connect = useCallback(
    (target: JupyterTarget) => {
      session.current ??= LiveSession.connect(target, kernelName, path, {
        onState: setKernelState,
        onOutput: (cell, type, content) => store.apply(String(cell), type, content),
        onProblem: setProblem,
      }).then(
        (s) => {
          setKernelState(s.current);
          if (s.reused)
            setNotice({
              tone: 'info',
              text: 'Reconnected to this notebook’s notebook kernel, still running: what its cells defined is still there (their outputs from before the reload are not).',
            });
          return s;
        },
        async (e: unknown) => {
          session.current = null;
          throw new DiagnosisError(
            (await diagnose(target)) ?? {
              problem: 'no-kernel',
              what: `Jupyter could not start the ${kernelName} notebook kernel: ${(e as Error).message}`,
              fix: 'run ./lab setup (it installs the kernelspec), then reload',
            },
          );
        },
      );
      return session.current;
    },
    [kernelName, path, store],
  );

  // Which server, and does it answer? A session for this notebook that is already running (a
  // reload, another tab) is joined right away.
  useEffect(() => {
    let cancelled = false;
    (async () => {
      const target = await findTarget(baseUrl);
      if (cancelled) return;
      if (!target) return setLive({ phase: 'offline' });
      const d = await diagnose(target);
      if (cancelled) return;
      if (d) return setLive({ phase: 'unreachable', target, diagnosis: d });
      // Joined before the page says "ready": a Restart & run all clicked at once restarts the joined
      // kernel (it waits for the join) instead of running on it as if nothing ran there.
      const running = await LiveSession.running(target, path);
      if (cancelled) return;
      if (running) connect(target).catch((e: Error) => setNotice({ tone: 'danger', text: e.message }));
      setLive({ phase: 'ready', target });
    })();
    return () => {
      cancelled = true;
    };
  }, [baseUrl, path, connect]);

  // Leaving the page leaves the notebook kernel running, as JupyterLab does: a reload reconnects.
  useEffect(() => {
    const leave = () => {
      void session.current?.then((s) => s.disconnect()).catch(() => undefined);
      session.current = null;
    };
    window.addEventListener('pagehide', leave);
    return () => {
      window.removeEventListener('pagehide', leave);
      leave();
    };
  }, []);

  const kernel = useCallback(() => {
    if (live.phase !== 'ready') throw new Error('no Jupyter server');
    return connect(live.target);
  }, [live, connect]);

  /** Runs cells in order; the first failure stops the rest, as in JupyterLab's Run all. */
  const runCells = useCallback(
    async (cells: number[]) => {
      if (cells.length === 0) return;
      stopBatch.current = false;
      setNotice(null);
      setProblem((p) => (p?.problem === 'kernel-died' ? null : p));
      setRuns((r) => ({ ...r, ...Object.fromEntries(cells.map((c) => [c, 'queued' as const])) }));
      let s: LiveSession;
      try {
        s = await kernel();
      } catch (e) {
        setRuns((r) => ({ ...r, ...Object.fromEntries(cells.map((c) => [c, 'aborted' as const])) }));
        setNotice({ tone: 'danger', text: `Cannot run: ${(e as Error).message}` });
        return;
      }
      for (const [n, cell] of cells.entries()) {
        if (stopBatch.current) {
          setRuns((r) => ({ ...r, ...Object.fromEntries(cells.slice(n).map((c) => [c, 'aborted' as const])) }));
          return;
        }
        running.current = cell;
        store.reset(String(cell));
        setNeeds((x) => ({ ...x, [cell]: [] }));
        setRuns((r) => ({ ...r, [cell]: 'running' }));
        let status: CellRun;
        try {
          const reply = await s.execute(cell, sources.current[cell]);
          setCounts((c) => ({ ...c, [cell]: reply.count }));
          status = reply.status === 'ok' ? 'ok' : reply.status === 'error' ? 'error' : 'aborted';
        } catch (e) {
          status = 'aborted';
          setNotice({
            tone: 'danger',
            text: `Cell could not run: ${e instanceof DiagnosisError ? diagnosisText(e.diagnosis) : (e as Error).message}`,
          });
        } finally {
          running.current = null;
        }
        setRuns((r) => ({ ...r, [cell]: status }));
        if (status === 'error') {
          const needed = cellsNeeded(sources.current, cell, store.outputs(String(cell)));
          if (needed.length) setNeeds((x) => ({ ...x, [cell]: needed }));
        }
        if (status !== 'ok') {
          setRuns((r) => ({ ...r, ...Object.fromEntries(cells.slice(n + 1).map((c) => [c, 'aborted' as const])) }));
          return;
        }
      }
    },
    [kernel, store],
  );

  const interrupt = useCallback(async () => {
    stopBatch.current = true;
    const s = await session.current?.catch(() => null);
    if (!s) return;
    const cell = running.current;
    try {
      await s.interrupt();
    } catch (e) {
      setNotice({ tone: 'danger', text: `Interrupt failed: ${(e as Error).message}` });
      return;
    }
    if (cell === null) return;
    // What the interrupted cell attached or started must not outlive it (a probe left on a server
    // the reader no longer watches): release the names it keeps in the helpers' registry.
    for (let i = 0; i < 100 && running.current === cell; i++) await new Promise((r) => setTimeout(r, 50));
    const names = keptNames(sources.current[cell]);
    if (names.length === 0)
      return setNotice({
        tone: 'info',
        text: 'Interrupted; the cell keeps nothing in the lab’s registry, so there is nothing to release.',
      });
    const { text, reply } = await s
      .internal(releaseCell(names))
      .catch((e: Error) => ({ text: e.message, reply: { status: 'error' as const } }));
    const result = /^\{.*\}$/m.exec(text)?.[0];
    if (reply.status !== 'ok' || !result) {
      return setNotice({
        tone: 'danger',
        text: `Interrupted, but releasing ${names.join(', ')} failed: ${text.trim().split('\n')[0] || reply.status} — use Restart the notebook kernel`,
      });
    }
    const { released } = JSON.parse(result) as { released: string[] };
    setNotice({
      tone: 'info',
      text: released.length
        ? `Interrupted; released what the cell had attached or started: ${released.join(', ')}.`
        : `Interrupted before the cell kept anything (${names.join(', ')}): nothing to release.`,
    });
  }, []);

  /** A fresh notebook kernel: the page's restarted, or (none joined yet) a new one — a kernel this notebook left running is restarted. */
  const restart = useCallback(async () => {
    stopBatch.current = true;
    let s: LiveSession | null;
    if (session.current) s = await session.current.catch(() => null);
    else {
      try {
        s = await kernel();
      } catch (e) {
        setNotice({ tone: 'danger', text: `Cannot start the notebook kernel: ${(e as Error).message}` });
        return false;
      }
      if (!s.reused) return true;
    }
    if (!s) return false;
    setNotice(null);
    setRuns({});
    setCounts({});
    setNeeds({});
    store.resetAll();
    // Said at once: a quick restart's own "restarting" status may never be drawn before "idle".
    setKernelState('restarting');
    try {
      await s.restart();
      return true;
    } catch (e) {
      setNotice({ tone: 'danger', text: `Restart failed: ${(e as Error).message}` });
      return false;
    }
  }, [kernel, store]);

  return {
    live,
    kernelState,
    problem,
    notice,
    runs,
    counts,
    needs,
    outputs,
    busy,
    runCells,
    interrupt,
    restart,
    started: session.current !== null,
  };
}
