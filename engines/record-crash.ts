/**
 * Records one real uretprobe crash with the lab's own tracer: the server's
 * crash text, its /proc/PID/maps taken while it was alive, and the forensics
 * read from both. The site's stack explorer and crash page are drawn from it.
 */
import { readFile } from 'node:fs/promises';
import { release } from 'node:os';
import { ManagedServer } from './managed-server.ts';
import { inputsHash, recording } from './recordings.ts';
import { parseCrash, type CrashRecording } from '../model/forensics.ts';
import { openExecutable } from '../bpf/ts/index.ts';
import { LabError } from '../core/errors.ts';

export type { CrashRecording };

export interface RecordCrashOptions {
  binary: string;
  symbol?: string;
  warmup?: string;
  request?: string;
}

export async function recordCrash(opts: RecordCrashOptions): Promise<CrashRecording> {
  const { symbol = 'main.demo', warmup = '/?arg=1', request = '/?arg=2000' } = opts;
  // Refused before anything runs or is copied: a missing file or one that is not a Go program.
  await openExecutable(opts.binary);
  // A private copy: the uretprobe must not touch anyone else's server.
  await using server = await ManagedServer.start({ binary: opts.binary, privateCopy: 'lab-crash-' });
  const exe = await openExecutable(server.binary);
  using _probe = exe.uretprobe(symbol, { pid: server.pid });
  const warm = await server.get(warmup);
  if (warm.status !== 200)
    throw new LabError(`warm-up ${warmup} failed: ${warm.status} ${warm.body}`, 'check the server output');
  const maps = await readFile(`/proc/${server.pid}/maps`, 'utf8');
  await server.get(request);
  const exit = await server.exitWithin(10000);
  if (!exit)
    throw new LabError(
      `${request} did not crash the server under a uretprobe on ${symbol}`,
      'pick a request that grows the stack',
    );
  const forensics = parseCrash(exit.stderr, maps);
  if (!forensics)
    throw new LabError(`the server died (${exit.signal ?? exit.code}) without a Go crash message`, 'see its stderr');
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
}
