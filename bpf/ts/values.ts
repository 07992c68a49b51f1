/**
 * Typed values for trace events: a function's parameters and results (abi.ts assigns them to
 * registers and stack words), decoded from what the BPF programs copied — registers, and the
 * memory reads this module plans (bpf/events.h, struct lab_read): the stack argument area, every
 * string's bytes, the words an interface points to — into Go values: exact 64-bit integers
 * (BigInt), bools, pointers as hex, strings measured in bytes, slices as len/cap, interfaces as
 * their dynamic type (with the value when it is a scalar or a string). Reads share a per-event
 * byte budget; what does not fit is said to be beyond it. Floats in X registers are out of reach.
 */
import { LabError } from '../../core/errors.ts';
import { INT_REGS, type GoType, type Piece, type Signature, type Slot } from './abi.ts';
import {
  LAB_DATA_DEFAULT,
  LAB_DATA_MAX,
  LAB_READ_FAULT,
  LAB_READS,
  LabReadFlags,
  LabReadSource,
} from './constants.gen.ts';

/** A slice value: its length and capacity (its elements are not copied). */
export interface GoSlice {
  len: bigint;
  cap: bigint;
}

/** An interface holding a scalar or a string: its dynamic type and the value (JSON: {"type","value"}). */
export class GoBoxed {
  constructor(
    readonly type: string,
    readonly value: GoValue,
  ) {}
}

/** A value as the tracer shows it. Integers are exact (bigint); interfaces are their dynamic type's name (null: nil), or a GoBoxed. */
export type GoValue =
  | bigint
  | number
  | boolean
  | string
  | null
  | GoSlice
  | GoBoxed
  | GoValue[]
  | { [field: string]: GoValue };

/** What an event says about one value besides the value itself. */
export interface ValueInfo {
  name: string;
  type: string;
  /** Strings: the full length in bytes. */
  len?: number;
  /** Strings: only the first bytes were copied (`len` has the full length). */
  truncated?: boolean;
  /** Strings that are not valid UTF-8: each byte that is not is written \xNN, and a backslash \\. */
  escaped?: boolean;
  /** The value could not be read; why. */
  unavailable?: string;
}

/** Raw words one event carries: integer registers, and the bytes of its reads (entry's, return's). */
export interface RawWords {
  argRegs: bigint[];
  retRegs: bigint[];
  /** The record's value bytes of each side (bpf/events.h: a u32 length, a u32 count, the bytes, padding). */
  argData?: Uint8Array;
  retData?: Uint8Array;
}

/** Reads a traced process's memory: for the dynamic types of interfaces. */
export interface Memory {
  /** The name of the runtime type descriptor at `address` (what %T prints), or undefined. */
  typeName(address: bigint, pid: number): string | undefined;
  /** The type descriptor an itab at `address` points to. */
  itabType(address: bigint, pid: number): bigint | undefined;
  /** The kind of the type descriptor at `address` (abi.Kind: 2 int … 24 string), or undefined. */
  typeKind?(address: bigint, pid: number): number | undefined;
}

/** One memory read BPF makes at a probe (struct lab_read). */
export interface MemoryRead {
  base: number;
  len: number;
  flags: number;
  word: number;
}

/** Which reads of a side hold a piece's memory. */
interface PieceReads {
  /** A string's bytes. */
  bytes?: number;
  /** The two words an interface's data word points to (a boxed scalar). */
  box?: number;
  /** The string an interface holds. */
  str?: number;
}

/** What BPF reads at one side (entry or return), and where the decoder finds each piece in it. */
export interface SidePlan {
  reads: MemoryRead[];
  /** The read that copies the stack argument area, from word `first`, `words` long. */
  stack?: { read: number; first: number; words: number };
  pieces: Map<Piece, PieceReads>;
  /** Pieces whose memory no read could reach, and why. */
  unreachable: Map<Piece, string>;
  /**
   * Every value of the side is one integer, bool or pointer in one register: decoded straight from
   * the registers, with nothing to add to its infos (the common case, and the per-event hot path).
   */
  fromRegisters?: (regs: bigint[]) => GoValue[];
}

