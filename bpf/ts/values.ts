/**
 * Typed values for trace events: a function's parameters and results (abi.ts assigns them to
 * registers and stack words), decoded from what the BPF programs copied — registers, the stack
 * argument area, a string's first bytes — into Go values: exact 64-bit integers (BigInt), bools,
 * floats, pointers as hex, strings with their full length, slices as len/cap, interfaces as their
 * dynamic type's name. Pure decoding: the memory a value points into is read through `Memory`.
 */
import { INT_REGS, type GoType, type Piece, type Signature, type Slot } from './abi.ts';

/** A slice value: its length and capacity (its elements are not copied). */
export interface GoSlice {
  len: bigint;
  cap: bigint;
}

/** A value as the tracer shows it. Integers are exact (bigint); interfaces are their dynamic type's name (null: nil). */
export type GoValue = bigint | number | boolean | string | null | GoSlice | GoValue[] | { [field: string]: GoValue };

/** What an event says about one value besides the value itself. */
export interface ValueInfo {
  name: string;
  type: string;
  /** Strings: the full length in bytes. */
  len?: number;
  /** Strings: only the first bytes were copied (`len` has the full length). */
  truncated?: boolean;
  /** The value could not be read; why. */
  unavailable?: string;
}

/** Raw words one event carries: integer registers and the stack argument area, each at entry and at return. */
export interface RawWords {
  argRegs: bigint[];
  retRegs: bigint[];
  argStack: bigint[] | undefined;
  retStack: bigint[] | undefined;
  /** The copied string argument / result (the one BPF was told to copy) and its full length. */
  argStr?: { text: string; len: number };
  retStr?: { text: string; len: number };
}

/** Reads a traced process's memory: for the dynamic types of interfaces. */
export interface Memory {
  /** The name of the runtime type descriptor at `address` (what %T prints), or undefined. */
  typeName(address: bigint, pid: number): string | undefined;
  /** The type descriptor an itab at `address` points to. */
  itabType(address: bigint, pid: number): bigint | undefined;
}

export interface ValuePlan {
  signature: Signature;
  /** Register slots of the string argument and result BPF copies (-1: none). */
  argStringSlot: number;
  retStringSlot: number;
  /** Integer registers to copy at entry and at return. */
  argRegs: number;
  retRegs: number;
  /** Words of the stack argument area to copy (covers the stack-assigned parameters and results). */
  stackWords: number;
  paramInfo: ValueInfo[];
  resultInfo: ValueInfo[];
}

const FLOAT_UNAVAILABLE = 'float registers (X0–X14) are not in the registers a uprobe sees';

/** Plans what BPF copies for a signature: `stackWordsMax` is what an event has room for. */
export function planValues(signature: Signature, stackWordsMax: number): ValuePlan {
  const firstString = (slots: Slot[]) => {
    for (const s of slots) {
      if (s.onStack) continue;
      const p = s.pieces.find((x) => x.type.kind === 'string');
      const place = p?.places[0];
      if (place && 'reg' in place) return place.reg;
    }
    return -1;
  };
  const regsUsed = (slots: Slot[]) =>
    Math.max(0, ...slots.flatMap((s) => s.pieces.flatMap((p) => p.places.map((pl) => ('reg' in pl ? pl.reg + 1 : 0)))));
  const anyStack = [...signature.params, ...signature.results].some((s) => s.onStack);
  const info = (s: Slot): ValueInfo => ({ name: s.name, type: s.type.name });
  return {
    signature,
    argStringSlot: firstString(signature.params),
    retStringSlot: firstString(signature.results),
    argRegs: regsUsed(signature.params),
    retRegs: regsUsed(signature.results),
    stackWords: anyStack ? Math.min(stackWordsMax, Math.ceil(signature.stackBytes / 8)) : 0,
    paramInfo: signature.params.map(info),
    resultInfo: signature.results.map(info),
  };
}

const MASK64 = (1n << 64n) - 1n;

function intOf(word: bigint, t: Extract<GoType, { kind: 'int' }>): bigint {
  const bits = BigInt(t.size * 8);
  return t.signed ? BigInt.asIntN(Number(bits), word) : BigInt.asUintN(Number(bits), word);
}

const hex = (w: bigint) => '0x' + BigInt.asUintN(64, w).toString(16);

/** Decodes one value from the words of its pieces. */
class Decoder {
  constructor(
    private readonly regs: bigint[],
    private readonly stack: bigint[] | undefined,
    private readonly str: { text: string; len: number } | undefined,
    private readonly strSlot: number,
    private readonly memory: Memory | undefined,
    private readonly pid: number,
  ) {}

