/** Is a PID alive, and does it run the file we are about to probe; who it runs as; holding on to it. */
import { constants, readFileSync, readlinkSync, statSync, type Stats } from 'node:fs';
import { open, readFile, type FileHandle } from 'node:fs/promises';
import { LabError } from '../../core/errors.ts';

/** A process that has exited (or is a zombie waiting to be reaped) is dead. */
export function processAlive(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3) !== 'Z';
  } catch {
    return false;
  }
}

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

/** Who a process runs as, from its /proc/PID/status: every uid and gid the kernel keeps, and its capabilities. */
export interface ProcessCredentials {
  /** Real, effective, saved and filesystem uid. */
  uids: number[];
  /** Real, effective, saved and filesystem gid. */
  gids: number[];
  /** Permitted, effective and ambient capability sets (0n: none). */
  capPrm: bigint;
  capEff: bigint;
  capAmb: bigint;
  /** Its PID in each PID namespace it is in, the outermost (this /proc's) first, its own last. */
  nspid: number[];
}

export function credentialsOf(status: string): ProcessCredentials {
  const line = (key: string) => new RegExp(`^${key}:\\s*(.*)$`, 'm').exec(status)?.[1].trim() ?? '';
  const numbers = (key: string) => line(key).split(/\s+/).filter(Boolean).map(Number);
  const caps = (key: string) => {
    const hex = line(key);
    return /^[0-9a-f]+$/i.test(hex) ? BigInt(`0x${hex}`) : -1n; // unreadable: counts as "has capabilities"
  };
  return {
    uids: numbers('Uid'),
    gids: numbers('Gid'),
    capPrm: caps('CapPrm'),
    capEff: caps('CapEff'),
    capAmb: caps('CapAmb'),
    nspid: numbers('NSpid'),
  };
}

/** When the process started (clock ticks since boot, field 22 of /proc/PID/stat), and its state letter. */
export function startOf(stat: string): { startTime: string; state: string } {
  const rest = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  // rest[0] is field 3 (state); field 22 is rest[19].
  return { state: rest[0] ?? '?', startTime: rest[19] ?? '' };
}

/**
 * A process held by a descriptor of its /proc/PID directory: the kernel ties it to that process, not
 * to the number, so reads through it fail (ESRCH) once the process is gone — even when the PID has
 * been given to a new process meanwhile. (pidfd_send_signal(2) accepts such a descriptor as a pidfd.)
 * Node has no pidfd_open; this is the same pin, from Node.
 */
export class PinnedProcess {
  private constructor(
    readonly pid: number,
    private readonly handle: FileHandle,
    /** Its start time when pinned: a second identity check besides the descriptor. */
    readonly startTime: string,
  ) {}

  /** Pins the process that has this PID now; undefined when there is none. */
  static async open(pid: number): Promise<PinnedProcess | undefined> {
    if (!Number.isSafeInteger(pid) || pid <= 0) return undefined;
    const handle = await open(`/proc/${pid}`, constants.O_RDONLY | constants.O_DIRECTORY).catch(() => undefined);
    if (!handle) return undefined;
    const stat = await readFile(`/proc/self/fd/${handle.fd}/stat`, 'utf8').catch(() => '');
    const { startTime, state } = startOf(stat);
    if (!stat || state === 'Z' || state === 'X') {
      await handle.close();
      return undefined;
    }
    return new PinnedProcess(pid, handle, startTime);
  }

  /** A path under the pinned process's /proc directory; it resolves to nothing once that process is gone. */
  path(file: string): string {
    return `/proc/self/fd/${this.handle.fd}/${file}`;
  }

  read(file: string): Promise<string> {
    return readFile(this.path(file), 'utf8');
  }

  /** Still the same, living process: the descriptor reaches it, it is not a zombie, same start time. */
  async alive(): Promise<boolean> {
    const stat = await this.read('stat').catch(() => '');
    if (!stat) return false;
    const { startTime, state } = startOf(stat);
    return state !== 'Z' && state !== 'X' && startTime === this.startTime;
  }

  /** alive(), synchronously: for the moments around an attach, where no other work may come between. */
  aliveNow(): boolean {
    let stat = '';
    try {
      stat = readFileSync(this.path('stat'), 'utf8');
    } catch {
      return false;
    }
    const { startTime, state } = startOf(stat);
    return state !== 'Z' && state !== 'X' && startTime === this.startTime;
  }

  close(): Promise<void> {
    return this.handle.close().catch(() => {});
  }
}
