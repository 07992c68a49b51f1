/**
 * The tracer API through the probe service: for a process without CAP_BPF (a hands-on attendee).
 * `remoteProbe(socket, kind, symbol, { pid })` gives the same Probe a root process gets from
 * `openExecutable(path).probe(…)`: an async iterable of TraceEvents with batches(), drops() and
 * close(). The service decides what may be probed; its refusals arrive as LabErrors.
 */
import { connect, type Socket } from 'node:net';
import { createInterface } from 'node:readline';
import { LabError } from '../../core/errors.ts';
import type { Probe } from './probes.ts';
import type { KernelSite } from './inspect.ts';
import type { ProbeKind } from './probe-kinds.ts';
import type { DropCounts, TraceEvent } from './trace-event.ts';
import {
  decodeEvent,
  encodeLine,
  type HeldRemoteProbe,
  type RemoteProbeOptions,
  type Reply,
  type Request,
} from './probe-protocol.ts';

export type { HeldRemoteProbe, RemoteProbeOptions };

/** Where the hands-on workshop's probe service listens (set in each attendee's environment). */
export const probeServiceEnv = 'LAB_PROBE_SERVICE';

type Message = Reply;

class ServiceConnection {
  private socket: Socket;
  private handlers = new Map<number, (m: Message) => void>();
  private nextId = 1;
  private broken?: string;

  constructor(readonly path: string) {
    this.socket = connect(path);
    this.socket.unref();
    this.socket.on('error', (e) => this.fail(`cannot reach the probe service at ${path}: ${e.message}`));
    this.socket.on('close', () => this.fail('the probe service closed the connection'));
    const lines = createInterface({ input: this.socket });
    // readline re-emits its input's errors (a reset connection): already told by the socket's own handler.
    lines.on('error', () => {});
    lines.on('line', (line) => {
      let m: Message;
      try {
        m = JSON.parse(line) as Message;
      } catch {
        return;
      }
      if (typeof m !== 'object' || m === null || Array.isArray(m)) return;
      if (m.id === undefined) {
        if (m.op === 'error') this.fail(`probe service: ${m.error}`);
        return;
      }
      this.handlers.get(m.id)?.(m);
    });
  }

  private fail(why: string): void {
    this.broken ??= why;
    // The next probe connects afresh (a restarted service answers it); this one's probes end here.
    if (connections.get(this.path) === this) connections.delete(this.path);
    for (const h of this.handlers.values()) h({ op: 'error', error: why });
    this.handlers.clear();
  }

  open(request: Omit<Extract<Request, { op: 'attach' }>, 'op' | 'id'>, onMessage: (m: Message) => void): number {
    const id = this.nextId++;
    const broken = this.broken;
    if (broken) {
      queueMicrotask(() => onMessage({ op: 'error', id, error: broken }));
      return id;
    }
    this.handlers.set(id, onMessage);
    this.socket.ref();
    this.socket.write(encodeLine({ ...request, op: 'attach', id }));
    return id;
  }

  /** Asks the service to detach; the probe's handler stays until the service says the kernel let go. */
  release(id: number): void {
    if (!this.handlers.has(id)) return;
    if (!this.broken) this.socket.write(encodeLine({ op: 'detach', id }));
  }

  /** The id is done with: nothing more is routed to it. */
  forget(id: number): void {
    if (!this.handlers.delete(id)) return;
    if (this.handlers.size === 0) this.socket.unref();
  }

  /** Sends a request about probe `id` (or, with a fresh id, about the connection); the reply goes to the id's handler. */
  ask(request: Request): void {
    if (!this.broken) this.socket.write(encodeLine(request));
  }

  /** The probes the service still holds for this connection, from the kernel's fdinfo of their links. */
  held(): Promise<HeldRemoteProbe[]> {
    return new Promise((resolve, reject) => {
      const id = this.nextId++;
      if (this.broken) return resolve([]); // a closed connection: the service released everything it held for it
      this.handlers.set(id, (m) => {
        this.forget(id);
        if (m.op === 'held') resolve(m.probes ?? []);
        else reject(new LabError(`probe service: ${m.op === 'error' ? m.error : `unexpected ${m.op}`}`));
      });
      this.socket.ref();
      this.ask({ op: 'held', id });
    });
  }
}

const connections = new Map<string, ServiceConnection>();
const open = new Set<RemoteProbe>();