export interface ValuePlan {
  signature: Signature;
  /** Integer registers to copy at entry and at return. */
  argRegs: number;
  retRegs: number;
  entry: SidePlan;
  ret: SidePlan;
  /** Bytes of values an event may carry (lab_probe_config.budget). */
  budget: number;
  paramInfo: ValueInfo[];
  resultInfo: ValueInfo[];
}

export const FLOAT_UNAVAILABLE =
  'in a float register (X0–X14): a uprobe sees only the integer registers (pt_regs has no XMM state)';

/** The largest per-event value budget, and the default. */
export const VALUE_BUDGET_MAX = LAB_DATA_MAX;
export const VALUE_BUDGET_DEFAULT = LAB_DATA_DEFAULT;

/** A read's source byte for a place: its register, or its word of the stack argument area. */
function source(place: Piece['places'][number]): number | undefined {
  if ('reg' in place) return LabReadSource.LAB_FROM_REG + place.reg;
  if (
    'stack' in place &&
    place.stack % 8 === 0 &&
    place.stack / 8 < LabReadSource.LAB_FROM_SP - LabReadSource.LAB_FROM_STACK
  )
    return LabReadSource.LAB_FROM_STACK + place.stack / 8;
  return undefined;
}

function planSide(slots: Slot[]): SidePlan {
  const side: SidePlan = { reads: [], pieces: new Map(), unreachable: new Map() };
  let lo = Infinity;
  let hi = 0;
  for (const s of slots)
    for (const p of s.pieces)
      for (const pl of p.places)
        if ('stack' in pl) {
          lo = Math.min(lo, Math.floor(pl.stack / 8));
          hi = Math.max(hi, Math.ceil((pl.stack + pl.size) / 8));
        }
  const maxWords = Math.min(LAB_DATA_MAX / 8 - 1, 255 - LabReadSource.LAB_WORDS);
  if (hi > lo && lo <= 255) {
    const words = Math.min(hi - lo, maxWords);
    side.stack = { read: 0, first: lo, words };
    side.reads.push({ base: LabReadSource.LAB_FROM_SP, len: LabReadSource.LAB_WORDS + words, flags: 0, word: lo });
  }
  const add = (p: Piece, key: keyof PieceReads, r: MemoryRead) => {
    if (side.reads.length >= LAB_READS) {
      side.unreachable.set(p, `more memory reads than a probe makes (${LAB_READS} at entry, ${LAB_READS} at return)`);
      return;
    }
    const entry = side.pieces.get(p) ?? {};
    entry[key] = side.reads.length;
    side.pieces.set(p, entry);
    side.reads.push(r);
  };
  for (const s of slots)
    for (const p of s.pieces) {
      if (p.type.kind !== 'string' && p.type.kind !== 'interface') continue;
      const [first, second] = p.places.map(source);
      if (first === undefined || second === undefined) {
        side.unreachable.set(p, 'on the stack beyond the words a read can address');
        continue;
      }
      if (p.type.kind === 'string') add(p, 'bytes', { base: first, len: second, flags: 0, word: 0 });
      else {
        add(p, 'box', { base: second, len: LabReadSource.LAB_WORDS + 2, flags: 0, word: 0 });
        const flags = p.type.empty ? LabReadFlags.LAB_READ_STRING_IN_EFACE : LabReadFlags.LAB_READ_STRING_IN_IFACE;
        add(p, 'str', { base: second, len: 0, flags, word: first });
      }
    }
  side.fromRegisters = registerDecoder(slots);
  return side;
}

/** One register word as a value of a register-only side (what Decoder.piece makes of it). */
type RegisterValue = (word: bigint) => GoValue;

