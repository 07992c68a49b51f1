/**
 * Installers (apt-get, pip, npm) talk a lot: their output goes to a log file under .lab/logs/,
 * the terminal gets the lab's step lines, the log's path and — when the installer fails — the
 * end of the log.
 */
import { spawn } from 'node:child_process';
import { closeSync, mkdirSync, openSync, readFileSync, writeSync } from 'node:fs';
import { join, relative } from 'node:path';
import { at, root } from './paths.ts';
import { LabError } from './errors.ts';
import { say } from './ui.ts';

export const logsDir = at('.lab', 'logs');

/** The last `lines` lines of a log, for a failure message. */
export function logTail(path: string, lines = 20): string {
  return readFileSync(path, 'utf8').trimEnd().split('\n').slice(-lines).join('\n');
}

/**
 * Runs an installer with its output appended to .lab/logs/<log>.log; rejects with a LabError
 * carrying the log's tail and path when it fails.
 */
export async function runInstaller(
  log: string,
  cmd: string,
  args: string[],
  opts: { env?: NodeJS.ProcessEnv; cwd?: string; fix?: string } = {},
): Promise<void> {
  mkdirSync(logsDir, { recursive: true });
  const path = join(logsDir, `${log}.log`);
  const shownPath = relative(root, path);
  const fd = openSync(path, 'a', 0o600);
  writeSync(fd, `\n$ ${cmd} ${args.join(' ')}   # ${new Date().toISOString()}\n`);
  say(`  ${cmd} ${args[0] ?? ''}: output in ${shownPath}`);
  const result = await new Promise<{ code: number | null; signal: NodeJS.Signals | null } | Error>((resolve) => {
    const child = spawn(cmd, args, { stdio: ['ignore', fd, fd], env: opts.env ?? process.env, cwd: opts.cwd });
    child.once('error', resolve);
    child.once('close', (code, signal) => resolve({ code, signal }));
  });
  closeSync(fd);
  if (result instanceof Error)
    throw new LabError(`cannot run ${cmd}: ${result.message}`, opts.fix ?? `install ${cmd}`, { cause: result });
  if (result.code !== 0) {
    throw new LabError(
      `${cmd} ${args.join(' ').slice(0, 120)} failed (${result.signal ?? `exit ${result.code}`}); the end of ${shownPath}:\n${logTail(path)}\n`,
      opts.fix ?? `read ${shownPath}, fix the cause, then run ./lab setup again`,
    );
  }
}
