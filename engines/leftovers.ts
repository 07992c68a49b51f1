/**
 * What of the lab is running or attached on this machine, asked of the kernel and /proc (not of the
 * lab's own bookkeeping): processes of the lab orphaned to PID 1, uprobe links nothing of ours holds,
 * attendee accounts, listeners, and probe bytes (int3) left in the text of running processes. Used at
 * the end of `./lab test` (anything found fails the run) and by `./lab doctor`.
 */
import { execFileSync } from 'node:child_process';
import { closeSync, openSync, readdirSync, readFileSync, readlinkSync, readSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { sep } from 'node:path';
import { root } from '../core/paths.ts';
import { allPids, cmdlineOf, credentialsOfPid, exeOf, isDead, statOf } from '../core/procfs.ts';
import { labAccounts, staleLabAccounts } from './services/accounts.ts';
import { bpftoolJson, perfUprobeSites, uprobeSitesHeldBy } from '../bpf/ts/inspect.ts';

export interface Leftover {
  kind: 'process' | 'uprobe link' | 'account' | 'probe bytes';
  /** A stable key for comparing two looks (pid, link id, account name, pid:address). */
  id: string;
  /** One line for a person. */
  what: string;
}

/** Where the lab's temporary files and private binary copies live: `${labTempPrefix}…`. */
export const labTempPrefix = `${tmpdir()}${sep}lab-`;

const read = (p: string) => {
  try {
    return readFileSync(p, 'utf8');
  } catch {
    return '';
  }
};
const link = (p: string) => {
  try {
    return readlinkSync(p);
  } catch {
    return '';
  }
};

interface Proc {
  pid: number;
  ppid: number;
  uid: number;
  exe: string;
  cwd: string;
  args: string;
}

function processes(): Proc[] {
  return allPids().flatMap((pid) => {
    const stat = statOf(pid);
    if (!stat || isDead(stat)) return [];
    return [
      {
        pid,
        ppid: stat.ppid,
        uid: credentialsOfPid(pid)?.uids[0] ?? -1,
        exe: exeOf(pid),
        cwd: link(`/proc/${pid}/cwd`),
        args: cmdlineOf(pid),
      },
    ];
  });
}

const underRoot = (p: string) => p === root || p.startsWith(root + sep);
/** A shell whose working directory is the lab is someone's terminal, not something the lab started. */
const shell = (exe: string) => /\/(ba|da|z)?sh$/.test(exe);
const ofTheLab = (p: Proc, attendeeUids: Set<number>) =>
  attendeeUids.has(p.uid) ||
  (underRoot(p.cwd) && !shell(p.exe)) ||
  underRoot(p.exe) ||
  p.exe.startsWith(labTempPrefix) ||
  p.args.includes(root + sep) ||
  p.args.includes(labTempPrefix);

/** TCP and UDP ports each process listens on (ss), by pid. */
function listenersByPid(): Map<number, string[]> {
  const out = new Map<number, string[]>();
  let text = '';
  try {
    text = execFileSync('ss', ['-Hlntup'], { encoding: 'utf8' });
  } catch {
    return out;
  }
  for (const line of text.split('\n')) {
    const local = line.split(/\s+/)[4];
    for (const m of line.matchAll(/pid=(\d+)/g)) out.set(Number(m[1]), [...(out.get(Number(m[1])) ?? []), local]);
  }
  return out;
}

/** Processes of the lab whose parent died (now children of PID 1), with what they listen on. */
export function orphanedProcesses(): Leftover[] {
  const attendees = new Set(labAccounts().map((a) => a.uid));
  const listening = listenersByPid();
  return processes()
    .filter((p) => p.ppid === 1 && p.pid !== process.pid && ofTheLab(p, attendees))
    .map((p) => describe(p, listening.get(p.pid), 'parent PID 1'));
}

function describe(p: Proc, ports: string[] | undefined, parent: string): Leftover {
  return {
    kind: 'process',
    id: String(p.pid),
    what: `pid ${p.pid} (uid ${p.uid}, ${parent}): ${p.args.slice(0, 160)}${ports ? ` — listening on ${ports.join(', ')}` : ''}`,
  };
}

interface KernelLink {
  id: number;
  type: string | number;
  prog_id?: number;
  prog_name?: string;
  event_type?: string;
}

/** uprobe links: uprobe_multi (bpftool 7.1 does not know the name: "type 12") and perf links on uprobes. */
function uprobeLinks(): KernelLink[] {
  let links: KernelLink[] = [];
  try {
    links = bpftoolJson<KernelLink>('link', 'list');
  } catch {
    return [];
  }
  return links.filter(
    (l) => l.type === 'uprobe_multi' || l.type === 12 || (l.type === 'perf_event' && /uprobe/.test(l.event_type ?? '')),
  );
}

/** Link ids held through a file descriptor by a process that is not an orphan of the lab. */
function linksHeldByLiveOwners(orphans: Set<number>): Set<number> {
  const held = new Set<number>();
  for (const p of processes()) {
    if (orphans.has(p.pid)) continue;
    let fds: string[] = [];
    try {
      fds = readdirSync(`/proc/${p.pid}/fd`);
    } catch {
      continue;
    }
    for (const fd of fds) {
      if (link(`/proc/${p.pid}/fd/${fd}`) !== 'anon_inode:bpf_link') continue;
      const id = /^link_id:\s*(\d+)/m.exec(read(`/proc/${p.pid}/fdinfo/${fd}`))?.[1];
      if (id) held.add(Number(id));
    }
  }
  return held;
}

/**
 * uprobe links that only an orphan of the lab, or nothing at all (pinned, leaked), holds. A link being
 * released is still listed for a moment after its holder closed it (RCU): one that stays after
 * `settleMs` is left.
 */
export async function strayUprobeLinks(settleMs = 2000): Promise<Leftover[]> {
  const stray = () => {
    const orphans = new Set(orphanedProcesses().map((o) => Number(o.id)));
    const held = linksHeldByLiveOwners(orphans);
    return uprobeLinks().filter((l) => !held.has(l.id));
  };
  return settled(
    () =>
      stray().map((l) => ({
        kind: 'uprobe link',
        id: String(l.id),
        what: `link ${l.id} (${l.type === 12 ? 'uprobe_multi' : l.type}, prog ${l.prog_name ?? l.prog_id}) held by no running process of ours`,
      })),
    settleMs,
  );
}

/** Attendee accounts no running room holds (engines/services/accounts.ts marks them with their room). */
export function attendeeAccounts(): Leftover[] {
  return staleLabAccounts().map((a) => ({
    kind: 'account',
    id: a.name,
    what: `account ${a.name} (uid ${a.uid}, home ${a.home})`,
  }));
}

/** Addresses (hex) in `pid`'s text of its executable where memory holds int3 and the file does not. */
function int3sInText(pid: number): { address: number; fileOffset: number; inode: number }[] {
  const exe = link(`/proc/${pid}/exe`);
  const found: { address: number; fileOffset: number; inode: number }[] = [];
  let mem: number | undefined;
  let file: number | undefined;
  try {
    mem = openSync(`/proc/${pid}/mem`, 'r');
    // The file as the process mapped it, even if it was deleted or replaced since.
    file = openSync(`/proc/${pid}/exe`, 'r');
    const fileSize = statSync(`/proc/${pid}/exe`).size;
    for (const line of read(`/proc/${pid}/maps`).split('\n')) {
      const m = /^([0-9a-f]+)-([0-9a-f]+) r-xp ([0-9a-f]+) \S+ (\d+)\s+(.*)$/.exec(line);
      if (!m || m[5].replace(/ \(deleted\)$/, '') !== exe.replace(/ \(deleted\)$/, '')) continue;
      const start = parseInt(m[1], 16);
      const offset = parseInt(m[3], 16);
      const length = Math.min(parseInt(m[2], 16) - start, fileSize - offset);
      if (length <= 0) continue;
      const inMemory = Buffer.alloc(length);
      const onDisk = Buffer.alloc(length);
      readSync(mem, inMemory, 0, length, start);
      readSync(file, onDisk, 0, length, offset);
      for (let i = inMemory.indexOf(0xcc); i >= 0; i = inMemory.indexOf(0xcc, i + 1))
        if (onDisk[i] !== 0xcc) found.push({ address: start + i, fileOffset: offset + i, inode: Number(m[4]) });
    }
  } catch {
    // the process ended, or its memory is not ours to read
  } finally {
    if (mem !== undefined) closeSync(mem);
    if (file !== undefined) closeSync(file);
  }
  return found;
}

/**
 * Every uprobe site something holds (those int3s are meant to be there), as inode:offset and as
 * path:offset: bpf_links in the holders' fdinfo, and perf-event uprobes (bpftrace, the cilium peer's
 * older path) from `bpftool perf list`. The path is the file as the kernel names it; a file inside an
 * attendee's container (a notebook's copy in its own /tmp) has no such path here, and the process
 * running it names it the same way.
 */
function attachedSites(): Set<string> {
  const sites = new Set<string>();
  const add = (path: string, offset: number) => {
    sites.add(`${path}:${offset}`);
    try {
      sites.add(`${statSync(path).ino}:${offset}`);
    } catch {
      // not a path of this mount namespace (a container's file), or the probed file is gone
    }
  };
  for (const p of processes()) for (const s of uprobeSitesHeldBy(p.pid)) add(s.path, s.offset);
  try {
    for (const s of perfUprobeSites()) add(s.path, s.offset);
  } catch {
    // no bpftool: bpf_links only
  }
  return sites;
}

/**
 * Probe bytes the kernel left behind: an int3 (0xcc) in the text of a running process of a binary the
 * lab traces (the server, its private copies) where the file has another byte and no uprobe is attached.
 * The kernel writes them on attach and restores them on detach; one that failed to unregister ("uprobe:
 * …failed to unregister, leaking uprobe") leaves its int3 and keeps the uprobe, so the process traps into the
 * kernel there every time, for nothing (were the uprobe gone too, the trap would kill it: SIGTRAP).
 */
export function leakedProbeBytes(): Leftover[] {
  const traced = processes()
    .map((p) => ({ ...p, file: p.exe.replace(/ \(deleted\)$/, '') }))
    .filter(({ pid, file }) => pid !== process.pid && (underRoot(file) || file.startsWith(labTempPrefix)));
  if (traced.length === 0) return [];
  const attached = attachedSites();
  return traced.flatMap((p) => {
    const left = int3sInText(p.pid).filter(
      (b) => !attached.has(`${b.inode}:${b.fileOffset}`) && !attached.has(`${p.file}:${b.fileOffset}`),
    );
    if (left.length === 0) return [];
    const shown = left
      .slice(0, 4)
      .map((b) => `0x${b.address.toString(16)} (file offset 0x${b.fileOffset.toString(16)})`)
      .join(', ');
    return [
      {
        kind: 'probe bytes' as const,
        id: `${p.pid}:${left.map((b) => b.address.toString(16)).join(',')}`,
        what: `pid ${p.pid} ${p.exe}: int3 left at ${shown}${left.length > 4 ? ` and ${left.length - 4} more` : ''} with no uprobe attached`,
      },
    ];
  });
}

/** What `look` finds again and again for up to `ms`: what is on its way out is not counted. */
async function settled(look: () => Leftover[], ms: number): Promise<Leftover[]> {
  let left = look();
  for (let waited = 0; left.length > 0 && waited < ms; waited += 200) {
    await new Promise((r) => setTimeout(r, 200));
    const now = new Set(look().map((l) => l.id));
    left = left.filter((l) => now.has(l.id));
  }
  return left;
}

/**
 * The variable `./lab test` puts in the environment of everything it starts: whatever still carries it
 * when the run is over is the run's, wherever it was reparented (other people's lab commands on the same
 * machine carry another value or none).
 */
export const runMarkVariable = 'LAB_TEST_RUN';

/** Processes (other than this one) whose environment holds `runMarkVariable=mark`. */
export function processesOfRun(mark: string): Leftover[] {
  const entry = `${runMarkVariable}=${mark}`;
  const listening = listenersByPid();
  return processes()
    .filter((p) => p.pid !== process.pid && read(`/proc/${p.pid}/environ`).split('\0').includes(entry))
    .map((p) => describe(p, listening.get(p.pid), `parent ${p.ppid}`));
}

/**
 * Everything of the lab that is running or attached now and belongs to no live command: orphaned processes
 * of the lab, or with `run`, every process of that run of `./lab test`.
 */
export async function labLeftovers(opts: { run?: string } = {}): Promise<Leftover[]> {
  // What a run started may still be on its way out (a kernel noticing its Jupyter is gone, a server its parent).
  const procs = opts.run ? await settled(() => processesOfRun(opts.run!), 5000) : orphanedProcesses();
  // Accounts carry no mark: while a hands-on room outside the run is up, they may be its.
  const accounts = opts.run && handsOnOutside(opts.run) ? [] : attendeeAccounts();
  // A probe being closed leaves its int3s for a moment after its link is gone (the kernel's unregister
  // runs after the close): only bytes that stay put are leaked.
  const bytes = await settled(leakedProbeBytes, 2000);
  return [...procs, ...(await strayUprobeLinks()), ...accounts, ...bytes];
}

/** Whether some process not of this run is a hands-on room (or a test of one), which makes attendee accounts. */
function handsOnOutside(mark: string): boolean {
  const entry = `${runMarkVariable}=${mark}`;
  return processes().some(
    (p) =>
      p.pid !== process.pid &&
      /hands-on/.test(p.args) &&
      !shell(p.exe) &&
      !read(`/proc/${p.pid}/environ`).split('\0').includes(entry),
  );
}
