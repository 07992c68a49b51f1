import { readdirSync, readFileSync } from 'node:fs';
import { release } from 'node:os';
import { basename, join, relative } from 'node:path';
import { KernelManager, ServerConnection, SessionManager } from '@jupyterlab/services';
import type { Kernel, KernelMessage, Session } from '@jupyterlab/services';
import WebSocket from 'ws';
import { parse, shown, type Command } from '../command.ts';
import { writeFileAtomic } from '../../core/files.ts';
import { ensureSetup } from '../setup.ts';
import { buildAll } from '../build.ts';
import { startJupyter, stopJupytersOnSignals, type RunningJupyter } from '../../engines/services/jupyter.ts';
import { goToolchain } from '../../core/go.ts';
import { at, root } from '../../core/paths.ts';
import { LabError } from '../../core/errors.ts';
import { say, step } from '../../core/ui.ts';

export const notebooksDir = at('notebooks');
export const sourceOf = (c: { source: string | string[] }) => sourceText(c.source);

/** nbformat 4 output, as written into .ipynb files. */
export type Output =
  | { output_type: 'stream'; name: string; text: string[] }
  | { output_type: 'display_data'; data: Record<string, unknown>; metadata: Record<string, unknown> }
  | { output_type: 'execute_result'; data: Record<string, unknown>; metadata: Record<string, unknown>; execution_count: number | null }
  | { output_type: 'error'; ename: string; evalue: string; traceback: string[] };

interface NotebookCell {
  cell_type: 'code' | 'markdown' | 'raw';
  source: string | string[];
  metadata: Record<string, unknown>;
  outputs?: Output[];
  execution_count?: number | null;
}
export interface Notebook {
  cells: NotebookCell[];
  metadata: Record<string, unknown>;
  nbformat: number;
  nbformat_minor: number;
}

export interface CellFailure {
  cell: number;
  reason: string;
  text: string;
}

export interface NotebookRun {
  path: string;
  notebook: Notebook;
  failures: CellFailure[];
  seconds: number;
}

/** Every notebook, in story order; `names` picks those whose file name contains any of them. */
export function notebookPaths(names: string[] = []): string[] {
  return readdirSync(notebooksDir)
    .filter((f) => f.endsWith('.ipynb'))
    .filter((f) => names.length === 0 || names.some((n) => f.includes(n)))
    .sort()
    .map((f) => join(notebooksDir, f));
}

const sourceText = (s: string | string[]) => (Array.isArray(s) ? s.join('') : s);
/** nbformat stores multi-line strings as lists of lines, each keeping its newline. */
const lines = (s: string) => s.split(/(?<=\n)/);

const outputText = (outs: Output[]) =>
  outs
    .map((o) =>
      o.output_type === 'stream'
        ? o.text.join('')
        : o.output_type === 'error'
          ? `${o.ename}: ${o.evalue}`
          : String(o.data['text/plain'] ?? Object.keys(o.data).join(', ')),
    )
    .join('');

/**
 * Executes code in one kernel and collects nbformat outputs. Display ids are tracked across
 * requests: a live table made by one cell keeps growing (update_display_data) while later cells run.
 */
export class CellRunner {
  private readonly outputsOf = new Map<string, Output[]>();
  private readonly byDisplayId = new Map<string, Output[]>();
  private readonly onIopub = (_: unknown, msg: KernelMessage.IIOPubMessage) => this.collect(msg);

  constructor(readonly kernel: Kernel.IKernelConnection) {
    kernel.iopubMessage.connect(this.onIopub);
  }

