/**
 * A batch's events as the addon copied them out of the ring buffer (bpf/addon/tracer.cc,
 * CompactRecord): 8-byte slots, each record's fields at fixed slots, then its registers. Raw
 * events read their fields from here (the ring's space goes back to the kernel once the batch is
 * read); the block lives as long as one of its events does.
 *
 * A record's slots: 0 ts_ns, 1 latency_ns, 2 goroutine, 3 goid (doubles); int32 pairs: 4 pid,
 * tid; 5 entry_tid, ret_site; 6 kind, counts; 7 probe_id, the record's offset in the ring; 8
 * deref (64 bits); then the entry's registers and the return's (doubles). counts = nargs |
 * nrets << 8 | HAS_LATENCY | HAS_STR (an entry carries no return registers).
 */
export const FIXED_SLOTS = 9;
export const HAS_LATENCY = 1 << 16;
export const HAS_STR = 1 << 17;
/** Set by a probe that read a word through a pointer at entry (ProbeOptions.readThrough). */
export const HAS_WORD = 1 << 18;

/** Int32 indexes within a record's slots (slot × 2, + 1 for the second of a pair). */
export const I_PID = 8;
export const I_TID = 9;
export const I_ENTRY_TID = 10;
export const I_RET_SITE = 11;
export const I_KIND = 12;
export const I_COUNTS = 13;
export const I_PROBE = 14;
export const I_AT = 15;
export const I_DEREF = 16;

/** Slots a record takes. */
export const recordSlots = (counts: number) => FIXED_SLOTS + (counts & 0xff) + ((counts >> 8) & 0xff);

export class EventBlock {
  readonly f64: Float64Array;
  readonly i32: Int32Array;
  constructor(buffer: ArrayBuffer) {
    this.f64 = new Float64Array(buffer);
    this.i32 = new Int32Array(buffer);
  }
}
