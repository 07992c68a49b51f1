// Shared by the notebook and Jupyter tests: the processes Jupyter runs (what they hold in the kernel:
// bpf/ts/inspect.ts). Connections to Jupyter are engines/notebook/kernel-client.ts's.
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { allPids, exeOf, statOf } from '../../core/procfs.ts';
import { isTslabKernel } from '../../engines/services/jupyter.ts';

export { allPids as pids, exeOf } from '../../core/procfs.ts';

export const childrenOf = (pid: number) => allPids().filter((p) => statOf(p)?.ppid === pid);

/** A process that has exited (or is a zombie) is not alive: the tracer's own check. */
export { processAlive as alive } from '../../bpf/ts/index.ts';

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