  private collect(msg: KernelMessage.IIOPubMessage): void {
    const parent = (msg.parent_header as { msg_id?: string }).msg_id;
    const type = msg.header.msg_type;
    const c = msg.content as Record<string, any>;
    if (type === 'update_display_data') {
      for (const o of this.byDisplayId.get(c.transient?.display_id) ?? []) {
        if (o.output_type === 'display_data') o.data = c.data;
      }
      return;
    }
    const outs = parent ? this.outputsOf.get(parent) : undefined;
    if (!outs) return;
    if (type === 'stream') {
      const last = outs[outs.length - 1];
      if (last?.output_type === 'stream' && last.name === c.name) last.text = lines(last.text.join('') + c.text);
      else outs.push({ output_type: 'stream', name: c.name, text: lines(c.text) });
    } else if (type === 'display_data' || type === 'execute_result') {
      const o: Output =
        type === 'display_data'
          ? { output_type: 'display_data', data: c.data, metadata: c.metadata ?? {} }
          : { output_type: 'execute_result', data: c.data, metadata: c.metadata ?? {}, execution_count: c.execution_count ?? null };
      outs.push(o);
      const id = c.transient?.display_id;
      if (id) this.byDisplayId.set(id, [...(this.byDisplayId.get(id) ?? []), o]);
    } else if (type === 'error') {
      outs.push({ output_type: 'error', ename: c.ename, evalue: c.evalue, traceback: c.traceback ?? [] });
    }
  }

  /** Runs `code`; resolves with the reply status and the outputs (which later display updates may still change). */
  async run(code: string, timeoutMs = 180_000): Promise<{ status: string; executionCount: number | null; outputs: Output[]; text: string }> {
    const outputs: Output[] = [];
    const future = this.kernel.requestExecute({ code, store_history: true, stop_on_error: true });
    this.outputsOf.set(future.msg.header.msg_id, outputs);
    let timer: Parameters<typeof clearTimeout>[0];
    const reply = await Promise.race([
      future.done,
      new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new LabError(`a cell ran longer than ${timeoutMs / 1000} s`, 'see the cell')), timeoutMs);
      }),
    ]).finally(() => clearTimeout(timer));
    const status = outputs.some((o) => o.output_type === 'error') ? 'error' : reply.content.status;
    const executionCount = (reply.content as { execution_count?: number }).execution_count ?? null;
    return { status, executionCount, outputs, text: outputText(outputs) };
  }

  dispose(): void {
    this.kernel.iopubMessage.disconnect(this.onIopub);
  }
}

export const codeCells = (nb: Notebook) =>
  nb.cells.map((c, i) => [c, i] as const).filter(([c]) => c.cell_type === 'code');

export function connect(jupyter: Pick<RunningJupyter, 'url' | 'token'>) {
  const serverSettings = ServerConnection.makeSettings({
    baseUrl: jupyter.url,
    wsUrl: jupyter.url.replace(/^http/, 'ws'),
    token: jupyter.token,
    WebSocket: WebSocket as unknown as typeof globalThis.WebSocket,
  });
  const kernelManager = new KernelManager({ serverSettings });
  const sessions = new SessionManager({ serverSettings, kernelManager });
  return {
    sessions,
    /** A tslab session for a notebook (its kernel runs in the notebook's directory). */
    async open(path: string): Promise<Session.ISessionConnection> {
      const nbPath = relative(root, path);
      const session = await sessions.startNew({ path: nbPath, type: 'notebook', name: basename(path), kernel: { name: 'tslab' } });
      if (!session.kernel) throw new LabError(`Jupyter started no kernel for ${nbPath}`, 'check the tslab kernelspec (./lab setup)');
      return session;
    },
    dispose() {
      sessions.dispose();
      kernelManager.dispose();
    },
  };
}

/**
 * Runs a notebook in a fresh tslab kernel of `jupyter`, cell after cell, and collects the outputs in
 * nbformat. A cell fails on a non-ok reply or an error output; the run stops there unless
 * `keepGoing` is set (tslab aborts requests for a moment after an error anyway).
 */