/** The decoder of a side whose values are each one int, bool or pointer in one register (undefined for any other). */
function registerDecoder(slots: Slot[]): ((regs: bigint[]) => GoValue[]) | undefined {
  const regs: number[] = [];
  const convert: RegisterValue[] = [];
  for (const s of slots) {
    const p = s.pieces[0];
    const place = p?.places[0];
    if (s.pieces.length !== 1 || p.places.length !== 1 || !place || !('reg' in place)) return undefined;
    const t = p.type;
    if (s.type.kind === 'struct' || s.type.kind === 'array') return undefined;
    if (t.kind === 'int') {
      const bits = t.size * 8;
      convert.push(
        bits === 64 && t.signed
          ? (w) => BigInt.asIntN(64, w)
          : t.signed
            ? (w) => BigInt.asIntN(bits, w)
            : (w) => BigInt.asUintN(bits, w),
      );
    } else if (t.kind === 'bool') convert.push((w) => (w & 0xffn) !== 0n);
    else if (t.kind === 'pointer') convert.push((w) => (w === 0n ? null : hex(w)));
    else return undefined;
    regs.push(place.reg);
  }
  const n = regs.length;
  return (words) => {
    const values: GoValue[] = new Array(n);
    for (let i = 0; i < n; i++) values[i] = convert[i](words[regs[i]] ?? 0n);
    return values;
  };
}

/** Plans what BPF copies for a signature within `budget` bytes of values an event. */
export function planValues(signature: Signature, budget: number = LAB_DATA_DEFAULT): ValuePlan {
  const regsUsed = (slots: Slot[]) =>
    Math.max(0, ...slots.flatMap((s) => s.pieces.flatMap((p) => p.places.map((pl) => ('reg' in pl ? pl.reg + 1 : 0)))));
  const info = (s: Slot): ValueInfo => ({ name: s.name, type: s.type.name });
  return {
    signature,
    argRegs: regsUsed(signature.params),
    retRegs: regsUsed(signature.results),
    entry: planSide(signature.params),
    ret: planSide(signature.results),
    budget: Math.max(0, Math.min(LAB_DATA_MAX, Math.floor(budget))),
    paramInfo: signature.params.map(info),
    resultInfo: signature.results.map(info),
  };
}

/** The plan with another value budget (a probe's valueBytes): 0 to VALUE_BUDGET_MAX bytes an event. */
export function withBudget(plan: ValuePlan, bytes: number): ValuePlan {
  if (!Number.isInteger(bytes) || bytes < 0 || bytes > LAB_DATA_MAX)
    throw new LabError(
      `valueBytes: ${bytes} is not between 0 and ${LAB_DATA_MAX}`,
      `an event carries at most ${LAB_DATA_MAX} bytes of strings and stack words (bpf/events.h LAB_DATA_MAX)`,
    );
  return { ...plan, budget: bytes };
}

/** struct lab_read entries for lab_probe_config: LAB_READS of them, unused ones zero. */
export function encodeReads(reads: MemoryRead[], into: Uint8Array, at: number): void {
  for (let i = 0; i < LAB_READS; i++) {
    const r = reads[i];
    into.set(r ? [r.base, r.len, r.flags, r.word] : [0, 0, 0, 0], at + i * 4);
  }
}

/** One read as an event carries it: the full length, the bytes copied (undefined: it could not be read). */
interface ReadRecord {
  full: number;
  bytes?: Uint8Array;
}

/** The records of one side's value bytes, in the order of its reads; reads that did not fit have none. */
export function readRecords(data: Uint8Array | undefined): ReadRecord[] {
  const out: ReadRecord[] = [];
  if (!data) return out;
  const view = new DataView(data.buffer, data.byteOffset, data.byteLength);
  for (let at = 0; at + 8 <= data.length; ) {
    const full = view.getUint32(at, true);
    const copied = view.getUint32(at + 4, true);
    if (copied & LAB_READ_FAULT) {
      out.push({ full });
      at += 8;
      continue;
    }
    out.push({ full, bytes: data.subarray(at + 8, Math.min(data.length, at + 8 + copied)) });
    at += 8 + Math.ceil(copied / 8) * 8;
  }
  return out;
}

const MASK64 = (1n << 64n) - 1n;

function intOf(word: bigint, t: Extract<GoType, { kind: 'int' }>): bigint {
  const bits = t.size * 8;
  return t.signed ? BigInt.asIntN(bits, word) : BigInt.asUintN(bits, word);
}

const hex = (w: bigint) => '0x' + BigInt.asUintN(64, w).toString(16);

const utf8 = new TextDecoder('utf-8', { fatal: true });

