import { readdirSync, readFileSync, readlinkSync } from 'node:fs';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';

/** Environment variable every process the workshop starts inherits; it marks them as ours even after re-parenting. */
export const markerVar = 'LAB_WORKSHOP_ID';

export interface ProcessInfo {
  pid: number;
  ppid: number;
  comm: string;
  exe: string;
  cmdline: string;
  /** Value of LAB_WORKSHOP_ID in its environment, if any. */
  marker?: string;
}

const read = (p: string) => {
  try {
    return readFileSync(p, 'utf8');
  } catch {
    return undefined;
  }
};

export function listProcesses(): ProcessInfo[] {
  const out: ProcessInfo[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    const stat = read(`/proc/${entry}/stat`);
    if (!stat) continue;
    const comm = stat.slice(stat.indexOf('(') + 1, stat.lastIndexOf(')'));
    const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
    let exe = '';
    try {
      exe = readlinkSync(`/proc/${entry}/exe`);
    } catch {
      // kernel thread or gone
    }
    const env = read(`/proc/${entry}/environ`) ?? '';
    const marker = env
      .split('\0')
      .find((e) => e.startsWith(`${markerVar}=`))
      ?.slice(markerVar.length + 1);
    const cmdline = (read(`/proc/${entry}/cmdline`) ?? '').split('\0').join(' ').trim();
    out.push({ pid: Number(entry), ppid, comm, exe, cmdline, marker });
  }
  return out;
}

export function ancestorsOf(pid: number, procs: ProcessInfo[]): Set<number> {
  const byPid = new Map(procs.map((p) => [p.pid, p]));
  const out = new Set<number>();
  for (let p = byPid.get(pid); p && p.pid > 1 && !out.has(p.pid); p = byPid.get(p.ppid)) out.add(p.pid);
  return out;
}

export function descendantsOf(pid: number, procs: ProcessInfo[]): Set<number> {
  const out = new Set<number>();
  const walk = (p: number) => {
    for (const c of procs) if (c.ppid === p && !out.has(c.pid)) (out.add(c.pid), walk(c.pid));
  };
  walk(pid);
  return out;
}

export interface HeldLink {
  pid: number;
  fd: number;
  /** bpf_link id (`bpftool link list`), or the prog id behind a perf-event attachment (`bpftool perf list`). */
  linkId?: number;
  progId?: number;
  kind: 'bpf_link' | 'perf_event';
  detail: string;
}

/** bpf_link file descriptors a process holds, read from /proc/PID/fdinfo (bpftool here cannot show owners itself). */
export function linksHeldBy(pid: number): HeldLink[] {
  const out: HeldLink[] = [];
  let fds: string[] = [];
  try {
    fds = readdirSync(`/proc/${pid}/fd`);
  } catch {
    return out;
  }
  for (const fd of fds) {
    let target = '';
    try {
      target = readlinkSync(`/proc/${pid}/fd/${fd}`);
    } catch {
      continue;
    }
    if (target !== 'anon_inode:bpf_link') continue;
    const info = read(`/proc/${pid}/fdinfo/${fd}`) ?? '';
    const field = (k: string) => new RegExp(`^${k}:\\s*(\\S+)`, 'm').exec(info)?.[1];
    out.push({
      pid,
      fd: Number(fd),
      kind: 'bpf_link',
      linkId: Number(field('link_id')),
      progId: Number(field('prog_id')),
      detail: `${field('link_type') ?? 'link'}`,
    });
  }
  return out;
}

/** Ids of the BPF programs a process holds open (fds of type bpf-prog), from /proc/PID/fdinfo. */
export function programsHeldBy(pid: number): number[] {
  let fds: string[] = [];
  try {
    fds = readdirSync(`/proc/${pid}/fd`);
  } catch {
    return [];
  }
  return fds.flatMap((fd) => {
    try {
      if (readlinkSync(`/proc/${pid}/fd/${fd}`) !== 'anon_inode:bpf-prog') return [];
    } catch {
      return [];
    }
    const id = /^prog_id:\s*(\d+)/m.exec(read(`/proc/${pid}/fdinfo/${fd}`) ?? '')?.[1];
    return id ? [Number(id)] : [];
  });
}

const exec = promisify(execFile);

export interface BpftoolView {
  /** `bpftool link list` as the instructor sees it. */
  linkListText: string;
  linkIds: number[];
  /** `bpftool perf list` (uprobes attached through perf events, e.g. by bpftrace) */
  perfListText: string;
  perf: { pid: number; fd: number; prog_id: number; filename?: string; fd_type?: string }[];
}

export async function bpftool(): Promise<BpftoolView> {
  const [linkText, linkJson, perfText, perfJson] = await Promise.all([
    exec('bpftool', ['link', 'list']).then((r) => r.stdout),
    exec('bpftool', ['-j', 'link', 'list']).then((r) => r.stdout),
    exec('bpftool', ['perf', 'list']).then((r) => r.stdout),
    exec('bpftool', ['-j', 'perf', 'list']).then((r) => r.stdout),
  ]);
  const links = JSON.parse(linkJson || '[]') as { id: number }[];
  return {
    linkListText: linkText,
    linkIds: links.map((l) => l.id),
    perfListText: perfText,
    perf: JSON.parse(perfJson || '[]'),
  };
}

export const isAlive = (pid: number) => {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
};
