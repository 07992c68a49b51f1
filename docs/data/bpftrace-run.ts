/**
 * One run of a bpftrace program against a private copy of a lab server binary: the copy runs from a
 * temporary directory as server/server (bpftrace attaches a uretprobe to the file, for every process
 * running it, so nothing else is touched), the requests are sent, and what both wrote is returned with
 * paths made relative. Used by the recorders next to it.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { copyFileSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { root } from '../../core/paths.ts';
import { LabError } from '../../core/errors.ts';
import { relativePaths } from '../../model/notebook-format.ts';

export interface BpftraceRun {
  /** "GET /path → 200 body" or "GET /path → no answer (…)", one per request. */
  answers: string[];
  bpftraceOutput: string;
  serverStderr: string;
  /** How the server ended; null when it was still running after the last request. */
  serverExit: { code: number | null; signal: string | null } | null;
}

/** Output of a child, and a promise for the first match of `re` in it. */
function collect(child: ChildProcess) {
  let out = '';
  const waiters: { re: RegExp; resolve: (m: RegExpMatchArray) => void }[] = [];
  const onData = (d: Buffer) => {
    out += d;
    for (const w of [...waiters]) {
      const m = out.match(w.re);
      if (m) {
        waiters.splice(waiters.indexOf(w), 1);
        w.resolve(m);
      }
    }
  };
  child.stdout?.on('data', onData);
  child.stderr?.on('data', onData);
  return {
    text: () => out,
    wait: (re: RegExp, ms: number, what: string) =>
      new Promise<RegExpMatchArray>((resolve, reject) => {
        const m = out.match(re);
        if (m) return resolve(m);
        const timer = setTimeout(
          () =>
            reject(
              new LabError(
                `${what} did not happen within ${ms / 1000} s: ${out.slice(-300).trim()}`,
                'run as root on a kernel with uprobes; ./lab doctor says what is missing',
              ),
            ),
          ms,
        );
        waiters.push({ re, resolve: (x) => (clearTimeout(timer), resolve(x)) });
      }),
  };
}

const exited = (child: ChildProcess) =>
  new Promise<{ code: number | null; signal: string | null }>((r) =>
    child.exitCode !== null || child.signalCode !== null
      ? r({ code: child.exitCode, signal: child.signalCode })
      : child.once('exit', (code, signal) => r({ code, signal })),
  );

export async function runUnderBpftrace(opts: {
  binary: string;
  program: string;
  requests: string[];
}): Promise<BpftraceRun> {
  const dir = mkdtempSync(join(tmpdir(), 'lab-bpftrace-'));
  mkdirSync(join(dir, 'server'));
  copyFileSync(opts.binary, join(dir, 'server', 'server'));
  const server = spawn('server/server', ['-addr', '127.0.0.1:0'], { cwd: dir, stdio: ['ignore', 'pipe', 'pipe'] });
  const serverOut = collect(server);
  let tracer: ChildProcess | undefined;
  try {
    const [, url] = await serverOut.wait(/listening on (http:\/\/\S+)/, 10_000, 'the server starting');
    tracer = spawn('bpftrace', ['-e', opts.program], { cwd: dir, stdio: ['ignore', 'pipe', 'pipe'] });
    const tracerOut = collect(tracer);
    await tracerOut.wait(/Attaching \d+ probe/, 30_000, 'bpftrace attaching');
    await new Promise((r) => setTimeout(r, 500)); // "Attaching" is printed just before the probe is live
    const answers: string[] = [];
    for (const path of opts.requests) {
      const answer = await fetch(url + path, { signal: AbortSignal.timeout(5000) }).then(
        async (r) => `${r.status} ${(await r.text()).trim()}`,
        (e: Error) => `no answer (${(e.cause as Error | undefined)?.message ?? e.message})`,
      );
      answers.push(`GET ${path} → ${answer}`);
    }
    const serverExit = await Promise.race([exited(server), new Promise<null>((r) => setTimeout(() => r(null), 2000))]);
    // SIGINT lets bpftrace print what it collected; one that hangs while detaching is killed.
    tracer.kill('SIGINT');
    const stopped = await Promise.race([exited(tracer), new Promise<null>((r) => setTimeout(() => r(null), 3000))]);
    if (!stopped) tracer.kill('SIGKILL');
    const rel = (s: string) => relativePaths(s.split(dir + '/').join(''), root);
    return { answers, bpftraceOutput: rel(tracerOut.text()), serverStderr: rel(serverOut.text()), serverExit };
  } finally {
    server.kill('SIGKILL');
    tracer?.kill('SIGKILL');
    rmSync(dir, { recursive: true, force: true });
  }
}
