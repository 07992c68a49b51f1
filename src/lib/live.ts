// Live mode: run notebook cells on a real Jupyter server (tslab notebook kernel) through
// @jupyterlab/services, straight from the page. The server comes from /lab-config.json (written by
// `./lab start` next to the built site) or from what the reader pasted (localStorage). When the site
// server proxies Jupyter (at /jupyter/ on the site's own origin) the page holds no Jupyter token: it
// sends the key its grant link left in this origin's localStorage as its token, the browser sends the
// session cookie, and the proxy, given both, adds the real token (model/site-access.ts).
import type { Kernel, KernelMessage, ServerConnection, Session } from '@jupyterlab/services';
import { isOutputMessage } from '../../model/live-outputs.ts';
import { openCommandLine, siteKeyStorage } from '../../model/site-access.ts';

export interface JupyterTarget {
  /** Base URL, ending with a slash. */
  url: string;
  token: string;
  /** 'lab': from ./lab start (direct or through the site's proxy); 'reader': pasted into the Live mode form. */
  source: 'lab' | 'reader';
}

/** Whether the target is the site's own proxy (its token is this browser's key, not Jupyter's). */
export const proxied = (t: JupyterTarget) => t.source === 'lab' && new URL(t.url).origin === location.origin;

/** The key this browser's grant link left for the site's proxy ('' when it never opened one). */
function siteKey(): string {
  try {
    return localStorage.getItem(siteKeyStorage) ?? '';
  } catch {
    return '';
  }
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
  const u = new URL(url.trim(), location.href);
  // A pasted "http://127.0.0.1:8888/lab?token=…" carries the token; the base URL is what comes before /lab.
  const base = u.pathname.replace(/\/(lab|tree|notebooks)(\/.*)?$/, '/');
  return `${u.origin}${base.endsWith('/') ? base : `${base}/`}`;
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
    const config = (await res.json()) as { jupyter?: { url?: string; token?: string } | null };
    const url = config.jupyter?.url;
    if (!url) return null;
    // A relative URL ("/jupyter/") is the site's proxy: this browser's key is the token.
    const target = normalizeUrl(new URL(url, location.href).href);
    const ours = new URL(target).origin === location.origin;
    return { url: target, token: ours ? siteKey() : (config.jupyter?.token ?? ''), source: 'lab' };
  } catch {
    return null;
  }
}

/** What the reader chose wins over what the lab announced; null when there is neither. */
export async function findTarget(baseUrl: string): Promise<JupyterTarget | null> {
  return savedTarget() ?? (await labTarget(baseUrl));
}

/** What is wrong with a Jupyter server, in one line, and what to do about it. */
export interface Diagnosis {
  problem:
    | 'unreachable'
    | 'origin'
    | 'forbidden'
    | 'http'
    | 'gone'
    | 'kernel-died'
    | 'kernel-dead'
    | 'kernel-silent'
    | 'no-kernel';
  what: string;
  fix: string;
}

export const diagnosisText = (d: Diagnosis) => `${d.what} — ${d.fix}`;

const requestInit = (t: JupyterTarget): RequestInit => ({
  cache: 'no-store',
  credentials: proxied(t) ? 'same-origin' : 'omit',
  headers: t.token ? { Authorization: `token ${t.token}` } : {},
});

function forbidden(t: JupyterTarget, status: number): Diagnosis {
  return proxied(t)
    ? {
        problem: 'forbidden',
        what: `Jupyter refused this browser (HTTP ${status}): it holds no grant for this lab, or it was revoked`,
        fix: `open the one-time link ./lab start printed, or run ${openCommandLine} where the lab runs for a new one, in this browser`,
      }
    : {
        problem: 'forbidden',
        what: `Jupyter at ${t.url} refused the token (HTTP ${status})`,
        fix:
          t.source === 'reader'
            ? 'paste the current token in Live mode'
            : 'reload this page after ./lab start; a restarted Jupyter has a new token',
      };
}