/** Bytes as text, losslessly: valid UTF-8 as it is; otherwise each byte that is not UTF-8 as \xNN (and \ as \\). */
export function goString(bytes: Uint8Array): { text: string; escaped: boolean } {
  try {
    return { text: utf8.decode(bytes), escaped: false };
  } catch {
    let text = '';
    for (let i = 0; i < bytes.length; ) {
      const b = bytes[i];
      const n = b < 0x80 ? 1 : b >= 0xc2 && b < 0xe0 ? 2 : b >= 0xe0 && b < 0xf0 ? 3 : b >= 0xf0 && b < 0xf5 ? 4 : 0;
      let ch: string | undefined;
      if (n > 0 && i + n <= bytes.length) {
        try {
          ch = utf8.decode(bytes.subarray(i, i + n));
        } catch {
          ch = undefined;
        }
      }
      if (ch === undefined) {
        text += `\\x${b.toString(16).padStart(2, '0')}`;
        i++;
      } else {
        text += ch === '\\' ? '\\\\' : ch;
        i += n;
      }
    }
    return { text, escaped: true };
  }
}

/** Bytes up to the last whole UTF-8 sequence: a lead byte near the end whose sequence runs past it is dropped with what follows. */
function wholeRunes(b: Uint8Array): number {
  for (let back = 1; back <= 3 && back <= b.length; back++) {
    const c = b[b.length - back];
    if (c < 0x80) return b.length;
    if (c >= 0xc0) {
      const need = c >= 0xf0 ? 4 : c >= 0xe0 ? 3 : 2;
      return need > back ? b.length - back : b.length;
    }
  }
  return b.length;
}

/**
 * The fields of a struct (or every element of an array) that are Go strings, for formatValue to
 * quote them: its other string values are pointers and type names. Beside the value, so its JSON
 * stays plain.
 */
const goStringsIn = new WeakMap<object, Set<string> | 'all'>();

/** abi.Kind values of the runtime's type descriptors that the tracer shows inside an interface. */
const KIND = { bool: 1, int: 2, int64: 6, uint: 7, uintptr: 12, float32: 13, float64: 14, string: 24 } as const;

/** Decodes one side's values from its registers and read records. */
class Decoder {
  private readonly records: ReadRecord[];
  constructor(
    private readonly regs: bigint[],
    data: Uint8Array | undefined,
    private readonly side: SidePlan,
    private readonly budget: number,
    private readonly memory: Memory | undefined,
    private readonly pid: number,
  ) {
    this.records = readRecords(data);
  }

  private beyond(): string {
    return `beyond the event's ${this.budget}-byte value budget (raise it with --value-bytes, up to ${LAB_DATA_MAX})`;
  }

  /** The word at a place, or a reason it is not there. */
  private word(place: Piece['places'][number]): bigint | string {
    if ('reg' in place) return this.regs[place.reg] ?? 0n;
    if ('freg' in place) return FLOAT_UNAVAILABLE;
    const st = this.side.stack;
    const rec = st ? this.records[st.read] : undefined;
    if (!st || !rec) return this.beyond();
    if (!rec.bytes) return 'the stack argument area could not be read';
    const at = place.stack - st.first * 8;
    if (at < 0 || at + place.size > rec.bytes.length) return this.beyond();
    let w = 0n;
    for (let i = place.size - 1; i >= 0; i--) w = (w << 8n) | BigInt(rec.bytes[at + i]);
    return w & MASK64;
  }

  private text(rec: ReadRecord | undefined, len: number, info: ValueInfo): GoValue {
    info.len = len;
    if (len === 0) return '';
    if (!rec) {
      info.unavailable = this.beyond();
      return null;
    }
    if (!rec.bytes) {
      info.unavailable = 'its bytes could not be read (not mapped, or paged out)';
      return null;
    }
    let bytes = rec.bytes;
    if (bytes.length < len) {
      info.truncated = true;
      bytes = bytes.subarray(0, wholeRunes(bytes)); // a character the cut split is not invalid UTF-8: leave it out
    }
    const { text, escaped } = goString(bytes);
    if (escaped) info.escaped = true;
    return text;
  }

