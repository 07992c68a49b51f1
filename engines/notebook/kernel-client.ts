// The one Jupyter kernel client in Node (over @jupyterlab/services): connects to a Jupyter server,
// opens a notebook session or a bare kernel, and runs code collecting nbformat outputs while
// passing each output message on to whoever watches (the workshop's views). Used by ./lab notebooks,
// the workshop and the tests.
import { basename, relative } from 'node:path';
import { KernelManager, ServerConnection, SessionManager } from '@jupyterlab/services';
import type { Kernel, KernelMessage, Session } from '@jupyterlab/services';
import WebSocket from 'ws';
import { root } from '../../core/paths.ts';
import { LabError } from '../../core/errors.ts';
import { fileOutput, outputText, type Output } from '../../model/notebook-format.ts';
import { isOutputMessage, OutputStore } from '../../model/live-outputs.ts';

/** A Jupyter server this process may use: its base URL and token (held by this process only). */
export interface JupyterServer {
  url: string;
  token: string;
}

/**
 * Where a running cell's output messages go as they happen: the iopub message type and content of
 * each stream, display_data, update_display_data, execute_result, error and clear_output.
 */
export type OutputListener = (msgType: string, content: Record<string, unknown>) => void;

export interface RunResult {
  /** The execute request's message id (outputsOf(id) has its outputs as they are now). */
  id: string;
  status: 'ok' | 'error' | 'aborted';
  executionCount: number | null;
  /** nbformat outputs as the reply came (streams merged); later display updates may still change them. */
  outputs: Output[];
  /** What a person reads of the outputs (failure messages). */
  text: string;
}

export interface RunOptions {
  /** No reply within this time is a LabError; default 180 s, Infinity for none (the workshop interrupts by hand). */
  timeoutMs?: number;
  /** Abort the requests queued behind a failing one (Jupyter's stop_on_error); default true. */
  stopOnError?: boolean;
  /** Gets this request's output messages, also those that come after its reply (background tasks). */
  onOutput?: OutputListener;
}

/**
 * Executes code in one kernel and keeps every request's outputs in an OutputStore (model/live-outputs.ts,
 * the same model as the site's and the workshop's views): streams merge, clear_output(wait) waits,
 * and a display id is the kernel's, so a live table made by one cell keeps updating while later
 * cells run.
 */
export class CellRunner {
  private readonly store = new OutputStore<string>();
  private readonly listeners = new Map<string, OutputListener | undefined>();
  private readonly onIopub = (_: unknown, msg: KernelMessage.IIOPubMessage) => this.collect(msg);

  constructor(readonly kernel: Kernel.IKernelConnection) {
    kernel.iopubMessage.connect(this.onIopub);
  }

  private collect(msg: KernelMessage.IIOPubMessage): void {
    const type = msg.header.msg_type;
    if (!isOutputMessage(type)) return;
    const parent = (msg.parent_header as { msg_id?: string }).msg_id ?? '';
    const content = msg.content as Record<string, unknown>;
    const ours = this.listeners.has(parent);
    // An update replaces a display by its id wherever it is; anything else belongs to a request of ours.
    if (!ours && type !== 'update_display_data') return;
    this.store.apply(parent, type, content);
    if (ours) this.listeners.get(parent)?.(type, content);
  }

  /** A request's outputs as they are now, as nbformat writes them. */
  outputsOf(id: string): Output[] {
    return this.store.outputs(id).map((o) => fileOutput(o as Output));
  }

  /** Drops a finished request's kept outputs (its listener still gets what comes later): for callers that keep their own. */
  forget(id: string): void {
    this.store.reset(id);
  }

  /** Runs `code`; resolves with the reply status and the outputs. */
  async run(code: string, opts: RunOptions = {}): Promise<RunResult> {
    const timeoutMs = opts.timeoutMs ?? 180_000;
    const future = this.kernel.requestExecute({ code, store_history: true, stop_on_error: opts.stopOnError ?? true });
    const id = future.msg.header.msg_id;
    this.listeners.set(id, opts.onOutput);
    let timer: ReturnType<typeof setTimeout> | undefined;
    try {
      const reply = await Promise.race([
        future.done,
        ...(Number.isFinite(timeoutMs)
          ? [
              new Promise<never>((_, reject) => {
                timer = setTimeout(
                  () => reject(new LabError(`a cell ran longer than ${timeoutMs / 1000} s`, 'see the cell')),
                  timeoutMs,
                );
              }),
            ]
          : []),
      ]);
      const outputs = this.outputsOf(id);
      const replied = (reply.content as { status: string }).status;
      const status: RunResult['status'] =
        outputs.some((o) => o.output_type === 'error') || replied === 'error'
          ? 'error'
          : replied === 'ok'
            ? 'ok'
            : 'aborted';
      const executionCount = (reply.content as { execution_count?: number }).execution_count ?? null;
      return { id, status, executionCount, outputs, text: outputText(outputs) };
    } finally {
      clearTimeout(timer);
    }
  }

  dispose(): void {
    this.kernel.iopubMessage.disconnect(this.onIopub);
  }
}

/** A connection to a Jupyter server: sessions for notebooks, bare kernels for the workshop. */
export function connect(jupyter: JupyterServer) {
  const serverSettings = ServerConnection.makeSettings({
    baseUrl: jupyter.url,
    wsUrl: jupyter.url.replace(/^http/, 'ws'),
    token: jupyter.token,
    appendToken: true,
    WebSocket: WebSocket as unknown as typeof globalThis.WebSocket,
  });
  const kernelManager = new KernelManager({ serverSettings });
  const sessions = new SessionManager({ serverSettings, kernelManager });
  return {
    sessions,
    /** A tslab session for a notebook (its kernel runs in the notebook's directory). */
    async open(path: string): Promise<Session.ISessionConnection> {
      const nbPath = relative(root, path);
      const session = await sessions.startNew({
        path: nbPath,
        type: 'notebook',
        name: basename(path),
        kernel: { name: 'tslab' },
      });
      if (!session.kernel)
        throw new LabError(`Jupyter started no kernel for ${nbPath}`, 'check the tslab kernelspec (./lab setup)');
      return session;
    },
    /**
     * A kernel without a notebook. `cwd`: its working directory relative to Jupyter's root (notebooks
     * require "../kernel-helpers/…" relative to it); Jupyter's REST API takes it as `path`, which the
     * TypeScript types of KernelManager omit.
     */
    async startKernel(opts: { name?: string; cwd?: string } = {}): Promise<Kernel.IKernelConnection> {
      await kernelManager.ready;
      return kernelManager.startNew({ name: opts.name ?? 'tslab', ...(opts.cwd ? { path: opts.cwd } : {}) } as {
        name: string;
      });
    },
    dispose() {
      sessions.dispose();
      kernelManager.dispose();
    },
  };
}

export type JupyterConnection = ReturnType<typeof connect>;