/** Checks that the server answers and lets this page in; null when it does. */
export async function diagnose(t: JupyterTarget, timeoutMs = 5000): Promise<Diagnosis | null> {
  let res: Response;
  try {
    res = await fetch(`${t.url}api/status`, { ...requestInit(t), signal: AbortSignal.timeout(timeoutMs) });
  } catch {
    if (!proxied(t)) {
      // Jupyter answers a wrong token with a 403 that carries no CORS header, so the page cannot
      // read it: /api (no token needed) tells whether this origin is allowed at all.
      const originAllowed = await fetch(`${t.url}api`, {
        cache: 'no-store',
        credentials: 'omit',
        signal: AbortSignal.timeout(timeoutMs),
      })
        .then((r) => r.ok)
        .catch(() => false);
      if (originAllowed) return forbidden(t, 403);
      // A refused origin fails the CORS check exactly like a dead server; an opaque request still
      // gets an answer from a live one.
      const answered = await fetch(`${t.url}api/status`, {
        mode: 'no-cors',
        cache: 'no-store',
        signal: AbortSignal.timeout(timeoutMs),
      })
        .then(() => true)
        .catch(() => false);
      if (answered) {
        return {
          problem: 'origin',
          what: `Jupyter at ${t.url} answers but refuses requests from this page's origin (${location.origin})`,
          fix: `start it with --ServerApp.allow_origin_pat matching ${location.origin} (./lab start does), or open this site from an allowed origin`,
        };
      }
    }
    return {
      problem: 'unreachable',
      what: proxied(t) ? `the site server's Jupyter proxy (${t.url}) does not answer` : `nothing answers at ${t.url}`,
      fix: proxied(t)
        ? 'the lab is not running: start it with ./lab start and reload this page'
        : 'start Jupyter (./lab start) or set the server you run in Live mode',
    };
  }
  if (res.status === 403 || res.status === 401) return forbidden(t, res.status);
  // The cookie alone gets the status (a harmless read), nothing else: without the key, no kernel.
  if (res.ok && proxied(t) && !t.token) return forbidden(t, 401);
  if (res.status === 502 || res.status === 503 || res.status === 504) {
    return {
      problem: 'unreachable',
      what: `the site server cannot reach Jupyter (HTTP ${res.status})`,
      fix: 'restart the lab with ./lab start, then reload this page',
    };
  }
  if (!res.ok)
    return {
      problem: 'http',
      what: `Jupyter at ${t.url} answered HTTP ${res.status} to /api/status`,
      fix: 'is this URL a Jupyter server? check it in Live mode',
    };
  return null;
}

/** Every state the page tells the reader: the notebook kernel's own, and the connection's. */
export type KernelState = 'starting' | 'idle' | 'busy' | 'restarting' | 'dead' | 'disconnected';

export interface SessionEvents {
  onState(state: KernelState): void;
  /** An iopub message that changes outputs, for the cell that sent the request it answers. */
  onOutput(cell: number, msgType: string, content: object): void;
  /** Something went wrong outside any one cell (the kernel died, the server left). */
  onProblem(d: Diagnosis | null): void;
}

export type Reply = { status: 'ok' | 'error' | 'abort'; count: number | null };

/** Problems a restored connection ends (a dead notebook kernel stays told). */
const connectionProblems: Diagnosis['problem'][] = ['gone', 'unreachable', 'forbidden', 'origin', 'http'];
const reconnectGraceMs = 1500;

/** tslab aborts every request it gets in the 200 ms after a failed cell (its queue reset). */
const tslabAbortWindowMs = 250;

/**
 * How long a reply waits for its iopub "idle". Right after a restart Jupyter may not have
 * subscribed to the new kernel's iopub yet: the reply comes (shell) and the idle never does, and
 * `future.done` would wait forever.
 */
const idleAfterReplyMs = 3000;

