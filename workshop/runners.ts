import type { Kernel } from '@jupyterlab/services';
import type { AgendaCell } from './agenda.ts';
import {
  CellRunner,
  connect,
  type JupyterConnection,
  type JupyterServer,
  type OutputListener,
} from '../engines/notebook/kernel-client.ts';
import { setTimeout as sleep } from 'node:timers/promises';

export interface CellResult {
  status: 'ok' | 'error' | 'aborted';
  executionCount: number | null;
}

/** Executes agenda cells: on the Jupyter server's tslab kernel (live) or by replaying recorded outputs (rehearsal). */
export interface RoomRunner {
  readonly mode: 'live' | 'rehearsal';
  /** Runs the cell; its output messages (iopub type and content) go to `onOutput` as they come. */
  execute(cell: AgendaCell, onOutput: OutputListener): Promise<CellResult>;
  interrupt(): Promise<void>;
  /** Restarts the kernel: its exit handlers release probes and stop servers started by cells. */
  restart(): Promise<void>;
  /** PID-free description for the consoles, e.g. "tslab kernel 052db367 (idle)". */
  describe(): string;
  dispose(): Promise<void>;
}

/** Replays the outputs recorded in the notebook, one by one, so the room sees them arrive. */
export class RehearsalRunner implements RoomRunner {
  readonly mode = 'rehearsal';
  private count = 0;
  private generation = 0;
  constructor(private readonly delayMs = 120) {}

  async execute(cell: AgendaCell, onOutput: OutputListener): Promise<CellResult> {
    const gen = this.generation;
    for (const o of cell.recorded) {
      await sleep(this.delayMs);
      if (gen !== this.generation) return { status: 'aborted', executionCount: null };
      // A recording holds each display in its last state (files carry no display ids): plain outputs.
      const { output_type, ...content } = o;
      onOutput(output_type, content);
    }
    const failed = cell.recorded.some((o) => o.output_type === 'error');
    return { status: failed ? 'error' : 'ok', executionCount: ++this.count };
  }

  async interrupt(): Promise<void> {
    this.generation++;
  }

  async restart(): Promise<void> {
    this.generation++;
    this.count = 0;
  }

  describe(): string {
    return 'rehearsal: replaying recorded outputs, nothing executes';
  }

  async dispose(): Promise<void> {
    this.generation++;
  }
}

/** Runs cells on a tslab kernel of a Jupyter server (engines/notebook's client); only this process holds the Jupyter token. */
export class JupyterRunner implements RoomRunner {
  readonly mode = 'live';
  private constructor(
    private readonly conn: JupyterConnection,
    private readonly kernel: Kernel.IKernelConnection,
    private readonly cells: CellRunner,
  ) {}

  /** `cwd`: the kernel's working directory relative to Jupyter's root (see connect().startKernel). */
  static async start(jupyter: JupyterServer, opts: { kernelName?: string; cwd?: string } = {}): Promise<JupyterRunner> {
    const conn = connect(jupyter);
    try {
      const kernel = await conn.startKernel({ name: opts.kernelName, cwd: opts.cwd });
      return new JupyterRunner(conn, kernel, new CellRunner(kernel));
    } catch (e) {
      conn.dispose();
      throw e;
    }
  }

  get kernelId(): string {
    return this.kernel.id;
  }

  async execute(cell: AgendaCell, onOutput: OutputListener): Promise<CellResult> {
    // The instructor interrupts a runaway cell by hand: no timeout; a failing cell does not abort the queue.
    const r = await this.cells.run(cell.source, { onOutput, timeoutMs: Infinity, stopOnError: false });
    this.cells.forget(r.id); // the room keeps the outputs (a day of event streams is not kept twice)
    // tslab aborts every request that arrives within 200 ms of a failed one; let that window pass.
    if (r.status === 'error') await sleep(300);
    return { status: r.status, executionCount: r.executionCount };
  }

  async interrupt(): Promise<void> {
    await this.kernel.interrupt();
  }

  async restart(): Promise<void> {
    await this.kernel.restart();
    // restart() resolves when the server says so; wait until the new kernel answers.
    await this.kernel.requestKernelInfo();
  }

  describe(): string {
    return `tslab kernel ${this.kernel.id.slice(0, 8)} (${this.kernel.status})`;
  }

  async dispose(): Promise<void> {
    this.cells.dispose();
    try {
      await this.kernel.shutdown();
    } catch {
      // the Jupyter server may already be gone
    }
    this.conn.dispose();
  }
}
