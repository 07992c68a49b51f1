/**
 * Typed values on a probe: what the BPF programs must copy for a function (lab_probe_config and
 * the cookie's register counts), and each event's values decoded from its raw words and bytes when
 * first read (TypedEvent). A probe opened with explicit register counts (args/rets/stringArg) stays
 * raw: registers as numbers.
 */
import { closeSync, openSync, readSync } from 'node:fs';
import { LAB_GO_KIND_MASK, LAB_GO_TYPE_KIND_OFFSET, LAB_MAX_REGS, LAB_READS } from './constants.gen.ts';
import { LAB_EVENT_SIZE, type LabEventReader } from './events.gen.ts';
import type { Signature } from './abi.ts';
import type { Executable } from './executable.ts';
import {
  decodeValues,
  type DecodedValues,
  encodeReads,
  planValues,
  type GoValue,
  type Memory,
  type RawWords,
  type ValueInfo,
  type ValuePlan,
} from './values.ts';
import type { TraceEvent } from './trace-event.ts';

export interface TypedValues {
  values: ValuePlan;
  /** Offsets in runtime.g (DWARF): the goroutine id, the stack's top. */
  goidOffset?: number;
  stackHiOffset?: number;
  memory: Memory;
  /**
   * Values may be decoded when first read: false for a plan that reads the traced process's memory
   * (an interface's dynamic type), which may be gone by then, so its events decode as they arrive.
   */
  decodeOnRead: boolean;
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
      decodeOnRead: !readsProcessMemory(signature),
    },
  };
}

/** Kinds decoded from the record alone; any other (an interface's dynamic type) is read from the live process. */
const recordOnlyKinds = new Set(['int', 'bool', 'float', 'complex', 'pointer', 'string', 'slice']);
const readsProcessMemory = (s: Signature) =>
  [...s.params, ...s.results].some((slot) => slot.pieces.some((p) => !recordOnlyKinds.has(p.type.kind)));

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

/** What a probe's links other than its own entry and RETs are: inlined copies' entries, tail jumps. */
export interface ProbeSites {
  inlinedCallers?: string[];
  tailCalls?: (string | undefined)[];
  /** The probe asked for a word read through an argument (ProbeOptions.readThrough). */
  readThrough?: boolean;
}

let decodes = 0;
/** Events whose typed values were decoded so far (in this process): a consumer that reads only raw fields causes none. */
export const typedDecodes = (): number => decodes;

/**
 * An event of a typed probe. Its raw fields are plain properties, and so are the raw words and
 * bytes its values come from (copied out of the record as it arrives: the record is read in the
 * ring buffer itself, whose space the kernel reuses once the batch is read); args, ret, params and
 * results are decoded from them the first time one of them is read, so a consumer pays only for
 * what it reads. JSON and util.inspect show it decoded, as a plain object.
 */
export class TypedEvent implements TraceEvent {
  declare goid?: string;
  declare ret_site?: number;
  declare entry_tid?: number;
  declare word?: bigint;
  declare tail_call?: string;
  declare unwound?: number;
  readonly #raw: RawWords;
  readonly #typed: TypedValues;
  #values: DecodedValues | undefined;

  constructor(
    readonly kind: TraceEvent['kind'],
    readonly symbol: string,
    readonly pid: number,
    readonly tid: number,
    readonly goroutine: string,
    readonly ts_ns: number,
    readonly latency_ns: number | null,
    r: LabEventReader,
    at: number,
    typed: TypedValues,
    /** Decode when first read (false: now; TypedValues.decodeOnRead says whether a plan may wait). */
    decodeOnRead: boolean,
    /** ret mode: the function this call left by a tail jump (its results are that function's, not read). */
    tailCall: string | undefined,
  ) {
    if (tailCall !== undefined) this.tail_call = tailCall;
    this.#typed = typed;
    this.#raw = rawWords(r, at, typed.values, this.#withArgs(), this.#withRet(), decodeOnRead);
    if (!decodeOnRead) this.#values = this.#decode();
  }

  get args(): GoValue[] {
    return (this.#values ??= this.#decode()).args;
  }
  get ret(): GoValue[] {
    return (this.#values ??= this.#decode()).ret;
  }
  get params(): ValueInfo[] {
    return (this.#values ??= this.#decode()).params;
  }
  get results(): ValueInfo[] {
    return (this.#values ??= this.#decode()).results;
  }
  /** The integer registers the values were read from (entry, return): raw, never decoded. */
  get regs(): { args: bigint[]; ret: bigint[] } {
    return { args: this.#raw.argRegs, ret: this.#raw.retRegs };
  }

  /** The event as a plain object, values decoded (what JSON.stringify and eventJson write). */
  toJSON(): TraceEvent {
    return { ...this, args: this.args, ret: this.ret, params: this.params, results: this.results, regs: this.regs };
  }

  [Symbol.for('nodejs.util.inspect.custom')](
    _depth: number,
    options: object,
    inspect: (v: unknown, o: object) => string,
  ) {
    return inspect(this.toJSON(), options);
  }

  #withArgs(): boolean {
    return this.kind === 'entry' || this.kind === 'unwound' || this.latency_ns !== null;
  }
  #withRet(): boolean {
    return this.kind === 'call' || this.kind === 'return';
  }

  #decode(): DecodedValues {
    decodes++;
    const t = this.#typed;
    const raw = this.#raw;
    const withRet = this.#withRet() && this.tail_call === undefined;
    const values = decodeValues(t.values, raw, this.#withArgs(), withRet, t.memory, this.pid);
    // Decoded once: only the registers (regs) are still wanted.
    raw.argData = raw.retData = undefined;
    return values;
  }
}

/**
 * The registers and value bytes an event's values are decoded from. `keep`: the event decodes
 * later, so its bytes are copied out of the record, whose ring-buffer space the kernel reuses.
 */
function rawWords(
  r: LabEventReader,
  at: number,
  v: ValuePlan,
  withArgs: boolean,
  withRet: boolean,
  keep: boolean,
): RawWords {
  // Loops over one reader method each, not closures or a method passed in: this runs per event.
  const argRegs: bigint[] = new Array(withArgs ? v.argRegs : 0);
  const retRegs: bigint[] = new Array(withRet ? v.retRegs : 0);
  for (let i = 0; i < argRegs.length; i++) argRegs[i] = r.argsExact(at, i);
  for (let i = 0; i < retRegs.length; i++) retRegs[i] = r.retExact(at, i);
  const raw: RawWords = { argRegs, retRegs };
  // The values' bytes follow the event in its record: the entry's reads, then the return's (bpf/events.h).
  const data = r.data_len(at);
  if (data === 0) return raw;
  const split = r.arg_data_len(at);
  const start = at + LAB_EVENT_SIZE;
  const bytes = keep ? new Uint8Array(r.buffer.slice(start, start + data)) : new Uint8Array(r.buffer, start, data);
  if (withArgs && split > 0) raw.argData = bytes.subarray(0, split);
  if (withRet && data > split) raw.retData = bytes.subarray(split, data);
  return raw;
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