  piece(p: Piece, info: ValueInfo): GoValue {
    const why = this.side.unreachable.get(p);
    if (why) {
      info.unavailable = why;
      return null;
    }
    const words: bigint[] = [];
    for (const place of p.places) {
      const w = this.word(place);
      if (typeof w === 'string') {
        info.unavailable = w;
        return null;
      }
      words.push(w);
    }
    const t = p.type;
    switch (t.kind) {
      case 'int':
        return intOf(words[0], t);
      case 'bool':
        return (words[0] & 0xffn) !== 0n;
      case 'float': {
        const b = new DataView(new ArrayBuffer(8));
        b.setBigUint64(0, words[0], true);
        return t.size === 4 ? b.getFloat32(0, true) : b.getFloat64(0, true);
      }
      case 'complex':
        info.unavailable = 'complex values are not decoded';
        return null;
      case 'pointer':
        return words[0] === 0n ? null : hex(words[0]);
      case 'string': {
        const rec = this.records[this.side.pieces.get(p)?.bytes ?? -1];
        return this.text(rec, Number(BigInt.asUintN(64, words[1])), info);
      }
      case 'slice':
        return { len: BigInt.asIntN(64, words[1]), cap: BigInt.asIntN(64, words[2]) };
      case 'interface':
        return this.iface(p, t.empty, words, info);
      default:
        return null;
    }
  }

  /** An interface: its dynamic type's name, with the value beside it when that is a scalar or a string. */
  private iface(p: Piece, empty: boolean, words: bigint[], info: ValueInfo): GoValue {
    if (words[0] === 0n) return null;
    if (!this.memory) return hex(words[0]);
    // A non-empty interface holds an itab (whose _type is the dynamic type), an empty one the type itself.
    const type = empty ? words[0] : this.memory.itabType(words[0], this.pid);
    const name = type === undefined ? undefined : this.memory.typeName(type, this.pid);
    const shown = name ?? `(type at ${hex(type ?? words[0])})`;
    const kind = type === undefined ? undefined : this.memory.typeKind?.(type, this.pid);
    if (kind === undefined) return shown;
    const reads = this.side.pieces.get(p);
    if (kind === KIND.string) {
      const rec = this.records[reads?.str ?? -1];
      if (!rec) {
        info.unavailable = `its value: ${this.beyond()}`;
        return shown;
      }
      const inner: ValueInfo = { name: '', type: 'string' };
      const value = this.text(rec, rec?.full ?? 0, inner);
      if (value === null) return shown;
      if (inner.truncated) info.truncated = true;
      if (inner.escaped) info.escaped = true;
      info.len = inner.len;
      return new GoBoxed(shown, value);
    }
    const boxRec = this.records[reads?.box ?? -1];
    if (!boxRec) {
      if (kind === KIND.bool || (kind >= KIND.int && kind <= KIND.float64))
        info.unavailable = `its value: ${this.beyond()}`;
      return shown;
    }
    const box = boxRec.bytes;
    if (!box || box.length < 8) return shown;
    const view = new DataView(box.buffer, box.byteOffset, box.byteLength);
    const word = view.getBigUint64(0, true);
    if (kind === KIND.bool) return new GoBoxed(shown, (word & 0xffn) !== 0n);
    if (kind >= KIND.int && kind <= KIND.int64) {
      const bits = [64, 8, 16, 32, 64][kind - KIND.int];
      return new GoBoxed(shown, BigInt.asIntN(bits, word));
    }
    if (kind >= KIND.uint && kind <= KIND.uintptr) {
      const bits = [64, 8, 16, 32, 64, 64][kind - KIND.uint];
      return new GoBoxed(shown, BigInt.asUintN(bits, word));
    }
    if (kind === KIND.float64) return new GoBoxed(shown, view.getFloat64(0, true));
    if (kind === KIND.float32) return new GoBoxed(shown, view.getFloat32(0, true));
    return shown;
  }

  /** A slot's value: a scalar, or for structs and arrays the composite of their pieces. */
  slot(s: Slot, info: ValueInfo): GoValue {
    if (s.type.kind !== 'struct' && s.type.kind !== 'array') return s.pieces[0] ? this.piece(s.pieces[0], info) : null;
    this.nextPiece = 0;
    return this.composite(s.type, s, info);
  }

