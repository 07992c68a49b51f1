/**
 * The lab's tracer API, in the spirit of cilium/ebpf's link package:
 *
 *   const exe = await openExecutable('server/server');
 *   using probe = exe.probe('uprobe', 'main.demo', { pid });
 *   for await (const e of probe) console.log(e.args[0]);
 *
 * The kinds are one table (probe-kinds.ts): uprobe, entry events; uretprobe, entry + return
 * events (and it crashes Go programs — that is what the lab shows); ret, the safe way — a uprobe
 * on every RET instruction, paired with the entry by goroutine, one 'call' event per call.
 */
import { isLabError, LabError } from '../../core/errors.ts';
import { Executable } from './executable.ts';
import { checkSameFile, goBuildId, type FileIdentity, type FileStamp } from './file-identity.ts';
import { FileChangedError, FileSource } from './file-source.ts';
import { bodyOffset } from './prologue.ts';
import { probeKinds, type ProbeKind } from './probe-kinds.ts';
import { openProbe, openProbes as openLocalProbes, type Probe, type ProbeOptions, type ProbePlan } from './probes.ts';
import { typedValuesOf } from './values-probe.ts';
import {
  detachingRemoteProbes,
  openRemoteProbes,
  probeServiceEnv,
  remoteProbe,
  remoteProbesHeld,
} from './probe-service-client.ts';
import { closeAllProbes as closeLocalProbes } from './session.ts';
import { linksHeldBy } from './inspect.ts';

export type { GoFunction, RetSite } from './executable.ts';
export { Executable } from './executable.ts';
export type { Probe, ProbeOptions, ProbePlan } from './probes.ts';
export { DEFAULT_QUEUE_LIMIT } from './probes.ts';
export { probeKinds, probeKindNames, isProbeKind, type ProbeKind, type ProbeKindInfo } from './probe-kinds.ts';
export { describeDrops, type DropCounts, type TraceEvent } from './trace-event.ts';
export type { FileIdentity } from './file-identity.ts';
export { watchExit, loadedProgramIds, linksReleased } from './session.ts';
export { missingCapabilities } from './capabilities.ts';
export { processAlive } from './process-checks.ts';
export {
  linksHeldBy,
  uprobeSitesHeldBy,
  programsHeldBy,
  programsAndLinks,
  kernelLinkIds,
  tracefsUprobes,
  bpftoolView,
  type HeldLink,
  type KernelSite,
  type BpftoolView,
} from './inspect.ts';
export type { HeldRemoteProbe } from './probe-service-client.ts';

/** The probes open in this process: its own, and those the probe service holds for it. */
export function openProbes(): Probe[] {
  return [...openLocalProbes(), ...openRemoteProbes()];
}

/**
 * Closed probes whose links the kernel may still hold: those the probe service is detaching (a
 * local probe's links are in this process's fdinfo until the kernel lets go: linksHeldBy).
 */
export const detachingProbes = (): Probe[] => detachingRemoteProbes();

/** Closes every probe; resolves once the kernel has released every link (the probe service's too). */
export async function closeAllProbes(): Promise<void> {
  for (const p of openRemoteProbes()) p.close();
  await Promise.all([closeLocalProbes(), ...detachingRemoteProbes().map((p) => p.detached)]);
}

/**
 * Ids of the uprobe links the kernel holds for this process's probes: the bpf_links in its own
 * fdinfo (the exit tracepoint aside), and those the probe service holds for it, open or detaching.
 */
export async function uprobeLinksHeld(): Promise<number[]> {
  const own = linksHeldBy(process.pid)
    .filter((l) => l.detail !== 'raw_tracepoint')
    .map((l) => l.linkId!);
  return [...own, ...(await remoteProbesHeld()).flatMap((p) => p.linkIds)];
}

export class TracedExecutable extends Executable {
  /** The file this was read from (set by open(); bytes given directly have none to check). */
  identity?: FileIdentity;

  /** Opens a probe of any kind in the table: exe.probe('ret', 'main.demo', { pid }). */
  probe(kind: ProbeKind, symbol: string, opts?: ProbeOptions): Probe {
    // Without CAP_BPF (a hands-on attendee) the same call goes through the probe service.
    const service = process.env[probeServiceEnv];
    if (service && process.getuid?.() !== 0) {
      this.func(symbol); // an unknown symbol is the same one-line error either way
      if (!opts?.pid)
        throw new LabError(
          'through the probe service you may probe only a process of your own',
          'pass { pid: server.pid }',
        );
      return remoteProbe(service, kind, symbol, { ...opts, pid: opts.pid });
    }
    return openProbe(this.plan(symbol, kind), opts);
  }

