/**
 * The lab's tracer API, in the spirit of cilium/ebpf's link package:
 *
 *   const exe = await openExecutable('server/server');
 *   using probe = exe.uprobe('main.demo', { pid });
 *   for await (const e of probe) console.log(e.args[0]);
 *
 * uprobe: entry events. uretprobe: entry + return events (and it crashes Go
 * programs — that is what the lab shows). returnProbes: the safe way — a
 * uprobe on every RET instruction, paired with the entry by goroutine, one
 * 'call' event per completed call.
 */
import { openSync, readSync, closeSync } from 'node:fs';
import { Executable } from './executable.ts';
import { bodyOffset } from './prologue.ts';
import { openProbe, type Probe, type ProbeKind, type ProbeOptions, type ProbePlan } from './tracer.ts';

export type { GoFunction, RetSite } from './executable.ts';
export { Executable } from './executable.ts';
export type { Probe, ProbeKind, ProbeOptions, TraceEvent } from './tracer.ts';
export { watchExit, openProbes, closeAllProbes, loadedProgramIds, missingCapabilities, processAlive } from './tracer.ts';
export { linksHeldBy, programsHeldBy, programsAndLinks, kernelLinkIds, tracefsUprobes, bpftoolView, type HeldLink, type BpftoolView } from './inspect.ts';

export class TracedExecutable extends Executable {
  /** Entry events. */
  uprobe(symbol: string, opts?: ProbeOptions): Probe {
    return openProbe(this.plan(symbol, 'uprobe'), opts);
  }

  /** Entry + uretprobe return events with results and latency. Crashes Go programs: that's the point. */
  uretprobe(symbol: string, opts?: ProbeOptions): Probe {
    return openProbe(this.plan(symbol, 'uretprobe'), opts);
  }

  /** Safe return tracing: entry uprobe + a uprobe on every RET; one 'call' event per completed call. */
  returnProbes(symbol: string, opts?: ProbeOptions): Probe {
    return openProbe(this.plan(symbol, 'ret'), opts);
  }

  /** Where each link of a probe goes, without attaching anything. */
  plan(symbol: string, kind: ProbeKind): ProbePlan {
    const f = this.func(symbol);
    const head = this.readFileBytes(f.fileOffset, Math.min(f.size || 64, 64));
    return {
      binary: this.path,
      symbol,
      kind,
      entryOffset: f.fileOffset + bodyOffset(head),
      functionOffset: f.fileOffset,
      retOffsets: kind === 'ret' ? this.retSites(symbol).sites.map((s) => s.fileOffset) : [],
    };
  }

  private readFileBytes(offset: number, length: number): Uint8Array {
    const fd = openSync(this.path, 'r');
    try {
      const buf = Buffer.alloc(length);
      readSync(fd, buf, 0, length, offset);
      return buf;
    } finally {
      closeSync(fd);
    }
  }
}

/** Opens a Go binary for tracing; every problem with the file is a one-line LabError. */
export async function openExecutable(path: string): Promise<TracedExecutable> {
  return TracedExecutable.open(path);
}

