/**
 * Witnesses of a traced Go program's death, for a tracer that cannot read its stderr: entry
 * probes on runtime.throw (its message is a typed string argument) and runtime.sighandler (the
 * signal, and the PC it hit, read from the signal context while the process still lives). What
 * they saw goes into classifyDeath (forensics.ts) with the exit status.
 */
import { closeSync, openSync, readFileSync, readSync } from 'node:fs';
import type { Probe, TracedExecutable } from '../bpf/ts/index.ts';
import { vmaFor, parseMaps, type DeathEvidence } from './forensics.ts';

/** Signals that end a Go program when they hit outside Go code (SIGURG, SIGPROF… are routine). */
const FATAL = new Set([4, 7, 11]);
/** ucontext_t on x86-64 Linux: uc_mcontext.gregs starts at 40, REG_RIP is gregs[16]. */
const RIP_IN_UCONTEXT = 40n + 16n * 8n;

export class DeathWitness {
  private readonly probes: Probe[] = [];
  private readonly seen = new Map<number, Required<Pick<DeathEvidence, 'throws' | 'signals'>>>();

  /** Opens the witnesses; a binary without the runtime's symbols (not Go, stripped) just has none. */
  constructor(exe: TracedExecutable, pid?: number) {
    for (const symbol of ['runtime.throw', 'runtime.sighandler']) {
      try {
        this.probes.push(exe.uprobe(symbol, { pid, onNotice: () => {} }));
      } catch {
        // no such function in this binary: nothing to witness there
      }
    }
    for (const p of this.probes) void this.watch(p);
  }

  private of(pid: number) {
    let s = this.seen.get(pid);
    if (!s) this.seen.set(pid, (s = { throws: [], signals: [] }));
    return s;
  }

  private async watch(probe: Probe): Promise<void> {
    for await (const batch of probe.batches()) for (const e of batch) this.note(e);
  }

  private note(e: { kind: string; symbol: string; pid: number; args: unknown[] }): void {
    if (e.kind !== 'entry') return;
    if (e.symbol === 'runtime.throw' && typeof e.args[0] === 'string') this.of(e.pid).throws.push(e.args[0]);
    if (e.symbol === 'runtime.sighandler') {
      const signal = Number(e.args[0]);
      if (!FATAL.has(signal)) return;
      const pc = typeof e.args[2] === 'string' ? ripOf(e.pid, BigInt(e.args[2])) : undefined;
      let inUprobes: boolean | undefined;
      try {
        inUprobes = pc ? vmaFor(pc, parseMaps(readFileSync(`/proc/${e.pid}/maps`, 'utf8')))?.name === '[uprobes]' : undefined;
      } catch {
        // gone already: classifyDeath falls back to the page's usual address
      }
      this.of(e.pid).signals.push({ signal, pc, inUprobes });
    }
  }

  /** What was seen of one process (events still queued are read first: the exit comes after them). */
  evidence(pid: number): Pick<DeathEvidence, 'throws' | 'signals'> {
    for (const p of this.probes) for (const e of (p as Probe & { take(): Parameters<DeathWitness['note']>[0][] }).take()) this.note(e);
    return this.seen.get(pid) ?? { throws: [], signals: [] };
  }

  close(): void {
    for (const p of this.probes) p.close();
  }
}

/** The PC a signal hit: RIP in the handler's ucontext, read from the live process. */
function ripOf(pid: number, ucontext: bigint): string | undefined {
  let fd: number | undefined;
  try {
    fd = openSync(`/proc/${pid}/mem`, 'r');
    const buf = Buffer.alloc(8);
    if (readSync(fd, buf, 0, 8, Number(ucontext + RIP_IN_UCONTEXT)) !== 8) return undefined;
    return '0x' + buf.readBigUInt64LE(0).toString(16);
  } catch {
    return undefined;
  } finally {
    if (fd !== undefined) closeSync(fd);
  }
}
