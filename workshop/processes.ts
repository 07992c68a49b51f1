import { allPids, cmdlineOf, environOf, exeOf, statOf } from '../core/procfs.ts';

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

export function listProcesses(): ProcessInfo[] {
  const out: ProcessInfo[] = [];
  for (const pid of allPids()) {
    const stat = statOf(pid);
    if (!stat) continue;
    const marker = environOf(pid)
      .find((e) => e.startsWith(`${markerVar}=`))
      ?.slice(markerVar.length + 1);
    out.push({ pid, ppid: stat.ppid, comm: stat.comm, exe: exeOf(pid), cmdline: cmdlineOf(pid), marker });
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