  /** Entry events. */
  uprobe(symbol: string, opts?: ProbeOptions): Probe {
    return this.probe('uprobe', symbol, opts);
  }

  /** Entry + uretprobe return events with results and latency. Crashes Go programs: that's the point. */
  uretprobe(symbol: string, opts?: ProbeOptions): Probe {
    return this.probe('uretprobe', symbol, opts);
  }

  /** Safe return tracing: entry uprobe + a uprobe on every RET; one 'call' event per completed call. */
  returnProbes(symbol: string, opts?: ProbeOptions): Probe {
    return this.probe('ret', symbol, opts);
  }

  /** Where each link of a probe goes, without attaching anything. */
  plan(symbol: string, kind: ProbeKind): ProbePlan {
    if (!this.identity)
      throw new LabError(
        `${this.fileName} was given as bytes, not opened from a file`,
        'open it with openExecutable(path) to attach probes',
      );
    checkSameFile(this.path, this.identity); // before reading its prologue: the bytes must be the ones parsed
    const copies = probeKinds[kind].returns === 'none' ? this.inlinedCopies(symbol) : [];
    let f: ReturnType<Executable['func']>;
    try {
      f = this.func(symbol);
    } catch (e) {
      if (!isLabError(e, 'inlined')) throw e;
      if (copies.length === 0 && probeKinds[kind].returns !== 'none') {
        const n = this.inlinedCopies(symbol).length;
        throw new LabError(
          `${e.what}; returns of inlined code cannot be probed (an inlined copy has no call and no RET)`,
          n > 0
            ? `trace the entries of its ${n} inlined cop${n === 1 ? 'y' : 'ies'} with a uprobe (--mode uprobe), or add //go:noinline and rebuild`
            : e.fix,
        );
      }
      if (copies.length === 0) throw e;
      // Inlined everywhere: its entries are the inlined copies' first instructions.
      return {
        binary: this.path,
        identity: this.identity,
        symbol,
        kind,
        entryOffset: -1,
        functionOffset: -1,
        retOffsets: [],
        inlinedCopies: copies,
        layout: this.goroutineLayout(),
      };
    }
    const head = this.fileBytes(f.fileOffset, Math.min(f.size || 64, 64));
    return {
      binary: this.path,
      identity: this.identity,
      symbol,
      kind,
      entryOffset: f.fileOffset + bodyOffset(head),
      functionOffset: f.fileOffset,
      ...this.returnSites(symbol, kind),
      typed: typedValuesOf(this, symbol).typed,
      inlinedCopies: copies.length > 0 ? copies : undefined,
      layout: this.goroutineLayout(),
    };
  }

  /** ret mode: every RET, then every tail jump (the call ends there too; its results are the jump target's). */
  private returnSites(symbol: string, kind: ProbeKind): Pick<ProbePlan, 'retOffsets' | 'tailCalls'> {
    if (probeKinds[kind].returns !== 'ret-sites') return { retOffsets: [] };
    const { sites, tailCalls } = this.retSites(symbol);
    const retOffsets = [...sites, ...tailCalls].map((s) => s.fileOffset);
    return tailCalls.length
      ? { retOffsets, tailCalls: [...sites.map(() => undefined), ...tailCalls.map((t) => t.target)] }
      : { retOffsets };
  }

  /** The Go build id from .note.go.buildid, if the binary has one. */
  buildId(): string | undefined {
    const note = this.elf.section('.note.go.buildid');
    return note ? goBuildId(this.elf.rawSection(note)) : undefined;
  }

  /** The file as it was opened (bytes given directly have no file). */
  fileStamp(): FileStamp {
    if (!(this.elf.source instanceof FileSource))
      throw new LabError(
        `${this.fileName} was given as bytes, not opened from a file`,
        'open it with openExecutable(path)',
      );
    return this.elf.source.stamp;
  }
}

/**
 * Opens a Go binary for tracing; every problem with the file is a one-line LabError. Its identity
 * is the file as first opened: a file that changes while being read is opened again.
 */
export async function openExecutable(path: string): Promise<TracedExecutable> {
  for (let attempt = 0; ; attempt++) {
    try {
      const exe = await TracedExecutable.open(path);
      exe.identity = { ...exe.fileStamp(), buildId: exe.buildId() };
      return exe;
    } catch (e) {
      if (!(e instanceof FileChangedError) || attempt === 2) throw e;
    }
  }
}
