/**
 * Records the bpftrace one-liner that crashes the lab's server, for the site's BPF page:
 *   node --import tsx docs/data/record-bpftrace.ts      (root; writes docs/data/bpftrace-crash.json)
 * A private copy of server/server runs from a temporary directory as server/server, so the
 * uretprobe (which bpftrace attaches to the file, for every process running it) touches nothing
 * else. Paths in what it records are relative to that directory or $GOROOT.
 */
import { spawn, execFileSync, type ChildProcess } from 'node:child_process';
import { copyFileSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { release, tmpdir } from 'node:os';
import { join } from 'node:path';
import { at, root } from '../../core/paths.ts';
import { writeFileAtomic } from '../../core/files.ts';
import { LabError } from '../../core/errors.ts';
import { relativePaths } from '../../src/components/relativePaths.ts';

export const program = 'uretprobe:server/server:main.demo { printf("main.demo returned %d\\n", retval); }';
const requests = ['/?arg=3', '/?arg=2000'];

/** Output of a child, and a promise for the first chunk matching `re`. */
function collect(child: ChildProcess) {
  let out = '';
  const waiters: { re: RegExp; resolve: (m: RegExpMatchArray) => void }[] = [];
  const onData = (d: Buffer) => {
    out += d;
    for (const w of [...waiters]) {
      const m = out.match(w.re);
      if (m) waiters.splice(waiters.indexOf(w), 1) && w.resolve(m);
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
        const timer = setTimeout(() => reject(new LabError(`${what} did not happen within ${ms / 1000} s:\n${out.slice(-500)}`, 'run as root on a kernel with uprobes; ./lab doctor says what is missing')), ms);
        waiters.push({ re, resolve: (x) => (clearTimeout(timer), resolve(x)) });
      }),
  };
}

const exited = (child: ChildProcess) =>
  new Promise<{ code: number | null; signal: string | null }>((r) =>
    child.exitCode !== null || child.signalCode !== null ? r({ code: child.exitCode, signal: child.signalCode }) : child.once('exit', (code, signal) => r({ code, signal })),
  );

async function record() {
  const dir = mkdtempSync(join(tmpdir(), 'lab-bpftrace-'));
  mkdirSync(join(dir, 'server'));
  copyFileSync(at('server', 'server'), join(dir, 'server', 'server'));
  const server = spawn('server/server', ['-addr', '127.0.0.1:0'], { cwd: dir, stdio: ['ignore', 'pipe', 'pipe'] });
  const serverOut = collect(server);
  let tracer: ChildProcess | undefined;
  try {
    const [, url] = await serverOut.wait(/listening on (http:\/\/\S+)/, 10_000, 'the server starting');
    tracer = spawn('bpftrace', ['-e', program], { cwd: dir, stdio: ['ignore', 'pipe', 'pipe'] });
    const tracerOut = collect(tracer);
    await tracerOut.wait(/Attaching \d+ probe/, 30_000, 'bpftrace attaching');
    await new Promise((r) => setTimeout(r, 500));
    const answers: string[] = [];
    for (const path of requests) {
      const res = await fetch(url + path, { signal: AbortSignal.timeout(5000) }).then(
        async (r) => `${r.status} ${(await r.text()).trim()}`,
        (e: Error) => `no answer (${(e.cause as Error)?.message ?? e.message})`,
      );
      answers.push(`GET ${path} → ${res}`);
    }
    const exit = await Promise.race([exited(server), new Promise<null>((r) => setTimeout(() => r(null), 5000))]);
    if (!exit) throw new LabError('the server survived the uretprobe at ?arg=2000', 'nothing to record: check that server/server is the lab build (./lab build server)');
    tracer.kill('SIGINT');
    await exited(tracer);
    const rel = (s: string) => relativePaths(s.split(dir + '/').join(''), root);
    return {
      recordedAt: new Date().toISOString(),
      kernel: release(),
      bpftrace: execFileSync('bpftrace', ['--version'], { encoding: 'utf8' }).trim(),
      goVersion: /go1\.[\d.]+/.exec(execFileSync('go', ['version', join(dir, 'server', 'server')], { encoding: 'utf8' }))?.[0] ?? 'unknown',
      command: `bpftrace -e '${program}'`,
      requests: answers,
      bpftraceOutput: rel(tracerOut.text()),
      serverExit: exit,
      serverStderr: rel(serverOut.text()),
    };
  } finally {
    server.kill('SIGKILL');
    tracer?.kill('SIGKILL');
    rmSync(dir, { recursive: true, force: true });
  }
}

const file = at('docs', 'data', 'bpftrace-crash.json');
try {
  const rec = await record();
  await writeFileAtomic(file, JSON.stringify(rec, null, 2) + '\n');
  console.log(`recorded: ${rec.requests.join('; ')}; the server exited ${JSON.stringify(rec.serverExit)} → ${file}`);
} catch (e) {
  if (!(e instanceof LabError)) throw e;
  console.error(e.message);
  process.exitCode = 1;
}
