/** What a probe delivers: one decoded event, and the count of those it could not deliver. */
import type { GoValue, ValueInfo } from './values.ts';

export type TraceEvent = {
  /** unwound: ret mode, a call a panic unwound (no RET came); args and latency up to when that was seen. */
  kind: 'entry' | 'return' | 'call' | 'exit' | 'unwound';
  symbol: string;
  pid: number;
  tid: number;
  /** The g pointer (r14), hex. */
  goroutine: string;
  /** The goroutine id (runtime.g's goid), decimal: absent when the binary's DWARF does not say where it is. */
  goid?: string;
  ts_ns: number;
  /** The parameters' values in order: typed Go values (integers as bigint), or registers as numbers for a raw probe (args/rets set). */
  args: GoValue[];
  str?: string;
  /** The results' values in order, exactly the function's results. */
  ret: GoValue[];
  /** Names and types beside args and ret (typed probes). */
  params?: ValueInfo[];
  results?: ValueInfo[];
  /** Typed probes: the integer registers the values were read from (entry, return). */
  regs?: { args: bigint[]; ret: bigint[] };
  /** Calls of this function deeper on the goroutine that a panic unwound, found at this return. */
  unwound?: number;
  /** Entries of a probe opened with readThrough: the word read through that pointer argument, as the call began. */
  word?: bigint;
  /** ret mode: the call left by a tail jump to this function, whose results it returns (not read). */
  tail_call?: string;
  /** An entry of an inlined copy of the function: the function whose code holds it (its arguments cannot be read). */
  inlined_into?: string;
  latency_ns: number | null;
  ret_site?: number;
  /** The thread the paired entry ran on, when it differs from `tid`: the goroutine moved between threads. */
  entry_tid?: number;
  exit_code?: number;
  signal?: number;
};

/** Events a probe lost, by why. */
export interface DropCounts {
  /** The ring buffer was full: the kernel could not hand them to this process (counted by the BPF programs). */
  ring: number;
  /** This process received them but the probe's reader was too slow: its queue was at its limit. */
  reader: number;
}

/** Why events were lost, in words, for a count of each reason. */
export function describeDrops(d: DropCounts): string {
  const parts = [];
  if (d.ring)
    parts.push(`${d.ring} because the ring buffer was full (the tracer's process did not read it fast enough)`);
  if (d.reader) parts.push(`${d.reader} because the reader was too slow (its queue was full)`);
  return parts.join(' and ');
}
