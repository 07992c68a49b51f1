// Shared by the notebook and Jupyter tests: the processes Jupyter runs (what they hold in the kernel:
// bpf/ts/inspect.ts). Connections to Jupyter are engines/notebook/kernel-client.ts's.
import { execFileSync } from 'node:child_process';
import { readdirSync, readFileSync, readlinkSync } from 'node:fs';
import { isTslabKernel } from '../../engines/services/jupyter.ts';

function ppidOf(pid: number): number | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
  } catch {
    return undefined;
  }
}

export function pids(): number[] {
  return readdirSync('/proc')
    .filter((e) => /^\d+$/.test(e))
    .map(Number);
}

export const childrenOf = (pid: number) => pids().filter((p) => ppidOf(p) === pid);

/** A process that has exited (or is a zombie) is not alive: the tracer's own check. */
export { processAlive as alive } from '../../bpf/ts/index.ts';

export function exeOf(pid: number): string {
  try {
    return readlinkSync(`/proc/${pid}/exe`);
  } catch {
    return '';
  }
}

/** A process's command line, '' when it has exited meanwhile. */
function cmdlineOf(pid: number): string {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, 'utf8');
  } catch {
    return '';
  }
}

/** The tslab kernel processes among the descendants of the Jupyter server. */
export function kernelPids(jupyterPid: number): number[] {
  const out: number[] = [];
  const walk = (p: number) => {
    for (const c of childrenOf(p)) {
      if (isTslabKernel(cmdlineOf(c))) out.push(c);
      walk(c);
    }
  };
  walk(jupyterPid);
  return out;
}

/** Lab server processes (private copies run by the notebook helpers) that are children of `pid`. */
export const serverChildren = (pid: number) => childrenOf(pid).filter((c) => /lab-notebook-.*\/server/.test(exeOf(c)));

/** The PID of the Jupyter server listening on the URL's port (from ss). */
export function jupyterServerPid(url: string): number {
  const out = execFileSync('ss', ['-Hltnp', `sport = :${new URL(url).port}`], { encoding: 'utf8' });
  const m = /pid=(\d+)/.exec(out);
  if (!m) throw new Error(`no process listens on ${url}: ${out}`);
  return Number(m[1]);
}
