import { spawn, type SpawnOptions } from 'node:child_process';
import { LabError } from './errors.ts';

export interface RunOptions extends SpawnOptions {
  /** Collect stdout instead of showing it. */
  capture?: boolean;
  /** What to tell the user when the command fails. */
  fix?: string;
}

/** Runs a command to completion; rejects with a LabError naming the command on failure. */
export function run(cmd: string, args: string[], opts: RunOptions = {}): Promise<string> {
  const { capture, fix, ...spawnOpts } = opts;
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, {
      stdio: capture ? ['ignore', 'pipe', 'pipe'] : ['ignore', 'inherit', 'inherit'],
      ...spawnOpts,
    });
    let out = '';
    let err = '';
    child.stdout?.on('data', (d) => (out += d));
    child.stderr?.on('data', (d) => (err += d));
    child.on('error', (e) =>
      reject(new LabError(`cannot run ${cmd}: ${e.message}`, fix ?? `install ${cmd} (./lab setup)`, { cause: e })),
    );
    child.on('close', (code, signal) => {
      if (code === 0) return resolve(out);
      const tail = err.trim().split('\n').slice(-5).join('\n');
      reject(
        new LabError(`${cmd} ${args.join(' ')} failed (${signal ?? `exit ${code}`})${tail ? `:\n${tail}\n` : ''}`, fix),
      );
    });
  });
}

/** True when the command exists on PATH (or is an existing absolute path). */
export async function have(cmd: string): Promise<boolean> {
  try {
    await run('sh', ['-c', `command -v "$0"`, cmd], { capture: true });
    return true;
  } catch {
    return false;
  }
}
