import { spawn, type ChildProcess } from 'node:child_process';
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
  /** Kill the server when this Node process dies, even by SIGKILL (setpriv --pdeathsig): a killed notebook kernel leaves no server behind. */
  dieWithParent?: boolean;
  /** How much of each stream to keep (its end: where a crash is); default 1 MiB. */
  keepBytes?: number;
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
    const binary = opts.binary ?? serverBinary;
    const args = ['-addr', opts.addr ?? '127.0.0.1:0'];
    // setpriv execs the binary, so the PID stays the server's own (probes filter on it).
    const child = opts.dieWithParent
      ? spawn('setpriv', ['--pdeathsig', 'KILL', '--', binary, ...args], { stdio: ['ignore', 'pipe', 'pipe'] })
      : spawn(binary, args, { stdio: ['ignore', 'pipe', 'pipe'] });
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
        reject(new LabError(`server exited before listening (${signal ?? `exit ${code}`}): ${output.stderr.trim()}`, 'see its message above')),
      );
    });
    onListening = undefined;
    const server = new ManagedServer(child, url, binary, output);
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
    return this.exit!;
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.stop();
  }
}

const live = new Set<ManagedServer>();

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
});