export async function executeNotebook(
  path: string,
  jupyter: Pick<RunningJupyter, 'url' | 'token'>,
  opts: { cellTimeoutMs?: number; keepGoing?: boolean; onCell?: (i: number, total: number, kernel: Kernel.IKernelConnection) => void } = {},
): Promise<NotebookRun> {
  const started = Date.now();
  const notebook = JSON.parse(readFileSync(path, 'utf8')) as Notebook;
  const conn = connect(jupyter);
  const session = await conn.open(path);
  const runner = new CellRunner(session.kernel!);
  const failures: CellFailure[] = [];
  const code = codeCells(notebook);
  try {
    let n = 0;
    for (const [cell, index] of code) {
      opts.onCell?.(++n, code.length, session.kernel!);
      const r = await runner.run(sourceText(cell.source), opts.cellTimeoutMs);
      cell.outputs = r.outputs;
      cell.execution_count = r.executionCount;
      if (r.status !== 'ok') {
        failures.push({ cell: index, reason: `reply ${r.status}`, text: r.text.trim().slice(-2000) });
        if (!opts.keepGoing) break;
      }
    }
  } finally {
    runner.dispose();
    await session.shutdown().catch(() => undefined);
    conn.dispose();
  }
  return { path, notebook, failures, seconds: (Date.now() - started) / 1000 };
}

/** Writes a run's outputs back into its .ipynb, with where and when they were recorded. */
export async function saveRecording(run: NotebookRun): Promise<void> {
  const nb = run.notebook;
  const go = await goToolchain().then((t) => t.version).catch(() => 'unknown');
  nb.metadata.lab = { recordedAt: new Date().toISOString(), kernel: release(), go };
  for (const c of nb.cells) c.source = lines(sourceText(c.source));
  await writeFileAtomic(run.path, JSON.stringify(nb, null, 1) + '\n');
}

export const notebooksCommand: Command = {
  name: 'notebooks',
  summary: 'execute every notebook headless on tslab (Jupyter Server); --update records their outputs',
  usage: './lab notebooks [--update] [name…]   — names pick notebooks whose file name contains the text',
  async run(argv) {
    const { values, positionals } = parse('notebooks', argv, { flags: { update: { type: 'bool' } }, positionals: { name: 'name', max: Infinity } });
    console.debug = () => undefined; // @jupyterlab/services logs every WebSocket it opens
    const paths = notebookPaths(positionals);
    if (paths.length === 0) throw new LabError(`no notebook matches ${positionals.map((n) => shown(n)).join(', ')}`, `pick from: ${notebookPaths().map((p) => basename(p)).join(', ')}`);
    await ensureSetup();
    await buildAll();
    await runNotebooks(paths, { update: values.update });
  },
};

/**
 * The notebooks command once the lab is built: one Jupyter for every notebook, stopped on every way
 * out — SIGINT (Ctrl-C), SIGTERM and SIGHUP included, kernels and all.
 */
export async function runNotebooks(paths: string[], opts: { update?: boolean } = {}): Promise<void> {
  const releaseSignals = stopJupytersOnSignals();
  let failed = 0;
  try {
    const jupyter = await step('start Jupyter (tslab kernel)', () => startJupyter());
    try {
      for (const p of paths) {
        const name = basename(p);
        const run = await step(`run ${name}`, () =>
          executeNotebook(p, jupyter, { onCell: (i, n) => process.stderr.write(`\r[lab]   cell ${i}/${n}  `) }),
        );
        process.stderr.write('\n');
        if (run.failures.length > 0) {
          failed++;
          for (const f of run.failures) say(`✗ ${name} cell ${f.cell}: ${f.reason}\n${f.text}`);
        } else if (opts.update) {
          await saveRecording(run);
          say(`recorded ${name} (${run.seconds.toFixed(1)} s)`);
        }
      }
    } finally {
      await jupyter.stop();
    }
  } finally {
    releaseSignals();
  }
  if (failed > 0) throw new LabError(`${failed} of ${paths.length} notebooks failed`, 'see the failing cells above');
  say(`${paths.length} notebooks ran without an error${opts.update ? ' and were recorded' : ''}`);
}