/**
 * How long an idle kernel may stay silent about a cell's request before the request is taken as lost.
 * Any kernel that receives a request says "busy" with its header first: silence this long is no delay.
 */
const lostRequestMs = 15_000;

/** The execute reply: when iopub says idle, or a moment after the reply if iopub stays silent. */
function replyOf(
  future: Kernel.IShellFuture<KernelMessage.IExecuteRequestMsg>,
): Promise<KernelMessage.IExecuteReplyMsg> {
  return new Promise((resolve, reject) => {
    let timer: ReturnType<typeof setTimeout> | undefined;
    future.onReply = (msg) => {
      timer = setTimeout(() => resolve(msg), idleAfterReplyMs);
    };
    future.done.then(
      (msg) => {
        clearTimeout(timer);
        resolve(msg as KernelMessage.IExecuteReplyMsg);
      },
      (e) => {
        clearTimeout(timer);
        reject(e);
      },
    );
  });
}

/**
 * Asks for kernel_info until the kernel's answer is heard on iopub, or `ms` pass (Jupyter's own
 * "nudge"). Until then, after a restart, Jupyter may still be relaying the old kernel (its last "idle")
 * or not yet be subscribed to the new one's iopub: a cell's request sent then can be lost.
 */
async function nudge(kernel: Kernel.IKernelConnection, ms: number): Promise<void> {
  const until = Date.now() + ms;
  let heard = false;
  let hear!: () => void;
  const iopubHeard = new Promise<void>((r) => {
    hear = r;
  });
  // Only the kernel's own answer counts: Jupyter itself sends "starting" and "restarting" on iopub.
  const listen = (_: unknown, msg: KernelMessage.IIOPubMessage) => {
    const parent = msg.parent_header as Partial<KernelMessage.IHeader>;
    if (parent.msg_type === 'kernel_info_request' && parent.session === kernel.clientId) {
      heard = true;
      hear();
    }
  };
  kernel.iopubMessage.connect(listen);
  try {
    while (!heard && Date.now() < until) {
      kernel.requestKernelInfo().catch(() => undefined);
      let timer: ReturnType<typeof setTimeout> | undefined;
      await Promise.race([
        iopubHeard,
        new Promise<void>((r) => {
          timer = setTimeout(r, Math.min(1000, until - Date.now()));
        }),
      ]);
      clearTimeout(timer);
    }
  } finally {
    kernel.iopubMessage.disconnect(listen);
  }
}

/** One tslab notebook kernel for one notebook page, shared with JupyterLab's session for the same notebook. */
export class LiveSession {
  private readonly cellOf = new Map<string, number>();
  /** Requests of our own (releasing after an interrupt): their outputs belong to no cell. */
  private readonly internalIds = new Set<string>();
  private lastCell: number | null = null;
  private lastErrorAt = 0;
  private wasConnected = false;
  private state: KernelState = 'starting';
  private disposed = false;
  private problem: Diagnosis | null = null;
  private dropTimer?: ReturnType<typeof setTimeout>;
  /**
   * The restart the reader asked for, until the new kernel answers on both channels: no death, shown
   * as "restarting" throughout (Jupyter's own statuses flicker "idle" on the way), and a cell run
   * meanwhile waits for it instead of being sent into the reconnect, where Jupyter may lose it.
   */
  private restarting: Promise<void> | null = null;

  private constructor(
    readonly target: JupyterTarget,
    private readonly session: Session.ISessionConnection,
    private readonly kernel: Kernel.IKernelConnection,
    private readonly events: SessionEvents,
    private readonly disposeManagers: () => void,
    /** True when the notebook kernel was already running (a reload, another tab, JupyterLab). */
    readonly reused: boolean,
  ) {
    kernel.statusChanged.connect((_, s) => this.onStatus(s));
    kernel.connectionStatusChanged.connect((_, c) => this.onConnection(c));
    kernel.iopubMessage.connect((_, msg) => this.onIOPub(msg));
    kernel.disposed.connect(() => {
      if (!this.disposed) this.setState('dead');
    });
    this.onConnection(kernel.connectionStatus);
    this.onStatus(kernel.status);
  }

