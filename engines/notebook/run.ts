// Running a notebook headless on a tslab kernel and recording its outputs (./lab notebooks, tests).
import { release } from 'node:os';
import { basename } from 'node:path';
import type { Kernel } from '@jupyterlab/services';
import { goToolchain } from '../../core/go.ts';
import { codeCells, outputWithRelativePaths, sourceOf, type Cell, type Notebook } from '../../model/notebook-format.ts';
import { root } from '../../core/paths.ts';
import { readNotebookFile, writeNotebookFile } from './io.ts';
import { CellRunner, connect, type JupyterServer } from './kernel-client.ts';

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

/**
 * Runs a notebook in a fresh tslab kernel of `jupyter`, cell after cell, and collects the outputs in
 * nbformat. A cell fails on a non-ok reply or an error output; the run stops there unless
 * `keepGoing` is set (tslab aborts requests for a moment after an error anyway).
 */
export async function executeNotebook(
  path: string,
  jupyter: JupyterServer,
  opts: {
    cellTimeoutMs?: number;
    keepGoing?: boolean;
    onCell?: (i: number, total: number, kernel: Kernel.IKernelConnection) => void;
  } = {},
): Promise<NotebookRun> {
  const started = Date.now();
  const notebook = readNotebookFile(path);
  const conn = connect(jupyter);
  const session = await conn.open(path);
  const runner = new CellRunner(session.kernel!);
  const failures: CellFailure[] = [];
  const code = codeCells(notebook);
  const ran: [Cell, string][] = [];
  try {
    let n = 0;
    for (const [cell, index] of code) {
      opts.onCell?.(++n, code.length, session.kernel!);
      const r = await runner.run(sourceOf(cell), { timeoutMs: opts.cellTimeoutMs });
      ran.push([cell, r.id]);
      cell.execution_count = r.executionCount;
      if (r.status !== 'ok') {
        failures.push({ cell: index, reason: `reply ${r.status}`, text: r.text.trim().slice(-2000) });
        if (!opts.keepGoing) break;
      }
    }
    // Read last: a live table made by one cell keeps updating while later cells run.
    for (const [cell, id] of ran) cell.outputs = runner.outputsOf(id);
  } finally {
    runner.dispose();
    await session.shutdown().catch(() => undefined);
    conn.dispose();
  }
  return { path, notebook, failures, seconds: (Date.now() - started) / 1000 };
}

/** Writes a run's outputs back into its .ipynb (atomically), with where and when they were recorded. */
export async function saveRecording(run: NotebookRun): Promise<void> {
  const go = await goToolchain()
    .then((t) => t.version)
    .catch(() => 'unknown');
  const { inputsHash, recording } = await import('../recordings.ts');
  const name = `notebook ${basename(run.path).replace(/\.ipynb$/, '')}`;
  for (const cell of run.notebook.cells)
    if (cell.outputs) cell.outputs = cell.outputs.map((o) => outputWithRelativePaths(o, root));
  run.notebook.metadata.lab = {
    recordedAt: new Date().toISOString(),
    kernel: release(),
    go,
    seconds: Math.round(run.seconds * 10) / 10,
    inputsHash: inputsHash(recording(name)),
  };
  await writeNotebookFile(run.path, run.notebook);
}
