import { existsSync } from 'node:fs';
import { at, serverDir } from '../core/paths.ts';
import type { RoomRunner } from './runners.ts';
// inspect.ts only, not the tracer's index: reset must work even where the tracer API does not load.
import { bpftoolView, linksHeldBy, programsHeldBy, type HeldLink } from '../bpf/ts/inspect.ts';
import { isTslabKernel } from '../engines/services/jupyter.ts';
import { ancestorsOf, descendantsOf, isAlive, listProcesses, type ProcessInfo } from './processes.ts';
import { setTimeout as sleep } from 'node:timers/promises';

export interface ResetReport {
  ok: boolean;
  /** What reset did, in order, for the console. */
  steps: string[];
  /** Links and perf-event probes held by our processes before the reset. */
  linksBefore: HeldLink[];
  /** Processes of ours that survived the kernel restart and were killed. */
  killed: { pid: number; comm: string; exe: string }[];
  /** Links, perf-event probes and BPF programs still held by processes of ours: must be empty for ok. */
  ourLinksLeft: string[];
  /** Servers (or anything else) of ours still running outside Jupyter and this process. */
  ourServersLeft: { pid: number; exe: string }[];
  /** Server binaries from server/ run by someone else: left alone, listed for honesty. */
  othersServers: { pid: number; exe: string }[];
  bpftoolLinkList: string;
  bpftoolPerfList: string;
}

/**
 * Processes of ours that must not outlive a reset: orphans (whatever a dead kernel left behind: servers,
 * tracers) and anything running under a kernel. Spared: this process, its ancestors, and its own
 * descendants outside kernels (Jupyter itself, the site).
 */
function leftovers(marker: string): ProcessInfo[] {
  const procs = listProcesses();
  const protectedPids = ancestorsOf(process.pid, procs);
  const mine = descendantsOf(process.pid, procs);
  const kernels = procs.filter((p) => mine.has(p.pid) && isTslabKernel(p.cmdline));
  const underKernels = new Set(kernels.flatMap((k) => [...descendantsOf(k.pid, procs)]));
  return procs.filter(
    (p) => p.marker === marker && !protectedPids.has(p.pid) && (!mine.has(p.pid) || underKernels.has(p.pid)),
  );
}

/**
 * Stops every server and probe the lab started from this workshop, restarts the kernel, then proves
 * it with the process table and bpftool: nothing carrying our marker holds a link or runs a server.
 */