  /**
   * Connects to the notebook's session, or starts one: Jupyter keeps one session per path, so a
   * reload finds the notebook kernel it left — with everything the earlier cells defined. The path
   * is the notebook's, so the kernel's working directory is notebooks/ (cells require "../kernel-helpers/…").
   */
  static async connect(
    t: JupyterTarget,
    kernelName: string,
    notebookPath: string,
    events: SessionEvents,
  ): Promise<LiveSession> {
    const { ServerConnection, KernelManager, SessionManager } = await import('@jupyterlab/services');
    const serverSettings: ServerConnection.ISettings = ServerConnection.makeSettings({
      baseUrl: t.url,
      wsUrl: t.url.replace(/^http/, 'ws'),
      token: t.token,
      appendToken: Boolean(t.token),
      // No Authorization here: @jupyterlab/services appends its own (two make Jupyter answer 403).
      init: { cache: 'no-store', credentials: proxied(t) ? 'same-origin' : 'omit' },
    });
    const kernelManager = new KernelManager({ serverSettings });
    const sessionManager = new SessionManager({ kernelManager, serverSettings });
    const dispose = () => {
      sessionManager.dispose();
      kernelManager.dispose();
    };
    try {
      await sessionManager.ready;
      const existing = await sessionManager.findByPath(notebookPath);
      const reused = Boolean(existing?.kernel && existing.kernel.name === kernelName);
      const session = await sessionManager.startNew({
        path: notebookPath,
        type: 'notebook',
        name: notebookPath.split('/').pop() ?? notebookPath,
        kernel: { name: kernelName },
      });
      const kernel = session.kernel;
      if (!kernel) throw new Error(`Jupyter started no ${kernelName} notebook kernel`);
      const live = new LiveSession(t, session, kernel, events, dispose, reused);
      // An idle notebook kernel says nothing: its answer to kernel_info is what tells its state.
      await kernel.info;
      live.onStatus(kernel.status);
      return live;
    } catch (e) {
      dispose();
      throw e;
    }
  }

  /** Whether a session for this notebook is running already (so the page can join it at load). */
  static async running(t: JupyterTarget, notebookPath: string): Promise<boolean> {
    try {
      const res = await fetch(`${t.url}api/sessions`, { ...requestInit(t), signal: AbortSignal.timeout(5000) });
      const sessions = res.ok
        ? ((await res.json()) as { path?: string; kernel?: { execution_state?: string } | null }[])
        : [];
      return sessions.some((s) => s.path === notebookPath && s.kernel && s.kernel.execution_state !== 'dead');
    } catch {
      return false;
    }
  }

  get id(): string {
    return this.kernel.id;
  }

  get current(): KernelState {
    return this.state;
  }

  private setState(s: KernelState): void {
    if (s === this.state) return;
    this.state = s;
    this.events.onState(s);
  }

  private onStatus(s: Kernel.Status): void {
    if (this.state === 'disconnected' && this.kernel.connectionStatus !== 'connected') return;
    if (this.restarting && s !== 'dead') return;
    if (s === 'autorestarting') {
      this.report({
        problem: 'kernel-died',
        what: 'the notebook kernel died (its process exited) and Jupyter restarted it: what earlier cells defined is gone',
        fix: 'run the cells from the top again (Run all)',
      });
    }
    if (s === 'dead') {
      this.report({
        problem: 'kernel-dead',
        what: 'the notebook kernel is dead and Jupyter gave up restarting it',
        fix: 'use Restart the notebook kernel, then Run all',
      });
    }
    const shown: Record<Kernel.Status, KernelState> = {
      unknown: 'starting',
      starting: 'starting',
      idle: 'idle',
      busy: 'busy',
      terminating: 'restarting',
      restarting: 'restarting',
      autorestarting: 'restarting',
      dead: 'dead',
    };
    this.setState(shown[s]);
  }

