/**
 * Where a check runs a learner's attempt: fresh private servers (a copy of the binary each, so no
 * probe touches anyone else's process) and the attempt's probes, all closed when the check ends —
 * whatever the attempt did or threw.
 */
import { readFile } from 'node:fs/promises';
import {
  detachingProbes,
  openExecutable,
  openProbes,
  uprobeLinksHeld,
  type Probe,
  type TracedExecutable,
} from '../../bpf/ts/index.ts';
import { buildDefaultServer } from '../../core/go.ts';
import { LabError } from '../../core/errors.ts';
import { ManagedServer, PrivateServer } from '../managed-server.ts';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** A server an attempt may probe, crash or stop; `exe` is its private binary, opened for tracing. */
export class SandboxServer extends PrivateServer {
  private constructor(
    managed: ManagedServer,
    readonly exe: TracedExecutable,
  ) {
    super(managed);
  }

  static async start(binary: string): Promise<SandboxServer> {
    const managed = await ManagedServer.start({ binary, privateCopy: 'lab-exercise-' });
    try {
      return new SandboxServer(managed, await openExecutable(managed.binary));
    } catch (e) {
      await managed.stop();
      throw e;
    }
  }

  /** /proc/PID/maps now ('' once the server is gone). */
  async maps(): Promise<string> {
    return readFile(`/proc/${this.pid}/maps`, 'utf8').catch(() => '');
  }

  /**
   * GET a path once every probe opened so far is attached: a local probe is when probe() returns,
   * one through the probe service (a hands-on attendee) when the service answers — so an attempt
   * that attaches and then sends a request means the same for both.
   */
  override async get(path: string, timeoutMs?: number): Promise<{ status: number; body: string }> {
    await Promise.allSettled(openProbes().map((p) => p.ready));
    return super.get(path, timeoutMs);
  }

  /** True once the server has died, waiting at most `ms` for it. */
  async diesWithin(ms: number): Promise<boolean> {
    return (await this.managed.exitWithin(ms)) !== undefined;
  }
}

/** Uprobe links the kernel holds for this process's probes (its own fdinfo, and the probe service's for it). */
const uprobeLinks = async () => (await uprobeLinksHeld()).length;

/** What a "do it" attempt is called with. */
export interface AttemptContext {
  /** A fresh private server, started for this check. */
  server: SandboxServer;
  /** The server's binary, opened for tracing (server.exe). */
  exe: TracedExecutable;
  /** One more fresh server (with its own `exe`), for experiments that crash servers; closed with the check. */
  startServer(): Promise<SandboxServer>;
}

export type Attempt = (ctx: AttemptContext) => unknown;

/** Servers and probes made during one check; close() leaves none of them. */
export class Sandbox {
  private readonly servers: SandboxServer[] = [];
  private readonly probesBefore = new Set<Probe>(openProbes());

  private constructor(
    readonly binary: string,
    private readonly linksBefore: number,
  ) {}

  /** The machine's server build (rebuilt when its sources changed). */
  static async open(): Promise<Sandbox> {
    const binary = await buildDefaultServer().catch((e) => {
      throw new LabError(`cannot build the server for the check: ${(e as Error).message}`, 'run ./lab build server', {
        cause: e,
      });
    });
    return new Sandbox(binary, await uprobeLinks());
  }

  async startServer(): Promise<SandboxServer> {
    const s = await SandboxServer.start(this.binary);
    this.servers.push(s);
    return s;
  }

  async context(): Promise<AttemptContext> {
    const server = await this.startServer();
    return { server, exe: server.exe, startServer: () => this.startServer() };
  }

  /** Probes opened since the sandbox was, oldest first. */
  newProbes(): Probe[] {
    return openProbes().filter((p) => !this.probesBefore.has(p));
  }

  async close(): Promise<void> {
    const probes = this.newProbes();
    for (const p of probes) p.close();
    // The attempt's own closed probes too: through the probe service, detached is the service's word that the kernel let go.
    await Promise.all([...probes, ...detachingProbes()].map((p) => p.detached));
    await Promise.all(this.servers.splice(0).map((s) => s.close()));
    // Probes the attempt closed itself detach in the background: wait until the kernel shows none of them.
    for (let i = 0; i < 60 && (await uprobeLinks()) > this.linksBefore; i++) await sleep(50);
  }
}

/** An attempt saved as source (what Function.prototype.toString gave in the kernel) made callable again. */
export function attemptFromSource(source: string): Attempt {
  let fn: unknown;
  try {
    fn = new Function(`"use strict"; return (${source});`)();
  } catch (e) {
    throw new LabError(`the saved attempt does not compile: ${(e as Error).message}`, 'run the exercise cell again');
  }
  if (typeof fn !== 'function')
    throw new LabError('the saved attempt is not a function', 'run the exercise cell again');
  return fn as Attempt;
}
