/**
 * Typed values on a probe: what the BPF programs must copy for a function (lab_probe_config and
 * the cookie's register counts), and turning each event's raw words into named Go values. A probe
 * opened with explicit register counts (args/rets/stringArg) stays raw: registers as numbers.
 */
import { closeSync, openSync, readSync } from 'node:fs';
import { LAB_GO_KIND_MASK, LAB_GO_TYPE_KIND_OFFSET, LAB_MAX_REGS, LAB_READS } from './constants.gen.ts';
import { LAB_EVENT_SIZE, type LabEventReader } from './events.gen.ts';
import type { Executable } from './executable.ts';
import { decodeValues, encodeReads, planValues, type Memory, type RawWords, type ValuePlan } from './values.ts';
import type { TraceEvent } from './trace-event.ts';

export interface TypedValues {
  values: ValuePlan;
  /** Offsets in runtime.g (DWARF): the goroutine id, the stack's top. */
  goidOffset?: number;
  stackHiOffset?: number;
  memory: Memory;
}

/** The typed plan of a function, or why it has none (no DWARF, …): events then carry raw registers. */
export function typedValuesOf(exe: Executable, symbol: string): { typed?: TypedValues; problem?: string } {
  const { signature, problem } = exe.signature(symbol);
  const layout = exe.goroutineLayout();
  if (!signature) return { problem };
  return {
    typed: {
      values: planValues(signature),
      goidOffset: layout.goid,
      stackHiOffset: layout.stackHi,
      memory: new ProcessMemory(exe),
    },
  };
}

/** A word to read at entry through a pointer argument: register slot, then which 8-byte word it points to. */
export interface ReadThrough {
  slot: number;
  word: number;
}

/** struct lab_probe_config (bpf/events.h): u16 goid_offset, u16 stack_hi_offset, u16 budget, u8 deref_slot + 1, u8 deref_word, then the entry's and the return's struct lab_read[LAB_READS]. */
export function probeConfig(
  t: Pick<TypedValues, 'goidOffset' | 'stackHiOffset'> & { values?: ValuePlan },
  through?: ReadThrough,
): Uint8Array {
  const b = Buffer.alloc(8 + 2 * 4 * LAB_READS);
  b.writeUInt16LE(t.goidOffset ?? 0, 0);
  b.writeUInt16LE(t.stackHiOffset ?? 0, 2);
  b.writeUInt16LE(t.values?.budget ?? 0, 4);
  if (through) {
    b.writeUInt8(through.slot + 1, 6);
    b.writeUInt8(through.word, 7);
  }
  if (t.values) {
    encodeReads(t.values.entry.reads, b, 8);
    encodeReads(t.values.ret.reads, b, 8 + 4 * LAB_READS);
  }
  return b;
}

/** What the cookie tells the programs to copy for a typed probe (its strings come through the config's reads). */
export const typedCounts = (t: TypedValues) => ({
  nargs: Math.min(LAB_MAX_REGS, t.values.argRegs),
  nrets: Math.min(LAB_MAX_REGS, t.values.retRegs),
  strSlot: -1,
});

const goids = new Map<bigint, string>();
/** goids repeat across events of a goroutine: one string each. */
function goidName(g: bigint): string {
  let s = goids.get(g);
  if (s === undefined) {
    if (goids.size > 65536) goids.clear();
    goids.set(g, (s = g.toString()));
  }
  return s;
}

/** Adds the goroutine id, and for a typed probe replaces args/ret with the function's typed values. */
/** What a probe's links other than its own entry and RETs are: inlined copies' entries, tail jumps. */
export interface ProbeSites {
  inlinedCallers?: string[];
  tailCalls?: (string | undefined)[];
  /** The probe asked for a word read through an argument (ProbeOptions.readThrough). */
  readThrough?: boolean;
}