/** The remote probes of this process that are not closed. */
export const openRemoteProbes = (): RemoteProbe[] => [...open].filter((p) => !p.closed);
/** Closed remote probes the service has not yet said the kernel let go of. */
export const detachingRemoteProbes = (): RemoteProbe[] => [...open].filter((p) => p.closed);

/** What the probe service still holds for this process, on every connection it has. */
export async function remoteProbesHeld(): Promise<HeldRemoteProbe[]> {
  return (await Promise.all([...connections.values()].map((c) => c.held()))).flat();
}

/** A probe held by the probe service on this process's behalf. */
export class RemoteProbe implements Probe {
  readonly ready: Promise<void>;
  private queue: TraceEvent[] = [];
  private wake?: () => void;
  private error?: LabError;
  private dropped = 0;
  private id: number;
  private conn: ServiceConnection;
  /** kernelSites() calls waiting for the service's answer, in the order they asked. */
  private sitesWanted: ((s: KernelSite[]) => void)[] = [];
  /** Resolves once the service says the kernel has let go of every link (or the connection is gone). */
  readonly detached: Promise<void>;
  closed = false;

  constructor(
    socketPath: string,
    readonly kind: ProbeKind,
    readonly symbol: string,
    opts: RemoteProbeOptions,
  ) {
    let conn = connections.get(socketPath);
    if (!conn) connections.set(socketPath, (conn = new ServiceConnection(socketPath)));
    this.conn = conn;
    let attached!: () => void;
    let refused!: (e: LabError) => void;
    let released!: () => void;
    this.ready = new Promise<void>((res, rej) => ((attached = res), (refused = rej)));
    this.ready.catch(() => {});
    this.detached = new Promise<void>((res) => (released = res));
    const { pid, args, rets, stringArg, readThrough } = opts;
    open.add(this);
    this.id = conn.open({ kind, symbol, pid, args, rets, stringArg, readThrough }, (m) => {
      if (m.op === 'attached') attached();
      else if (m.op === 'event' && m.event) this.queue.push(decodeEvent(m.event));
      else if (m.op === 'drops') this.dropped += m.count ?? 0;
      else if (m.op === 'sites') this.sitesWanted.shift()?.(m.sites ?? []);
      else if (m.op === 'detached') {
        this.dropped += m.kernelDrops ?? 0;
        this.closed = true;
        this.done(released);
      } else if (m.op === 'error') {
        this.error = new LabError(`probe service: ${String(m.error)}`);
        refused(this.error);
        this.closed = true;
        // A refused attach holds nothing; a broken connection released everything (the service closes what a gone connection held).
        this.done(released);
      }
      this.wake?.();
    });
  }

  private done(released: () => void): void {
    open.delete(this);
    this.conn.forget(this.id);
    for (const answer of this.sitesWanted.splice(0)) answer([]);
    released();
  }

  async kernelSites(): Promise<KernelSite[]> {
    await this.ready;
    if (!open.has(this)) return [];
    return new Promise((resolve) => {
      this.sitesWanted.push(resolve);
      this.conn.ask({ op: 'sites', id: this.id });
    });
  }

  drops(): number {
    return this.dropped;
  }

  /** The service reports one total: counted as the ring's (it holds the queue on its side). */
  dropCounts(): DropCounts {
    return { ring: this.dropped, reader: 0 };
  }

  [Symbol.asyncDispose](): Promise<void> {
    this.close();
    return this.detached;
  }

  async *batches(): AsyncIterable<TraceEvent[]> {
    for (;;) {
      if (this.queue.length) {
        const batch = this.queue;
        this.queue = [];
        yield batch;
        continue;
      }
      if (this.error && !this.closed) throw this.error;
      if (this.error) throw this.error;
      if (this.closed) return;
      await new Promise<void>((r) => (this.wake = r));
      this.wake = undefined;
    }
  }

  async *[Symbol.asyncIterator](): AsyncIterator<TraceEvent> {
    for await (const batch of this.batches()) yield* batch;
  }

  close(): void {
    const wasClosed = this.closed;
    this.closed = true;
    if (!wasClosed) this.conn.release(this.id);
    this.wake?.();
  }

  [Symbol.dispose](): void {
    this.close();
  }
}

export function remoteProbe(
  socketPath: string,
  kind: ProbeKind,
  symbol: string,
  opts: RemoteProbeOptions & { pid: number },
): RemoteProbe {
  return new RemoteProbe(socketPath, kind, symbol, opts);
}
