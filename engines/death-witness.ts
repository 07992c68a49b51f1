/**
 * Witnesses of a traced Go program's death, for a tracer that cannot read its stderr: entry
 * probes on runtime.throw (its message is a typed string argument) and runtime.sighandler (the
 * signal, and the PC it hit, read by the entry program from the signal context). What
 * they saw goes into classifyDeath (model/forensics.ts) with the exit status.
 */
import { readFileSync } from 'node:fs';
import type { Probe, TracedExecutable } from '../bpf/ts/index.ts';
import { vmaFor, parseMaps, type DeathEvidence } from '../model/forensics.ts';

/** Signals that end a Go program when they hit outside Go code (SIGURG, SIGPROF… are routine). */
const FATAL = new Set([4, 7, 11]);
/** ucontext_t on x86-64 Linux: uc_mcontext.gregs starts at 40, REG_RIP is gregs[16] — word 21. */
const RIP_WORD = (40 + 16 * 8) / 8;

export class DeathWitness {
  private readonly probes: Probe[] = [];
  private readonly seen = new Map<number, Required<Pick<DeathEvidence, 'throws' | 'signals'>>>();

  /** Opens the witnesses; a binary without the runtime's symbols (not Go, stripped) just has none. */
  constructor(exe: TracedExecutable, pid?: number) {
    // The handler's signal context (its ctxt parameter, per DWARF) holds the PC the signal hit: the
    // entry program reads it while the process lives (it prints a traceback and exits right after).
    const ctxt = exe.signature('runtime.sighandler').signature?.params.find((p) => p.name === 'ctxt')?.pieces[0]
      ?.places[0];
    const slot = ctxt && 'reg' in ctxt ? ctxt.reg : 2;
    for (const [symbol, readThrough] of [
      ['runtime.throw', undefined],
      ['runtime.sighandler', { slot, word: RIP_WORD }],
    ] as const) {
      try {
        this.probes.push(exe.uprobe(symbol, { pid, onNotice: () => {}, readThrough }));
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

  private note(e: { kind: string; symbol: string; pid: number; args: unknown[]; word?: bigint }): void {
    if (e.kind !== 'entry') return;
    if (e.symbol === 'runtime.throw' && typeof e.args[0] === 'string') this.of(e.pid).throws.push(e.args[0]);
    if (e.symbol === 'runtime.sighandler') {
      const signal = Number(e.args[0]);
      if (!FATAL.has(signal)) return;
      const pc = e.word ? '0x' + e.word.toString(16) : undefined;
      let inUprobes: boolean | undefined;
      try {
        // A dying process's maps may already be gone: no mapping found means "not known", not "no".
        const vma = pc ? vmaFor(pc, parseMaps(readFileSync(`/proc/${e.pid}/maps`, 'utf8'))) : undefined;
        inUprobes = vma ? vma.name === '[uprobes]' : undefined;
      } catch {
        // gone already: classifyDeath falls back to the page's usual address
      }
      this.of(e.pid).signals.push({ signal, pc, inUprobes });
    }
  }

  /** What was seen of one process (events still queued are read first: the exit comes after them). */
  evidence(pid: number): Pick<DeathEvidence, 'throws' | 'signals'> {
    for (const p of this.probes)
      for (const e of (p as Probe & { take(): Parameters<DeathWitness['note']>[0][] }).take()) this.note(e);
    return this.seen.get(pid) ?? { throws: [], signals: [] };
  }

  close(): void {
    for (const p of this.probes) p.close();
  }
}