  /** The word at a place, or a reason it is not there. */
  private word(place: Piece['places'][number]): bigint | string {
    if ('reg' in place) return this.regs[place.reg] ?? 0n;
    if ('freg' in place) return FLOAT_UNAVAILABLE;
    const stack = this.stack;
    if (!stack) return 'on the stack (not copied)';
    const index = place.stack >> 3;
    if (index >= stack.length) return `on the stack beyond the ${stack.length * 8} bytes an event copies`;
    const shift = BigInt((place.stack & 7) * 8);
    const w = stack[index] >> shift;
    return place.size >= 8 ? w & MASK64 : w & ((1n << BigInt(place.size * 8)) - 1n);
  }

  piece(p: Piece, info: ValueInfo): GoValue {
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
      case 'float':
      case 'complex':
        return null; // (float registers never reach here; stack floats:)
      case 'pointer':
        return words[0] === 0n ? null : hex(words[0]);
      case 'string': {
        const len = Number(BigInt.asUintN(64, words[1]));
        info.len = len;
        const place = p.places[0];
        if (len === 0) return '';
        if (this.str && 'reg' in place && place.reg === this.strSlot) {
          if (this.str.text.length < len || Buffer.byteLength(this.str.text) < len) info.truncated = true;
          return this.str.text;
        }
        info.truncated = true;
        info.unavailable = 'only one string argument and one string result are copied';
        return null;
      }
      case 'slice':
        return { len: BigInt.asIntN(64, words[1]), cap: BigInt.asIntN(64, words[2]) };
      case 'interface': {
        if (words[0] === 0n) return null;
        if (!this.memory) return hex(words[0]);
        // A non-empty interface holds an itab (whose _type is the dynamic type), an empty one the type itself.
        const type = t.empty ? words[0] : this.memory.itabType(words[0], this.pid);
        const name = type === undefined ? undefined : this.memory.typeName(type, this.pid);
        return name ?? `(type at ${hex(type ?? words[0])})`;
      }
      default:
        return null;
    }
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
      return out;
    }
    if (t.kind === 'array') {
      const out: GoValue[] = [];
      for (let k = 0; k < t.length; k++) out.push(this.composite(t.elem, s, info));
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
  const a = withArgs
    ? decodeSide(sig.params, plan.paramInfo, raw.argRegs, raw.argStack, raw.argStr, plan.argStringSlot, memory, pid)
    : { values: [], infos: plan.paramInfo };
  const r = withRet
    ? decodeSide(sig.results, plan.resultInfo, raw.retRegs, raw.retStack, raw.retStr, plan.retStringSlot, memory, pid)
    : { values: [], infos: plan.resultInfo };
  return { args: a.values, ret: r.values, params: a.infos, results: r.infos };
}

/** One side of a call (parameters or results): its values, and their infos where a value added to them. */
function decodeSide(
  slots: Slot[],
  shared: ValueInfo[],
  regs: bigint[],
  stack: bigint[] | undefined,
  str: RawWords['argStr'],
  strSlot: number,
  memory: Memory | undefined,
  pid: number,
): { values: GoValue[]; infos: ValueInfo[] } {
  const d = new Decoder(regs, stack, str, strSlot, memory, pid);
  let infos = shared;
  const values: GoValue[] = [];
  for (let i = 0; i < slots.length; i++) {
    const s = slots[i];
    const info: ValueInfo = { ...shared[i] };
    values.push(s.type.kind === 'float' || s.type.kind === 'complex' ? floatValue(s, info, stack) : d.slot(s, info));
    if (info.len !== undefined || info.truncated || info.unavailable) {
      if (infos === shared) infos = shared.slice();
      infos[i] = info;
    }
  }
  return { values, infos };
}

/** Floats live in X registers, which a uprobe's pt_regs do not hold; stack-assigned floats are read from the stack copy. */
function floatValue(s: Slot, info: ValueInfo, stack: bigint[] | undefined): GoValue {
  const place = s.pieces[0]?.places[0];
  if (!place || !('stack' in place) || !stack || s.type.kind !== 'float') {
    info.unavailable = place && 'stack' in place ? 'on the stack (not copied)' : FLOAT_UNAVAILABLE;
    return null;
  }
  const index = place.stack >> 3;
  if (index >= stack.length) {
    info.unavailable = 'on the stack beyond what an event copies';
    return null;
  }
  const buf = Buffer.alloc(8);
  buf.writeBigUInt64LE(BigInt.asUintN(64, stack[index]));
  return s.type.size === 4 ? buf.readFloatLE(place.stack & 7) : buf.readDoubleLE(0);
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
        const q = JSON.stringify(v);
        return info?.truncated ? `${q}… (${info.len} bytes)` : q;
      }
      return v; // pointers, dynamic type names
  }
  if (Array.isArray(v)) return `[${v.map((x) => formatValue(x)).join(' ')}]`;
  if ('len' in v && 'cap' in v && typeof v.len === 'bigint') return `${info?.type ?? '[]'}{len ${v.len}, cap ${v.cap}}`;
  return `{${Object.entries(v)
    .map(([k, x]) => `${k}:${formatValue(x)}`)
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