export async function resetLab(opts: {
  marker: string;
  runner?: RoomRunner;
  log?: (line: string) => void;
}): Promise<ResetReport> {
  const steps: string[] = [];
  const note = (s: string) => (steps.push(s), opts.log?.(s));
  const ours = () => listProcesses().filter((p) => p.marker === opts.marker);

  const linksBefore = await ourLinks(ours());
  note(
    `before: ${linksBefore.length} probe attachment(s) held by ${new Set(linksBefore.map((l) => l.pid)).size} process(es) of ours`,
  );

  // In this process: servers and probes the workshop itself opened (if the tracer is built at all).
  const { stopAllServers, liveServers } = await import('../engines/managed-server.ts');
  const n = liveServers().length;
  await stopAllServers();
  note(`stopped ${n} server(s) started by the workshop process`);
  if (existsSync(at('bpf', 'ts', 'index.ts'))) {
    try {
      const tracer = (await import(at('bpf', 'ts', 'index.ts'))) as { openProbes(): unknown[]; closeAllProbes(): void };
      const probes = tracer.openProbes().length;
      tracer.closeAllProbes();
      note(`closed ${probes} probe(s) opened by the workshop process`);
    } catch (e) {
      note(
        `tracer API not usable here (${(e as Error).message.split('\n')[0]}): relying on the kernel restart and bpftool`,
      );
    }
  }

  if (opts.runner?.mode === 'rehearsal') {
    await opts.runner.restart();
    note('rehearsal: no kernel to restart; replayed outputs cleared');
  } else if (opts.runner) {
    note(`restarting ${opts.runner.describe()}`);
    try {
      await opts.runner.restart();
      note(`kernel restarted: ${opts.runner.describe()}`);
    } catch (e) {
      // Go on: killing what is left and checking with bpftool matter more than a clean restart.
      note(
        `kernel restart failed (${(e as Error).message.split('\n')[0]}): press Reset lab again, or restart ./lab workshop`,
      );
    }
  }

  // Whatever of ours survived the restart: orphans (their kernel is gone) and anything a kernel still runs.
  const killed: ResetReport['killed'] = [];
  for (let round = 0; round < 3; round++) {
    const left = leftovers(opts.marker);
    if (left.length === 0) break;
    for (const p of left) {
      if (!killed.some((k) => k.pid === p.pid)) killed.push({ pid: p.pid, comm: p.comm, exe: p.exe });
      try {
        process.kill(p.pid, round === 0 ? 'SIGTERM' : 'SIGKILL');
      } catch {
        // already gone
      }
    }
    // A process that held uprobes takes a while to exit (the kernel unregisters each one), longer on a
    // busy machine: wait for it to be gone rather than for a fixed moment.
    for (let i = 0; i < 200 && left.some((p) => isAlive(p.pid)); i++) await sleep(50);
  }
  note(
    killed.length
      ? `killed ${killed.length} leftover process(es): ${killed.map((k) => `${k.comm}[${k.pid}]`).join(', ')}`
      : 'no leftover process of ours',
  );

  // The kernel frees a dead holder's links asynchronously (RCU): give it the moment it takes.
  const stillListed = (view: Awaited<ReturnType<typeof bpftoolView>>) =>
    linksBefore.some((l) => l.kind === 'bpf_link' && l.linkId !== undefined && view.linkIds.includes(l.linkId));
  let after = await bpftoolView();
  for (let i = 0; i < 100 && stillListed(after); i++) {
    await sleep(100);
    after = await bpftoolView();
  }
  const procsAfter = listProcesses();
  const oursAfter = procsAfter.filter((p) => p.marker === opts.marker);
  const stillHeld = await ourLinks(oursAfter);
  const ourLinksLeft = [
    ...stillHeld.map((l) => `${l.kind} ${l.linkId ?? l.progId} held by pid ${l.pid}`),
    ...oursAfter.flatMap((p) =>
      programsHeldBy(p.pid).map((id) => `BPF program ${id} held by pid ${p.pid} (${p.comm})`),
    ),
    ...linksBefore
      .filter((l) => l.kind === 'bpf_link' && l.linkId !== undefined && after.linkIds.includes(l.linkId))
      .map((l) => `link ${l.linkId} (was held by pid ${l.pid}) is still in bpftool link list`),
  ];
  const ourServersLeft = leftovers(opts.marker).map((p) => ({ pid: p.pid, exe: p.exe }));
  const othersServers = procsAfter
    .filter((p) => p.marker !== opts.marker && p.exe.startsWith(serverDir + '/'))
    .map((p) => ({ pid: p.pid, exe: p.exe }));
  const ok = ourLinksLeft.length === 0 && ourServersLeft.length === 0;
  note(
    ok
      ? `verified: bpftool lists ${after.linkIds.length} link(s), none of ours; no process of ours holds a BPF program; no server process of ours`
      : `NOT clean: ${[...ourLinksLeft, ...ourServersLeft.map((s) => `server pid ${s.pid}`)].join('; ')}`,
  );
  return {
    ok,
    steps,
    linksBefore,
    killed,
    ourLinksLeft,
    ourServersLeft,
    othersServers,
    bpftoolLinkList: after.linkListText.trim() || '(bpftool link list: no links)',
    bpftoolPerfList: after.perfListText.trim() || '(bpftool perf list: no perf-event probes)',
  };
}

/** bpf_link fds (fdinfo) and perf-event probes (bpftool perf list) held by the given processes. */
async function ourLinks(procs: ProcessInfo[]): Promise<HeldLink[]> {
  const pids = new Set(procs.map((p) => p.pid));
  const view = await bpftoolView();
  return [
    ...procs.flatMap((p) => linksHeldBy(p.pid)),
    ...view.perf
      .filter((e) => pids.has(e.pid))
      .map(
        (e): HeldLink => ({
          pid: e.pid,
          fd: e.fd,
          progId: e.prog_id,
          kind: 'perf_event',
          detail: `${e.fd_type ?? 'probe'} ${e.filename ?? ''}`.trim(),
        }),
      ),
  ];
}