  private onConnection(c: Kernel.ConnectionStatus): void {
    clearTimeout(this.dropTimer);
    if (c === 'connected') {
      this.wasConnected = true;
      if (this.state === 'disconnected') {
        if (this.problem && connectionProblems.includes(this.problem.problem)) this.report(null);
        this.state = 'starting'; // the next status wins, whatever it is
      }
      this.onStatus(this.kernel.status);
      return;
    }
    if (!this.wasConnected) return; // the first connection is still being made: "starting"
    // A reconnect of a moment (after an automatic restart, say) is no disconnection.
    this.dropTimer = setTimeout(() => {
      if (this.kernel.connectionStatus === 'connected' || this.disposed) return;
      this.setState('disconnected');
      void this.explainDisconnection();
    }, reconnectGraceMs);
  }

  private report(d: Diagnosis | null): void {
    this.problem = d;
    this.events.onProblem(d);
  }

  /** Why the WebSocket dropped: the server went away, or only the connection did. */
  async explainDisconnection(): Promise<Diagnosis> {
    const d = (await diagnose(this.target, 3000)) ?? {
      problem: 'gone' as const,
      what: 'the connection to the notebook kernel dropped; Jupyter still answers',
      fix: 'wait for it to reconnect, or reload this page (the notebook kernel keeps running)',
    };
    const gone: Diagnosis =
      d.problem === 'unreachable'
        ? {
            problem: 'gone',
            what: `Jupyter stopped answering mid-session (${d.what})`,
            fix: 'start the lab again with ./lab start, then reload this page; earlier cells must run again',
          }
        : d;
    if (this.state === 'disconnected') this.report(gone);
    return gone;
  }

  private onIOPub(msg: KernelMessage.IIOPubMessage): void {
    const type = msg.header.msg_type;
    if (!isOutputMessage(type)) return;
    // Outputs that come after their cell finished (a live table, a late log line) still belong to it;
    // tslab sends them with the header of the cell that ran last.
    const parent = (msg.parent_header as Partial<KernelMessage.IHeader>).msg_id;
    if (parent && this.internalIds.has(parent)) return;
    const known = parent ? this.cellOf.get(parent) : undefined;
    const cell = known ?? this.lastCell;
    if (cell === null) return;
    this.events.onOutput(cell, type, msg.content);
  }

  /** Runs code for cell `cell`; outputs arrive through onOutput. Resolves with the reply. */
  async execute(cell: number, code: string): Promise<Reply> {
    if (this.state === 'disconnected') throw new DiagnosisError(await this.explainDisconnection());
    if (this.state === 'dead') {
      throw new DiagnosisError({
        problem: 'kernel-dead',
        what: 'the notebook kernel is dead',
        fix: 'use Restart the notebook kernel, then Run all',
      });
    }
    if (this.restarting) await this.restarting.catch(() => undefined);
    const wait = this.lastErrorAt + tslabAbortWindowMs - Date.now();
    if (wait > 0) await new Promise((r) => setTimeout(r, wait));
    this.lastCell = cell;
    let reply: KernelMessage.IExecuteReplyMsg;
    try {
      reply = await this.executeReply(cell, code);
    } catch (e) {
      // A future is disposed when the connection or the kernel goes away.
      const now = this.current; // changed while we waited
      if (now === 'disconnected') throw new DiagnosisError(await this.explainDisconnection());
      if (now === 'restarting' || now === 'dead') return { status: 'abort', count: null };
      throw e;
    }
    const content = reply.content as { status?: 'ok' | 'error' | 'abort'; execution_count?: number };
    const status = content.status ?? 'ok';
    if (status === 'error') this.lastErrorAt = Date.now();
    return { status, count: content.execution_count ?? null };
  }

