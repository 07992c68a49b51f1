// Live mode: run notebook cells on a real Jupyter server (tslab kernel) through
// @jupyterlab/services, straight from the page. The server comes from /lab-config.json (written by
// `./lab start` next to the built site) or from what the reader pasted (localStorage).
import type { Kernel, KernelMessage, Session } from '@jupyterlab/services';
import { outputView, type OutputView } from './notebook';

export interface JupyterTarget {
  url: string;
  token: string;
  /** 'lab': from ./lab start; 'reader': pasted into the Live mode form. */
  source: 'lab' | 'reader';
}

const storageKey = 'go-uretprobe-lab.jupyter';

export function savedTarget(): JupyterTarget | null {
  try {
    const v = JSON.parse(localStorage.getItem(storageKey) ?? 'null') as { url?: string; token?: string } | null;
    return v?.url ? { url: v.url, token: v.token ?? '', source: 'reader' } : null;
  } catch {
    return null;
  }
}

export function saveTarget(url: string, token: string): void {
  localStorage.setItem(storageKey, JSON.stringify({ url: normalizeUrl(url), token: token.trim() }));
}

export function forgetTarget(): void {
  localStorage.removeItem(storageKey);
}

export function normalizeUrl(url: string): string {
  const u = new URL(url.trim());
  // A pasted "http://127.0.0.1:8888/lab?token=…" carries the token; the base URL is the origin.
  return `${u.origin}/`;
}

/** The token inside a pasted URL (…?token=…), if any. */
export function tokenFromUrl(url: string): string | null {
  try {
    return new URL(url.trim()).searchParams.get('token');
  } catch {
    return null;
  }
}

/** The lab's Jupyter server as `./lab start` announced it, or null when the site runs without one. */
export async function labTarget(baseUrl: string): Promise<JupyterTarget | null> {
  try {
    const res = await fetch(`${baseUrl}lab-config.json`, { cache: 'no-store' });
    if (!res.ok) return null;
    const config = (await res.json()) as { jupyter?: { url?: string; token?: string } };
    return config.jupyter?.url ? { url: config.jupyter.url, token: config.jupyter.token ?? '', source: 'lab' } : null;
  } catch {
    return null;
  }
}

/** What the reader chose wins over what the lab announced; null when there is neither. */
export async function findTarget(baseUrl: string): Promise<JupyterTarget | null> {
  return savedTarget() ?? (await labTarget(baseUrl));
}

/** Checks that the server answers and accepts the token; throws a one-line reason otherwise. */
export async function checkTarget(t: JupyterTarget): Promise<void> {
  let res: Response;
  try {
    res = await fetch(`${t.url}api/status`, { headers: { Authorization: `token ${t.token}` }, cache: 'no-store' });
  } catch {
    throw new Error(
      `cannot reach Jupyter at ${t.url} — is it running, and does it allow this page's origin (${location.origin})?`,
    );
  }
  if (res.status === 403 || res.status === 401) throw new Error(`Jupyter at ${t.url} rejected the token — paste the current one`);
  if (!res.ok) throw new Error(`Jupyter at ${t.url} answered HTTP ${res.status}`);
}

export type LiveOutput = { clear: true; wait: boolean } | OutputView;
export type KernelState = 'starting' | 'idle' | 'busy' | 'restarting' | 'dead' | 'unknown';

/** One tslab kernel for one notebook page. */
export class LiveSession {
  private constructor(
    private readonly session: Session.ISessionConnection,
    private readonly kernel: Kernel.IKernelConnection,
    private readonly disposeManagers: () => void,
  ) {}

  /**
   * Starts a kernel through a Jupyter session for the notebook's path, so the kernel's working
   * directory is the notebook's directory — as when the notebook runs in JupyterLab (cells require
   * "../kernel-helpers/…").
   */
  static async start(t: JupyterTarget, kernelName: string, notebookPath: string, onState: (s: KernelState) => void): Promise<LiveSession> {
    const { ServerConnection, KernelManager, SessionManager } = await import('@jupyterlab/services');
    const serverSettings = ServerConnection.makeSettings({
      baseUrl: t.url,
      wsUrl: t.url.replace(/^http/, 'ws'),
      token: t.token,
      appendToken: true,
      init: { cache: 'no-store', credentials: 'omit' },
    });
    const kernelManager = new KernelManager({ serverSettings });
    const sessionManager = new SessionManager({ kernelManager, serverSettings });
    await sessionManager.ready;
    const session = await sessionManager.startNew({
      path: notebookPath,
      type: 'notebook',
      name: notebookPath.split('/').pop() ?? notebookPath,
      kernel: { name: kernelName },
    });
    const kernel = session.kernel;
    if (!kernel) throw new Error(`Jupyter started no ${kernelName} kernel`);
    kernel.statusChanged.connect((_, status) => onState(status as KernelState));
    onState(kernel.status as KernelState);
    return new LiveSession(session, kernel, () => {
      sessionManager.dispose();
      kernelManager.dispose();
    });
  }

  get id(): string {
    return this.kernel.id;
  }

  /** Runs code; outputs stream to onOutput as they arrive. Resolves with the reply's status and count. */
  async execute(code: string, onOutput: (o: LiveOutput) => void): Promise<{ status: 'ok' | 'error' | 'abort'; count: number | null }> {
    const future = this.kernel.requestExecute({ code, stop_on_error: true });
    future.onIOPub = (msg: KernelMessage.IIOPubMessage) => {
      const type = msg.header.msg_type;
      if (type === 'clear_output') {
        onOutput({ clear: true, wait: Boolean((msg.content as { wait?: boolean }).wait) });
        return;
      }
      if (type === 'stream' || type === 'execute_result' || type === 'display_data' || type === 'error') {
        const view = outputView({ output_type: type, ...(msg.content as object) });
        if (view) onOutput(view);
      }
    };
    const reply = await future.done;
    const content = reply?.content as { status?: 'ok' | 'error' | 'abort'; execution_count?: number } | undefined;
    return { status: content?.status ?? 'ok', count: content?.execution_count ?? null };
  }

  interrupt(): Promise<void> {
    return this.kernel.interrupt();
  }

  restart(): Promise<void> {
    return this.kernel.restart();
  }

  async shutdown(): Promise<void> {
    try {
      await this.session.shutdown();
    } finally {
      this.disposeManagers();
    }
  }
}
