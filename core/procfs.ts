/**
 * The kernel's view of processes, read from /proc: the one module that knows the layout of its files
 * (proc(5)). Every reader returns undefined (or an empty value) for a process that is gone or not ours
 * to read, since any process may exit between listing /proc and reading from it.
 */
import { constants, readdirSync, readFileSync, readlinkSync } from 'node:fs';
import { open, readFile, type FileHandle } from 'node:fs/promises';

/** The fields of /proc/PID/stat the lab uses. */
export interface ProcStat {
  /** The command name (field 2), without its parentheses. It may itself contain ')' and spaces. */
  comm: string;
  /** One letter (field 3): R running, S sleeping, Z zombie, X dead, … */
  state: string;
  /** Field 4. */
  ppid: number;
  /** When it started, in clock ticks since boot (field 22): with the PID, an identity no reuse repeats. */
  startTime: number;
}

/** Parses the text of a /proc/PID/stat file; undefined when it is not one. */
export function parseStat(text: string): ProcStat | undefined {
  const close = text.lastIndexOf(')');
  if (close < 0) return undefined;
  // After the comm, fields 3 onwards are separated by single spaces: rest[0] is field 3.
  const rest = text.slice(close + 2).split(' ');
  if (rest.length < 20) return undefined;
  return {
    comm: text.slice(text.indexOf('(') + 1, close),
    state: rest[0],
    ppid: Number(rest[1]),
    startTime: Number(rest[19]),
  };
}

/** A path under /proc for a process: `procPath(42, 'stat')` is /proc/42/stat. */
export const procPath = (pid: number | 'self', file: string) => `/proc/${pid}/${file}`;

const readOr = (path: string, fallback: string): string => {
  try {
    return readFileSync(path, 'utf8');
  } catch {
    return fallback;
  }
};

/** The stat of a process, or undefined once it is gone. */
export const statOf = (pid: number): ProcStat | undefined => parseStat(readOr(procPath(pid, 'stat'), ''));

/** Exited, or a zombie waiting to be reaped, counts as not running. */
export const isDead = (stat: ProcStat | undefined): boolean => !stat || stat.state === 'Z' || stat.state === 'X';

/** The PIDs in this /proc, now. */
export function allPids(): number[] {
  return readdirSync('/proc')
    .filter((e) => /^\d+$/.test(e))
    .map(Number);
}

/** Its command line with the arguments joined by spaces ('' for a kernel thread or a process gone). */
export const cmdlineOf = (pid: number): string => readOr(procPath(pid, 'cmdline'), '').split('\0').join(' ').trim();

/** The file it runs ('' when gone, a kernel thread, or another user's process we may not look into). */
export function exeOf(pid: number): string {
  try {
    return readlinkSync(procPath(pid, 'exe'));
  } catch {
    return '';
  }
}

/** The environment it started with, as KEY=value strings (empty when unreadable). */
export const environOf = (pid: number): string[] => readOr(procPath(pid, 'environ'), '').split('\0').filter(Boolean);

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

/** Parses the text of a /proc/PID/status file. */
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

/** The credentials of a process, or undefined once it is gone. */
export function credentialsOfPid(pid: number): ProcessCredentials | undefined {
  const status = readOr(procPath(pid, 'status'), '');
  return status ? credentialsOf(status) : undefined;
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
    readonly startTime: number,
  ) {}

  /** Pins the process that has this PID now; undefined when there is none. */
  static async open(pid: number): Promise<PinnedProcess | undefined> {
    if (!Number.isSafeInteger(pid) || pid <= 0) return undefined;
    const handle = await open(`/proc/${pid}`, constants.O_RDONLY | constants.O_DIRECTORY).catch(() => undefined);
    if (!handle) return undefined;
    const stat = parseStat(await readFile(`/proc/self/fd/${handle.fd}/stat`, 'utf8').catch(() => ''));
    if (!stat || isDead(stat)) {
      await handle.close();
      return undefined;
    }
    return new PinnedProcess(pid, handle, stat.startTime);
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
    return this.same(parseStat(await this.read('stat').catch(() => '')));
  }

  /** alive(), synchronously: for the moments around an attach, where no other work may come between. */
  aliveNow(): boolean {
    return this.same(parseStat(readOr(this.path('stat'), '')));
  }

  private same(stat: ProcStat | undefined): boolean {
    return !isDead(stat) && stat?.startTime === this.startTime;
  }

  close(): Promise<void> {
    return this.handle.close().catch(() => {});
  }
}