  // Methods, not closures made per call: under tsx (esbuild keepNames) each named closure costs a defineProperty.
  private nextPiece = 0;

  private composite(t: GoType, s: Slot, info: ValueInfo): GoValue {
    if (t.kind === 'struct') {
      const out: { [field: string]: GoValue } = {};
      for (const f of t.fields) out[f.name] = this.composite(f.type, s, info);
      const strings = t.fields.filter((f) => f.type.kind === 'string').map((f) => f.name);
      if (strings.length > 0) goStringsIn.set(out, new Set(strings));
      return out;
    }
    if (t.kind === 'array') {
      const out: GoValue[] = [];
      for (let k = 0; k < t.length; k++) out.push(this.composite(t.elem, s, info));
      if (t.elem.kind === 'string') goStringsIn.set(out, 'all');
      return out;
    }
    const p = s.pieces[this.nextPiece++];
    return p ? this.piece(p, info) : null;
  }
}

/** Decoded values and what goes beside them. */
export interface DecodedValues {
  args: GoValue[];
  ret: GoValue[];
  params: ValueInfo[];
  results: ValueInfo[];
}

/** Decodes one event's values. `withArgs`: the event carries its entry; `withRet`: it carries a return. */
export function decodeValues(
  plan: ValuePlan,
  raw: RawWords,
  withArgs: boolean,
  withRet: boolean,
  memory: Memory | undefined,
  pid: number,
): DecodedValues {
  const sig = plan.signature;
  const entry = plan.entry.fromRegisters;
  const ret = plan.ret.fromRegisters;
  if (entry && ret)
    // Register-only on both sides (the common case): no per-side result objects, the infos shared.
    return {
      args: withArgs ? entry(raw.argRegs) : [],
      ret: withRet ? ret(raw.retRegs) : [],
      params: plan.paramInfo,
      results: plan.resultInfo,
    };
  const a = withArgs
    ? decodeSide(sig.params, plan.paramInfo, raw.argRegs, raw.argData, plan.entry, plan.budget, memory, pid)
    : { values: [], infos: plan.paramInfo };
  const r = withRet
    ? decodeSide(sig.results, plan.resultInfo, raw.retRegs, raw.retData, plan.ret, plan.budget, memory, pid)
    : { values: [], infos: plan.resultInfo };
  return { args: a.values, ret: r.values, params: a.infos, results: r.infos };
}

/** One side of a call (parameters or results): its values, and their infos where a value added to them. */
function decodeSide(
  slots: Slot[],
  shared: ValueInfo[],
  regs: bigint[],
  data: Uint8Array | undefined,
  plan: SidePlan,
  budget: number,
  memory: Memory | undefined,
  pid: number,
): { values: GoValue[]; infos: ValueInfo[] } {
  if (plan.fromRegisters) return { values: plan.fromRegisters(regs), infos: shared };
  const d = new Decoder(regs, data, plan, budget, memory, pid);
  let infos = shared;
  const values: GoValue[] = [];
  for (let i = 0; i < slots.length; i++) {
    const info: ValueInfo = { ...shared[i] };
    values.push(d.slot(slots[i], info));
    if (info.len !== undefined || info.truncated || info.unavailable || info.escaped) {
      if (infos === shared) infos = shared.slice();
      infos[i] = info;
    }
  }
  return { values, infos };
}

// ---------------------------------------------------------------- formatting

