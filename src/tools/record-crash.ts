// Records a real uretprobe crash for the site's stack explorer (docs/data/crash-recording.json,
// contract 4): a private copy of the server, bpftrace's uretprobe on main.demo, /?arg=2000 grows
// the stack, the Go runtime dies. The lead's forensics module later rewrites the same schema.
// Run: node --import tsx src/tools/record-crash.ts   (root, real kernel)
import { spawn } from 'node:child_process';
import { copyFile, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ManagedServer } from '../../kernel-helpers/server.ts';
import { at } from '../../cli/paths.ts';
import { crashForensics } from '../lib/crash.ts';

const symbol = 'main.demo';
const request = '/?arg=2000';
// demo(1) returns through the trampoline without growing the stack: it makes the kernel map the
// [uprobes] page so the maps snapshot shows where 0x7fffffffe000 lives.
const warmup = '/?arg=1';

const dir = await mkdtemp(join(tmpdir(), 'lab-crash-'));
const binary = join(dir, 'server');
await copyFile(at('server', 'server'), binary);
const server = await ManagedServer.start({ binary });
const bpftrace = spawn('bpftrace', ['-p', String(server.pid), '-e', `uretprobe:${binary}:${symbol} { }`], {
  stdio: ['ignore', 'pipe', 'pipe'],
});
try {
  let out = '';
  await new Promise<void>((resolve, reject) => {
    const onData = (d: Buffer) => {
      out += d;
      if (/Attaching/.test(out)) resolve();
    };
    bpftrace.stdout!.on('data', onData);
    bpftrace.stderr!.on('data', onData);
    bpftrace.once('exit', (code) => reject(new Error(`bpftrace exited (${code}) before attaching: ${out}`)));
  });
  await new Promise((r) => setTimeout(r, 300)); // "Attaching" is printed just before the attach finishes
  const warm = await server.get(warmup);
  if (warm.status !== 200) throw new Error(`warm-up ${warmup} failed: ${warm.status} ${warm.body}`);
  const maps = await readFile(`/proc/${server.pid}/maps`, 'utf8');
  await server.get(request).catch(() => undefined); // the connection dies with the process
  const exit = await Promise.race([server.exited, new Promise<null>((r) => setTimeout(() => r(null), 10_000))]);
  if (!exit) throw new Error(`${request} did not crash the server under a uretprobe on ${symbol}`);
  const [kernel, goVersion] = await Promise.all([
    readFile('/proc/sys/kernel/osrelease', 'utf8').then((s) => s.trim()),
    new Promise<string>((resolve) => {
      const go = spawn('go', ['version', at('server', 'server')]);
      let s = '';
      go.stdout.on('data', (d) => (s += d));
      go.on('close', () => resolve(/go\d+\.\d+(\.\d+)?/.exec(s)?.[0] ?? 'unknown'));
    }),
  ]);
  const recording = {
    recordedAt: new Date().toISOString(),
    kernel,
    goVersion,
    binary: 'server/server (private copy)',
    symbol,
    warmup,
    request,
    tracer: `bpftrace -p PID -e 'uretprobe:BINARY:${symbol} { }'`,
    exit: { code: exit.code, signal: exit.signal },
    stderr: exit.stderr,
    maps,
    forensics: crashForensics(exit.stderr, maps),
  };
  await writeFile(at('docs', 'data', 'crash-recording.json'), JSON.stringify(recording, null, 2) + '\n');
  console.log(`recorded ${recording.forensics.signature}: ${recording.forensics.frames.length} frames`);
} finally {
  bpftrace.kill('SIGINT');
  await server[Symbol.asyncDispose]();
  await rm(dir, { recursive: true, force: true });
}
