/**
 * Records one real uretprobe crash with the lab's own tracer: the server's
 * crash text, its /proc/PID/maps taken while it was alive, and the forensics
 * read from both. The site's stack explorer and crash page are drawn from it.
 */
import { copyFile, mkdtemp, readFile, rm } from 'node:fs/promises';
import { release, tmpdir } from 'node:os';
import { join } from 'node:path';
import { ManagedServer } from './managed-server.ts';
import { inputsHash, recording } from './recordings.ts';
import { parseCrash, type CrashForensics } from './forensics.ts';
import { openExecutable } from '../bpf/ts/index.ts';
import { LabError } from '../core/errors.ts';

export interface CrashRecording {
  recordedAt: string;
  /** The sources it was made from (engines/recordings.ts). */
  inputsHash: string;
  kernel: string;
  goVersion: string;
  binary: string;
  symbol: string;
  /** A shallow call first: the kernel maps the [uprobes] page on the first hijacked return. */
  warmup: string;
  request: string;
  tracer: string;
  exit: { code: number | null; signal: string | null };
  stderr: string;
  maps: string;
  forensics: CrashForensics;
}

export interface RecordCrashOptions {
  binary: string;
  symbol?: string;
  warmup?: string;
  request?: string;
}

/** Resolves undefined after ms unless cancelled: a pending timer would keep the process alive. */
function timeout(ms: number): { done: Promise<undefined>; cancel(): void } {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const done = new Promise<undefined>((r) => {
    timer = setTimeout(() => r(undefined), ms);
  });
  return { done, cancel: () => clearTimeout(timer) };
}

export async function recordCrash(opts: RecordCrashOptions): Promise<CrashRecording> {
  const { symbol = 'main.demo', warmup = '/?arg=1', request = '/?arg=2000' } = opts;
  // Refused before anything runs or is copied: a missing file or one that is not a Go program.
  await openExecutable(opts.binary);
  // A private copy: the uretprobe must not touch anyone else's server.
  const dir = await mkdtemp(join(tmpdir(), 'lab-crash-'));
  const binary = join(dir, 'server');
  try {
    await copyFile(opts.binary, binary);
    await using server = await ManagedServer.start({ binary });
    const exe = await openExecutable(binary);
    using _probe = exe.uretprobe(symbol, { pid: server.pid });
    const warm = await server.get(warmup);
    if (warm.status !== 200) throw new LabError(`warm-up ${warmup} failed: ${warm.status} ${warm.body}`, 'check the server output');
    const maps = await readFile(`/proc/${server.pid}/maps`, 'utf8');
    await server.get(request);
    const wait = timeout(10000);
    const exit = await Promise.race([server.exited, wait.done]).finally(wait.cancel);
    if (!exit) throw new LabError(`${request} did not crash the server under a uretprobe on ${symbol}`, 'pick a request that grows the stack');
    const forensics = parseCrash(exit.stderr, maps);
    if (!forensics) throw new LabError(`the server died (${exit.signal ?? exit.code}) without a Go crash message`, 'see its stderr');
    return {
      recordedAt: new Date().toISOString(),
      inputsHash: inputsHash(recording('crash forensics')),
      kernel: release(),
      goVersion: exe.goVersion ?? 'unknown',
      binary: `${opts.binary} (private copy)`,
      symbol,
      warmup,
      request,
      tracer: `./lab tracer API: openExecutable(binary).uretprobe('${symbol}', { pid })`,
      exit: { code: exit.code, signal: exit.signal },
      stderr: exit.stderr,
      maps,
      forensics,
    };
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}
