import { KernelManager, ServerConnection, type Kernel, type KernelMessage } from '@jupyterlab/services';
import WebSocket from 'ws';
import type { AgendaCell, RecordedOutput } from './agenda.ts';

/** Where a running cell's outputs go, as they happen. */
export interface OutputSink {
  output(o: RecordedOutput): void;
  /** `update_display_data`: replace the output that carries this display id. */
  update(displayId: string, o: RecordedOutput): void;
  clear(): void;
}

export interface CellResult {
  status: 'ok' | 'error' | 'aborted';
  executionCount: number | null;
}

/** Executes agenda cells: on the Jupyter server's tslab kernel (live) or by replaying recorded outputs (rehearsal). */
export interface CellRunner {
  readonly mode: 'live' | 'rehearsal';
  execute(cell: AgendaCell, sink: OutputSink): Promise<CellResult>;
  interrupt(): Promise<void>;
  /** Restarts the kernel: its exit handlers release probes and stop servers started by cells. */
  restart(): Promise<void>;
  /** PID-free description for the consoles, e.g. "tslab kernel 052db367 (idle)". */
  describe(): string;
  dispose(): Promise<void>;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Replays the outputs recorded in the notebook, one by one, so the room sees them arrive. */
export class RehearsalRunner implements CellRunner {
  readonly mode = 'rehearsal';
  private count = 0;
  private generation = 0;
  constructor(private readonly delayMs = 120) {}

  async execute(cell: AgendaCell, sink: OutputSink): Promise<CellResult> {
    const gen = this.generation;
    for (const o of cell.recorded) {
      await sleep(this.delayMs);
      if (gen !== this.generation) return { status: 'aborted', executionCount: null };
      const displayId = (o.transient as { display_id?: string } | undefined)?.display_id;
      if (o.output_type === 'update_display_data' && displayId) sink.update(displayId, o);
      else sink.output(o);
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

/** Runs cells on a tslab kernel of a Jupyter server; only this process holds the Jupyter token. */
export class JupyterRunner implements CellRunner {
  readonly mode = 'live';
  private constructor(
    private readonly manager: KernelManager,
    private kernel: Kernel.IKernelConnection,
  ) {}

  /**
   * `cwd`: the kernel's working directory relative to Jupyter's root (notebooks require "../kernel-helpers/…"
   * relative to it). Jupyter's REST API takes it as `path`; the TypeScript types of KernelManager omit it.
   */
  static async start(jupyter: { url: string; token: string }, opts: { kernelName?: string; cwd?: string } = {}): Promise<JupyterRunner> {
    const serverSettings = ServerConnection.makeSettings({
      baseUrl: jupyter.url,
      wsUrl: jupyter.url.replace(/^http/, 'ws'),
      token: jupyter.token,
      appendToken: true,
      WebSocket: WebSocket as unknown as typeof globalThis.WebSocket,
    });
    const manager = new KernelManager({ serverSettings });
    await manager.ready;
    const kernel = await manager.startNew({ name: opts.kernelName ?? 'tslab', ...(opts.cwd ? { path: opts.cwd } : {}) } as { name: string });
    return new JupyterRunner(manager, kernel);
  }

  get kernelId(): string {
    return this.kernel.id;
  }

  async execute(cell: AgendaCell, sink: OutputSink): Promise<CellResult> {
    const future = this.kernel.requestExecute({ code: cell.source, stop_on_error: false });
    future.onIOPub = (msg) => forward(msg, sink);
    const reply = await future.done;
    const content = reply.content as KernelMessage.IExecuteReply;
    const status = content.status as 'ok' | 'error' | 'aborted';
    // tslab aborts every request that arrives within 200 ms of a failed one; let that window pass.
    if (status === 'error') await sleep(300);
    return {
      status: status === 'ok' ? 'ok' : status === 'error' ? 'error' : 'aborted',
      executionCount: content.execution_count ?? null,
    };
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
    try {
      await this.kernel.shutdown();
    } catch {
      // the Jupyter server may already be gone
    }
    this.manager.dispose();
  }
}

function forward(msg: KernelMessage.IIOPubMessage, sink: OutputSink): void {
  const type = msg.header.msg_type;
  const c = msg.content as Record<string, unknown>;
  switch (type) {
    case 'stream':
    case 'display_data':
    case 'execute_result':
    case 'error':
      sink.output({ output_type: type, ...c });
      return;
    case 'update_display_data': {
      const id = (c.transient as { display_id?: string } | undefined)?.display_id;
      if (id) sink.update(id, { output_type: 'display_data', ...c });
      return;
    }
    case 'clear_output':
      sink.clear();
      return;
  }
}
