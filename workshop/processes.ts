import { readdirSync, readFileSync, readlinkSync } from 'node:fs';

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
    for (const c of procs) if (c.ppid === p && !out.has(c.pid)) out.add(c.pid), walk(c.pid);
  };
  walk(pid);
  return out;
}

export const isAlive = (pid: number) => {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
};