/** A value as Go would print it in a call: 42, true, "text", nil, *main.shapeError, []int{len 3, cap 4}. */
export function formatValue(v: GoValue, info?: ValueInfo): string {
  if (v === null) {
    if (info?.unavailable) return info.len !== undefined ? `<${info.len} bytes, not copied>` : '?';
    return 'nil';
  }
  switch (typeof v) {
    case 'bigint':
      return v.toString();
    case 'boolean':
      return String(v);
    case 'number':
      return Number.isInteger(v) && Math.abs(v) < 1e21 ? v.toFixed(0) : String(v);
    case 'string':
      if (info?.type === 'string' || info?.len !== undefined) {
        // An escaped string already spells its odd bytes as \xNN: quote it without escaping them again.
        const q = info?.escaped ? `"${v.replace(/"/g, '\\"')}"` : JSON.stringify(v);
        return info?.truncated ? `${q}… (${info.len} bytes)` : q;
      }
      return v; // pointers, dynamic type names
  }
  if (v instanceof GoBoxed) {
    const inner =
      typeof v.value === 'string' ? formatValue(v.value, { ...info, name: '', type: 'string' }) : formatValue(v.value);
    return `${v.type}(${inner})`;
  }
  const strings = goStringsIn.get(v);
  const inner = (k: string, x: GoValue) =>
    typeof x === 'string' && (strings === 'all' || strings?.has(k)) ? JSON.stringify(x) : formatValue(x);
  if (Array.isArray(v)) return `[${v.map((x) => inner('', x)).join(' ')}]`;
  if ('len' in v && 'cap' in v && typeof v.len === 'bigint') return `${info?.type ?? '[]'}{len ${v.len}, cap ${v.cap}}`;
  return `{${Object.entries(v)
    .map(([k, x]) => `${k}:${inner(k, x)}`)
    .join(' ')}}`;
}

/** What formatCall needs of an event. */
export interface CallLike {
  kind: string;
  symbol: string;
  args: GoValue[];
  ret: GoValue[];
  params?: ValueInfo[];
  results?: ValueInfo[];
  latency_ns: number | null;
  goroutine: string;
  goid?: string;
  ret_site?: number;
  unwound?: number;
  inlined_into?: string;
  tail_call?: string;
}

export const formatArgs = (e: Pick<CallLike, 'args' | 'params'>): string =>
  e.args
    .map((v, i) => (e.params?.[i] ? `${e.params[i].name}=${formatValue(v, e.params[i])}` : formatValue(v)))
    .join(', ');

export function formatResults(e: Pick<CallLike, 'ret' | 'results'>): string {
  const parts = e.ret.map((v, i) => formatValue(v, e.results?.[i]));
  return parts.length === 1 ? parts[0] : `(${parts.join(', ')})`;
}

export const formatLatency = (ns: number | null) => (ns === null ? '' : `${(ns / 1000).toFixed(1)}µs`);

/**
 * One line per event that reads like Go:
 *   main.wordStats(s="hello big world") = (3, 4)  20.4µs g17 RET#0
 */
export function formatCall(e: CallLike): string {
  const who = e.goid && e.goid !== '0' ? `g${e.goid}` : `g=${e.goroutine}`;
  const call =
    e.kind === 'return' || e.kind === 'call'
      ? e.params && e.latency_ns === null
        ? `${e.symbol}(?)`
        : `${e.symbol}(${formatArgs(e)})`
      : `${e.symbol}(${formatArgs(e)})`;
  const tail = [
    formatLatency(e.latency_ns),
    who,
    e.ret_site !== undefined && e.ret_site >= 0 ? `RET#${e.ret_site}` : '',
  ];
  switch (e.kind) {
    case 'exit':
      return `${e.symbol}: traced process exited`;
    case 'entry':
      if (e.inlined_into)
        return [`→ ${e.symbol} (inlined into ${e.inlined_into}: its arguments are not in registers)`, who].join('  ');
      return [`→ ${call}`, who].join('  ');
    case 'unwound':
      return [`${call} unwound by a panic (no return)`, ...tail].filter(Boolean).join('  ');
    default: {
      const results = e.tail_call
        ? ` → tail call to ${e.tail_call} (its results)`
        : e.ret.length > 0
          ? ` = ${formatResults(e)}`
          : '';
      const unwound = e.unwound ? `  (${e.unwound} deeper call${e.unwound > 1 ? 's' : ''} unwound)` : '';
      const unpaired = e.latency_ns === null ? '  (entry not seen)' : '';
      return [`${call}${results}`, ...tail].filter(Boolean).join('  ') + unpaired + unwound;
    }
  }
}

/** JSON for events: BigInts as decimal strings (exact 64-bit), everything else as it is. */
export const eventJson = (e: unknown): string =>
  JSON.stringify(e, (_, v) => (typeof v === 'bigint' ? v.toString() : v));

export { INT_REGS };
