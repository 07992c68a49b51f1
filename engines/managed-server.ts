import { spawn, type ChildProcess } from 'node:child_process';
import { constants, rmSync } from 'node:fs';
import { access, copyFile, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { LabError } from '../core/errors.ts';
import { serverBinary } from '../core/paths.ts';

export interface ServerExit {
  code: number | null;
  signal: NodeJS.Signals | null;
  /** Everything the server wrote to stderr — where the Go runtime prints a crash. */
  stderr: string;
}

export interface StartServerOptions {
  binary?: string;
  /** Defaults to a free loopback port. */
  addr?: string;
  /** Called with each chunk the server writes, for live display. */
  onOutput?: (text: string, stream: 'stdout' | 'stderr') => void;
  /** How much of each stream to keep (its end: where a crash is); default 1 MiB. */
  keepBytes?: number;
  /**
   * Run a copy of the binary, placed in a fresh temp dir whose name starts with this prefix, so
   * probes attached to its path touch no one else's process; stop() removes the copy.
   */
  privateCopy?: string;
}

/** A Go server process the lab started and will stop: its URL, PID, output and exit. */
export class ManagedServer implements AsyncDisposable {
  readonly exited: Promise<ServerExit>;
  exit?: ServerExit;
  private constructor(
    readonly child: ChildProcess,
    readonly url: string,
    readonly binary: string,
    private readonly output: { stdout: string; stderr: string },
    private readonly copyDir?: string,
  ) {
    this.exited = new Promise((resolve) =>
      child.once('exit', (code, signal) => {
        this.exit = { code, signal, stderr: this.stderr };
        live.delete(this);
        resolve(this.exit);
      }),
    );
  }

  /** Everything the server has written so far. */
  get stdout(): string {
    return this.output.stdout;
  }

  get stderr(): string {
    return this.output.stderr;
  }

  get pid(): number {
    return this.child.pid!;
  }

  get alive(): boolean {
    return this.exit === undefined;
  }

  static async start(opts: StartServerOptions = {}): Promise<ManagedServer> {
    if (opts.privateCopy === undefined) return ManagedServer.spawn(opts);
    const dir = await mkdtemp(join(tmpdir(), opts.privateCopy));
    privateCopies.add(dir);
    try {
      const copy = join(dir, 'server');
      await copyFile(opts.binary ?? serverBinary, copy);
      return await ManagedServer.spawn({ ...opts, binary: copy }, dir);
    } catch (e) {
      await removeCopy(dir);
      throw e;
    }
  }

  private static async spawn(opts: StartServerOptions, copyDir?: string): Promise<ManagedServer> {
    const binary = opts.binary ?? serverBinary;
    const args = ['-addr', opts.addr ?? '127.0.0.1:0'];
    await access(binary, constants.X_OK).catch((e: Error) => {
      throw new LabError(`cannot start ${binary}: ${e.message}`, 'build it first (./lab build)', { cause: e });
    });
    // Killed when this Node process dies, even by SIGKILL (setpriv --pdeathsig): a killed kernel or
    // test file leaves no server behind. In a process group of its own: Jupyter interrupts a cell by
    // signalling the kernel's whole group, and that must not kill the server a cell started.
    // setpriv execs the binary, so the PID stays the server's own (probes filter on it).
    const child = spawn('setpriv', ['--pdeathsig', 'KILL', '--', binary, ...args], {
      stdio: ['ignore', 'pipe', 'pipe'],
      detached: true,
    });
    // One set of listeners for the server's whole life: the instance reads the same buffers.
    const output = { stdout: '', stderr: '' };
    let onListening: ((url: string) => void) | undefined;
    const keep = opts.keepBytes ?? 1 << 20;
    // A long-lived server under load prints without end: keep the latest output, not all of it.
    const kept = (text: string) => (text.length > keep ? text.slice(-keep) : text);
    child.stdout!.on('data', (d) => {
      output.stdout = kept(output.stdout + d);
      opts.onOutput?.(String(d), 'stdout');
    });
    child.stderr!.on('data', (d) => {
      output.stderr = kept(output.stderr + d);
      opts.onOutput?.(String(d), 'stderr');
      const m = onListening && /listening on (http:\/\/\S+)/.exec(output.stderr);
      if (m) onListening!(m[1]);
    });
    const url = await new Promise<string>((resolve, reject) => {
      onListening = resolve;
      child.once('error', (e) =>
        reject(new LabError(`cannot start ${binary}: ${e.message}`, 'build it first (./lab build)', { cause: e })),
      );
      child.once('exit', (code, signal) =>
        reject(
          new LabError(
            `server exited before listening (${signal ?? `exit ${code}`}): ${output.stderr.trim()}`,
            'see its message above',
          ),
        ),
      );
    });
    onListening = undefined;
    const server = new ManagedServer(child, url, binary, output, copyDir);
    child.removeAllListeners('error');
    live.add(server);
    return server;
  }

  /** GET a path; a dead server gives status 0 and the network error as body. */
  async get(path: string, timeoutMs = 15000): Promise<{ status: number; body: string }> {
    try {
      const res = await fetch(new URL(path, this.url), { signal: AbortSignal.timeout(timeoutMs) });
      return { status: res.status, body: await res.text() };
    } catch (e) {
      return { status: 0, body: String((e as Error).cause ?? e) };
    }
  }

  async stop(): Promise<ServerExit> {
    if (this.alive) {
      this.child.kill('SIGTERM');
      const timer = setTimeout(() => this.child.kill('SIGKILL'), 2000);
      await this.exited;
      clearTimeout(timer);
    }
    if (this.copyDir) await removeCopy(this.copyDir);
    return this.exit!;
  }

  /** The server's exit once it has died, or undefined if it still runs after `ms`. */
  async exitWithin(ms: number): Promise<ServerExit | undefined> {
    let timer: Parameters<typeof clearTimeout>[0];
    const timeout = new Promise<undefined>((r) => (timer = setTimeout(r, ms)));
    const exit = await Promise.race([this.exited, timeout]);
    clearTimeout(timer);
    return exit;
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.stop();
  }
}

const live = new Set<ManagedServer>();
/** Temp dirs of private copies not removed yet. */
const privateCopies = new Set<string>();

async function removeCopy(dir: string): Promise<void> {
  privateCopies.delete(dir);
  await rm(dir, { recursive: true, force: true });
}

/** Every server this process started that is still running. */
export function liveServers(): ManagedServer[] {
  return [...live];
}

/** Stops every server this process started. */
export async function stopAllServers(): Promise<void> {
  await Promise.all([...live].map((s) => s.stop()));
}

process.once('exit', () => {
  for (const s of live) s.child.kill('SIGKILL');
  for (const dir of privateCopies) rmSync(dir, { recursive: true, force: true });
});

/**
 * A server on a private copy of its binary (ManagedServer's `privateCopy`), as a face hands it
 * out — a notebook's LabServer, an exercise's SandboxServer: what callers read of it, and close(),
 * which stops it and removes the copy.
 */
export class PrivateServer {
  protected constructor(readonly managed: ManagedServer) {}

  get url(): string {
    return this.managed.url;
  }
  get pid(): number {
    return this.managed.pid;
  }
  /** The private copy of the binary this server runs (attach probes to this path). */
  get binary(): string {
    return this.managed.binary;
  }
  get alive(): boolean {
    return this.managed.alive;
  }
  get stderr(): string {
    return this.managed.stderr;
  }
  get exit(): ServerExit | undefined {
    return this.managed.exit;
  }

  /** GET a path; a dead server answers status 0 with the network error as body. */
  get(path: string, timeoutMs = 15000): Promise<{ status: number; body: string }> {
    return this.managed.get(path, timeoutMs);
  }

  async close(): Promise<void> {
    await this.managed.stop();
  }
}
