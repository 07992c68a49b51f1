/** Is a PID alive, and does it run the file we are about to probe. */
import { readFileSync, readlinkSync, statSync, type Stats } from 'node:fs';
import { LabError } from '../../core/errors.ts';
import { isDead, statOf } from '../../core/procfs.ts';

/** A process that has exited (or is a zombie waiting to be reaped) is dead. */
export const processAlive = (pid: number): boolean => !isDead(statOf(pid));

export function checkPid(pid: number): void {
  if (!Number.isInteger(pid) || pid <= 0)
    throw new LabError(`pid ${pid} is not a process id`, 'pass the PID of a running process');
  if (!processAlive(pid))
    throw new LabError(
      `no running process with pid ${pid} (it has exited or never existed)`,
      'start the program first and pass its current PID',
    );
}

/**
 * A uprobe lives on a file's inode: a process started from another copy, or
 * from a file since replaced (rebuilt), would never hit it.
 */
export function checkRuns(pid: number, binary: string): void {
  const ino = statSync(binary).ino;
  let exe: Stats;
  try {
    exe = statSync(`/proc/${pid}/exe`);
  } catch {
    return; // cannot tell (another user's process); the attach will say more
  }
  if (exe.ino === ino) return;
  const maps = readFileSync(`/proc/${pid}/maps`, 'utf8');
  if (maps.split('\n').some((l) => l.split(/\s+/)[4] === String(ino))) return;
  let running = '?';
  try {
    running = readlinkSync(`/proc/${pid}/exe`);
  } catch {}
  throw new LabError(
    `process ${pid} does not run ${binary} (it runs ${running}), so probes on that file would never fire in it`,
    `pass the binary it runs (--binary /proc/${pid}/exe works even if the file was replaced) or drop --pid`,
  );
}