export function decorate(
  event: TraceEvent,
  r: LabEventReader,
  at: number,
  t: TypedValues | undefined,
  sites: ProbeSites,
): void {
  const goid = r.goidExact(at);
  if (goid !== 0n) event.goid = goidName(goid);
  if (sites.readThrough && event.kind === 'entry') event.word = r.derefExact(at);
  const inlinedCallers = sites.inlinedCallers;
  if (event.kind === 'entry' && event.ret_site !== undefined && inlinedCallers) {
    // An inlined copy has no calling convention: its arguments are wherever the caller's code keeps them.
    event.inlined_into = inlinedCallers[event.ret_site];
    event.args = [];
    event.ret = [];
    delete event.ret_site;
    return;
  }
  if (!t) return;
  const v = t.values;
  const kind = event.kind;
  const withArgs = kind === 'entry' || kind === 'unwound' || event.latency_ns !== null;
  const withRet = kind === 'call' || kind === 'return';
  const words = (read: (i: number) => bigint, n: number) => Array.from({ length: n }, (_, i) => read(i));
  // The values' bytes follow the event in its record: the entry's reads, then the return's (bpf/events.h).
  const data = r.data_len(at);
  const split = r.arg_data_len(at);
  const bytes = (from: number, to: number) =>
    to > from ? new Uint8Array(r.buffer, at + LAB_EVENT_SIZE + from, to - from) : undefined;
  const raw: RawWords = {
    argRegs: withArgs ? words((i) => r.argsExact(at, i), v.argRegs) : [],
    retRegs: withRet ? words((i) => r.retExact(at, i), v.retRegs) : [],
    argData: withArgs ? bytes(0, split) : undefined,
    retData: withRet ? bytes(split, data) : undefined,
  };
  const tail = event.ret_site !== undefined ? sites.tailCalls?.[event.ret_site] : undefined;
  const d = decodeValues(v, raw, withArgs, withRet && !tail, t.memory, event.pid);
  event.args = d.args;
  event.ret = d.ret;
  event.params = d.params;
  event.results = d.results;
  if (tail) event.tail_call = tail;
  event.regs = { args: raw.argRegs, ret: raw.retRegs };
  delete event.str;
  const unwound = r.unwound(at);
  if (unwound) event.unwound = unwound;
}

/**
 * A traced process's memory, for the dynamic types of interfaces: the runtime's type descriptors
 * (and the itabs the linker made) are in the file's image; itabs the runtime built at run time are
 * read from /proc/PID/mem.
 */
class ProcessMemory implements Memory {
  private readonly typesBase?: number;
  private readonly names = new Map<string, string | undefined>();

  constructor(private readonly exe: Executable) {
    this.typesBase = exe.symbolAddress('runtime.types');
  }

  private read(address: bigint, size: number, pid: number): Buffer | undefined {
    const a = Number(address);
    const image = this.exe.readImage(a, size);
    if (image) return Buffer.from(image);
    let fd: number | undefined;
    try {
      fd = openSync(`/proc/${pid}/mem`, 'r');
      const buf = Buffer.alloc(size);
      return readSync(fd, buf, 0, size, a) === size ? buf : undefined;
    } catch {
      return undefined; // the process is gone, or not ours to read
    } finally {
      if (fd !== undefined) closeSync(fd);
    }
  }

  typeKind(address: bigint, pid: number): number | undefined {
    const t = this.read(address + BigInt(LAB_GO_TYPE_KIND_OFFSET), 1, pid); // abi.Type.Kind_
    return t ? t[0] & LAB_GO_KIND_MASK : undefined;
  }

  itabType(address: bigint, pid: number): bigint | undefined {
    return this.read(address + 8n, 8, pid)?.readBigUInt64LE(0); // itab: inter, _type, hash, …
  }

  typeName(address: bigint, pid: number): string | undefined {
    const key = this.exe.readImage(Number(address), 1) ? address.toString() : `${pid}:${address}`;
    if (this.names.has(key)) return this.names.get(key);
    const name = this.readTypeName(address, pid);
    if (this.names.size > 4096) this.names.clear();
    this.names.set(key, name);
    return name;
  }

  /** abi.Type: tflag at 20, str (a nameOff from runtime.types) at 40; the name is flags, varint length, bytes. */
  private readTypeName(address: bigint, pid: number): string | undefined {
    if (this.typesBase === undefined) return undefined;
    const t = this.read(address, 48, pid);
    if (!t) return undefined;
    const tflag = t[20];
    const nameAt = BigInt(this.typesBase + t.readInt32LE(40));
    const head = this.read(nameAt, 11, pid);
    if (!head) return undefined;
    let len = 0;
    let i = 1;
    for (let shift = 0; i < head.length; i++, shift += 7) {
      len += (head[i] & 0x7f) << shift;
      if (head[i] < 0x80) break;
    }
    const bytes = this.read(nameAt + BigInt(i + 1), len, pid);
    if (!bytes) return undefined;
    const name = bytes.toString('utf8');
    return tflag & 2 ? name.slice(1) : name; // tflagExtraStar: stored as "*T" for T
  }
}
