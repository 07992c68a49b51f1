/** Child processes the benchmarks start: wait until they say they are ready, read their output, stop them. */
import { spawn, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { createInterface } from 'node:readline';
import { LabError } from '../core/errors.ts';

export interface Child extends AsyncDisposable {
  readonly process: ChildProcess;
  readonly pid: number;
  /** Everything written to stderr so far. */
  stderr(): string;
  /** stdout lines not yet taken by nextLine(). */
  readonly lines: string[];
  /** The next stdout line (waits for it); rejects when the child exits first or after timeoutMs. */
  nextLine(timeoutMs?: number): Promise<string>;
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  alive(): boolean;
  stop(signal?: NodeJS.Signals): Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

export interface StartOptions {
  /** Resolve once stdout or stderr matches this. */
  ready?: RegExp;
  readyTimeoutMs?: number;
  /** Keep stdout lines (default true); false just counts them in `lineCount`. */
  keepLines?: boolean;
  onLine?: (line: string) => void;
  env?: NodeJS.ProcessEnv;
  stdin?: boolean;
}

export async function startChild(cmd: string, args: string[], opts: StartOptions = {}): Promise<Child> {
  const proc = spawn(cmd, args, {
    stdio: [opts.stdin ? 'pipe' : 'ignore', 'pipe', 'pipe'],
    env: opts.env ?? process.env,
  });
  let err = '';
  let out = '';
  const lines: string[] = [];
  const waiters: ((line: string | undefined) => void)[] = [];
  let exitInfo: { code: number | null; signal: NodeJS.Signals | null } | undefined;
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    proc.once('close', (code, signal) => {
      exitInfo = { code, signal };
      for (const w of waiters.splice(0)) w(undefined);
      resolve(exitInfo);
    }),
  );
  proc.stderr!.on('data', (d) => (err += d));
  createInterface({ input: proc.stdout! }).on('line', (line) => {
    if (opts.ready && out.length < 4096) out += line + '\n';
    opts.onLine?.(line);
    const w = waiters.shift();
    if (w) w(line);
    else if (opts.keepLines !== false) lines.push(line);
  });
  const child: Child = {
    process: proc,
    pid: proc.pid ?? -1,
    stderr: () => err,
    lines,
    exited,
    alive: () => exitInfo === undefined,
    nextLine(timeoutMs = 60000) {
      const queued = lines.shift();
      if (queued !== undefined) return Promise.resolve(queued);
      if (exitInfo)
        return Promise.reject(
          new LabError(
            `${cmd} exited (${exitInfo.signal ?? exitInfo.code}): ${err.trim().split('\n').slice(-3).join(' | ')}`,
            'see its message',
          ),
        );
      return new Promise((resolve, reject) => {
        const timer = setTimeout(
          () =>
            reject(
              new LabError(`${cmd} wrote nothing for ${timeoutMs} ms`, 'see its stderr: ' + err.trim().slice(-200)),
            ),
          timeoutMs,
        );
        waiters.push((line) => {
          clearTimeout(timer);
          if (line === undefined)
            reject(
              new LabError(
                `${cmd} exited (${exitInfo?.signal ?? exitInfo?.code}): ${err.trim().split('\n').slice(-3).join(' | ')}`,
                'see its message',
              ),
            );
          else resolve(line);
        });
      });
    },
    async stop(signal: NodeJS.Signals = 'SIGTERM') {
      if (!exitInfo) {
        proc.kill(signal);
        const timer = setTimeout(() => proc.kill('SIGKILL'), 5000);
        await exited;
        clearTimeout(timer);
      }
      return exitInfo!;
    },
    async [Symbol.asyncDispose]() {
      await child.stop();
    },
  };
  await new Promise<void>((resolve, reject) => {
    proc.once('error', (e) =>
      reject(new LabError(`cannot run ${cmd}: ${e.message}`, 'run ./lab build (and ./lab setup)', { cause: e })),
    );
    if (!opts.ready) return proc.once('spawn', () => resolve());
    const ready = opts.ready;
    const timer = setTimeout(
      () =>
        reject(
          new LabError(
            `${cmd} did not get ready in ${opts.readyTimeoutMs ?? 30000} ms: ${err.trim().slice(-300)}`,
            'see its message',
          ),
        ),
      opts.readyTimeoutMs ?? 30000,
    );
    const check = () => {
      if (ready.test(err) || ready.test(out)) {
        clearTimeout(timer);
        resolve();
      }
    };
    proc.stderr!.on('data', check);
    proc.stdout!.on('data', () => setImmediate(check));
    exited.then(() => {
      clearTimeout(timer);
      reject(
        new LabError(
          `${cmd} exited before it was ready: ${err.trim().split('\n').slice(-3).join(' | ')}`,
          'see its message',
        ),
      );
    });
  }).catch(async (e) => {
    proc.kill('SIGKILL');
    throw e;
  });
  return child;
}

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Resident set size of a process in bytes (0 when it is gone). */
export function rssOf(pid: number): number {
  try {
    const m = /^VmRSS:\s+(\d+) kB/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? Number(m[1]) * 1024 : 0;
  } catch {
    return 0;
  }
}

export function percentile(sorted: number[], p: number): number {
  if (sorted.length === 0) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))];
}