  /**
   * Sends a cell's execute request and waits for its reply. A request the kernel never saw (lost while
   * Jupyter reconnected its channels to a restarted kernel: the kernel sits idle and nothing comes
   * back) is sent again, once; a kernel that heard it says so at once (status busy, with its header).
   * Lost twice, the cell ends with what to do instead of waiting for ever.
   */
  private async executeReply(cell: number, code: string): Promise<KernelMessage.IExecuteReplyMsg> {
    for (let attempt = 1; ; attempt++) {
      const future = this.kernel.requestExecute({ code, stop_on_error: true });
      this.cellOf.set(future.msg.header.msg_id, cell);
      const reply = replyOf(future);
      if (!(await this.lost(future, reply))) return reply;
      reply.catch(() => undefined);
      future.dispose();
      if (attempt === 2) {
        throw new DiagnosisError({
          problem: 'kernel-silent',
          what: 'the notebook kernel is idle but did not take this cell (its request was lost twice on the way)',
          fix: 'use Restart the notebook kernel, then run the cell again',
        });
      }
    }
  }

  /** Whether the kernel stayed idle and silent about `future`'s request for lostRequestMs. */
  private lost(future: Kernel.IShellFuture, reply: Promise<unknown>): Promise<boolean> {
    return new Promise<boolean>((resolve) => {
      const sent = Date.now();
      const poll = setInterval(() => {
        if (Date.now() - sent >= lostRequestMs && this.state === 'idle') settle(true);
      }, 500);
      const settle = (v: boolean) => {
        clearInterval(poll);
        resolve(v);
      };
      future.onIOPub = () => settle(false);
      reply.then(
        () => settle(false),
        () => settle(false),
      );
    });
  }

  /** Runs code of our own (not a reader's cell) and returns what it printed. */
  async internal(code: string): Promise<{ reply: Reply; text: string }> {
    const wait = this.lastErrorAt + tslabAbortWindowMs - Date.now();
    if (wait > 0) await new Promise((r) => setTimeout(r, wait));
    let text = '';
    const future = this.kernel.requestExecute({ code, stop_on_error: false, silent: false, store_history: false });
    this.internalIds.add(future.msg.header.msg_id);
    future.onIOPub = (msg) => {
      const c = msg.content as { text?: string; data?: Record<string, string> };
      if (msg.header.msg_type === 'stream') text += c.text ?? '';
      if (msg.header.msg_type === 'execute_result') text += c.data?.['text/plain'] ?? '';
    };
    const reply = (await replyOf(future)).content as { status: 'ok' | 'error' | 'abort'; execution_count?: number };
    if (reply.status === 'error') this.lastErrorAt = Date.now();
    return { reply: { status: reply.status, count: null }, text };
  }

  interrupt(): Promise<void> {
    return this.kernel.interrupt();
  }

  async restart(): Promise<void> {
    this.cellOf.clear();
    this.lastCell = null;
    this.report(null);
    const restarted = (async () => {
      await this.kernel.restart();
      // restart() resolves when Jupyter says so; the new process answers a moment later.
      await nudge(this.kernel, 30_000);
    })();
    this.restarting = restarted;
    this.setState('restarting');
    try {
      await restarted;
    } finally {
      this.restarting = null;
      this.onStatus(this.kernel.status);
    }
  }

  /** Leaves the notebook kernel running (a reload reconnects to it). */
  disconnect(): void {
    this.disposed = true;
    this.session.dispose();
    this.disposeManagers();
  }

  async shutdown(): Promise<void> {
    this.disposed = true;
    try {
      await this.session.shutdown();
    } finally {
      this.disposeManagers();
    }
  }
}

/** An error that carries its diagnosis. */
export class DiagnosisError extends Error {
  constructor(readonly diagnosis: Diagnosis) {
    super(diagnosisText(diagnosis));
  }
}
