/**
 * Go's internal register ABI on amd64 (Go 1.17 and later: 1.19, 1.26, 1.27 alike), as a tracer
 * needs it: which registers, or which bytes of the caller's stack, hold each parameter at entry and
 * each result at return. Types come from DWARF (dwarf.ts); the rules are those of
 * src/cmd/compile/abi-internal.md: a value takes integer registers (RAX RBX RCX RDI RSI R8–R11)
 * and float registers (X0–X14) piece by piece, and goes to the stack whole when it does not fit.
 */
import type { Die, DwarfInfo } from './dwarf.ts';

export const INT_REGS = ['RAX', 'RBX', 'RCX', 'RDI', 'RSI', 'R8', 'R9', 'R10', 'R11'] as const;
export const FLOAT_REGS = 15;

export type GoType =
  | { kind: 'int'; name: string; size: number; signed: boolean }
  | { kind: 'bool'; name: string }
  | { kind: 'float'; name: string; size: number }
  | { kind: 'complex'; name: string; size: number }
  /** Pointers, maps, channels, funcs, unsafe.Pointer: one machine word. */
  | { kind: 'pointer'; name: string }
  | { kind: 'string'; name: string }
  | { kind: 'slice'; name: string }
  | { kind: 'interface'; name: string; empty: boolean }
  | {
      kind: 'struct';
      name: string;
      size: number;
      align: number;
      fields: { name: string; offset: number; type: GoType }[];
    }
  | { kind: 'array'; name: string; size: number; length: number; elem: GoType };

/** Where one machine word (or float) of a value lives. */
export type Place = { reg: number } | { freg: number } | { stack: number; size: number };

/** A scalar piece of a value: its type and where it is. Strings, slices and interfaces are several words. */
export interface Piece {
  type: GoType;
  places: Place[];
}

export interface Slot {
  name: string;
  type: GoType;
  /** One piece per scalar leaf of the value (a struct's fields, an array's elements). */
  pieces: Piece[];
  /** Assigned to the stack: `pieces` then give byte offsets from the first stack argument. */
  onStack: boolean;
}

export interface Signature {
  params: Slot[];
  results: Slot[];
  /** Bytes of the stack argument area a tracer must copy to read stack-assigned values. */
  stackBytes: number;
}

// DWARF bits used here
const TAG = {
  array: 0x01,
  member: 0x0d,
  pointer: 0x0f,
  subroutine: 0x15,
  typedef: 0x16,
  struct: 0x13,
  subrange: 0x21,
  base: 0x24,
  formal: 0x05,
  unspecified: 0x3b,
} as const;
const AT = {
  name: 0x03,
  byteSize: 0x0b,
  encoding: 0x3e,
  type: 0x49,
  memberLocation: 0x38,
  count: 0x37,
  upperBound: 0x2f,
  variableParameter: 0x4b,
  abstractOrigin: 0x31,
  goKind: 0x2900,
} as const;
const GO_KIND = {
  chan: 18,
  func: 19,
  interface: 20,
  map: 21,
  pointer: 22,
  slice: 23,
  string: 24,
  unsafePointer: 26,
} as const;
const ATE = { boolean: 2, complex: 3, float: 4, signed: 5, signedChar: 6, unsigned: 7, unsignedChar: 8 } as const;

/** A type name with its shapes as the types they stand for: *main.holder[go.shape.int_0] → *main.holder[int]. */
const shapeless = (name: string) =>
  name.includes('go.shape.') ? name.replace(/go\.shape\.(\*?[\w.]+?)(_\d+)?\b/g, '$1') : name;

/** The Go type of the DWARF type DIE at `offset`. */
export function goTypeAt(dwarf: DwarfInfo, offset: number, seen = new Map<number, GoType>()): GoType {
  const cached = seen.get(offset);
  if (cached) return cached;
  const die = dwarf.die(offset);
  const name = String(die.attrs.get(AT.name) ?? '?');
  const kind = Number(die.attrs.get(AT.goKind) ?? 0);
  const size = Number(die.attrs.get(AT.byteSize) ?? 0);
  const ref = die.attrs.get(AT.type);
  let t: GoType;
  if (kind === GO_KIND.interface) t = { kind: 'interface', name, empty: name === 'interface {}' || name === 'any' };
  else if (kind === GO_KIND.string) t = { kind: 'string', name };
  else if (kind === GO_KIND.slice) t = { kind: 'slice', name };
  else if (
    ([GO_KIND.chan, GO_KIND.func, GO_KIND.map, GO_KIND.pointer, GO_KIND.unsafePointer] as number[]).includes(kind)
  )
    t = { kind: 'pointer', name };
  else if (die.tag === TAG.typedef && typeof ref === 'number') {
    // A named type: the underlying type's shape under the name people wrote.
    const under = goTypeAt(dwarf, ref, seen);
    // A shape instantiation's type parameter (.param0) is its shape: go.shape.int_0 is an int.
    t = { ...under, name: name.startsWith('.param') ? under.name : name } as GoType;
  } else if (die.tag === TAG.base) {
    const enc = Number(die.attrs.get(AT.encoding) ?? 0);
    if (enc === ATE.boolean) t = { kind: 'bool', name };
    else if (enc === ATE.float) t = { kind: 'float', name, size };
    else if (enc === ATE.complex) t = { kind: 'complex', name, size };
    else t = { kind: 'int', name, size, signed: enc === ATE.signed || enc === ATE.signedChar };
  } else if (die.tag === TAG.pointer || die.tag === TAG.subroutine || die.tag === TAG.unspecified)
    t = { kind: 'pointer', name };
  else if (die.tag === TAG.struct) {
    const fields: { name: string; offset: number; type: GoType }[] = [];
    const s: GoType = { kind: 'struct', name, size, align: 1, fields };
    seen.set(offset, s); // a struct may point to itself (through pointers only, but the cache keeps it finite)
    for (const m of dwarf.children(die)) {
      if (m.tag !== TAG.member) continue;
      const type = goTypeAt(dwarf, Number(m.attrs.get(AT.type)), seen);
      fields.push({
        name: String(m.attrs.get(AT.name) ?? '_'),
        offset: Number(m.attrs.get(AT.memberLocation) ?? 0),
        type,
      });
    }
    s.align = Math.max(1, ...fields.map((f) => alignOf(f.type)));
    s.name = shapeless(name);
    return s;
  } else if (die.tag === TAG.array) {
    const elem = goTypeAt(dwarf, Number(ref), seen);
    const sub = dwarf.children(die).find((c) => c.tag === TAG.subrange);
    const count =
      sub?.attrs.get(AT.count) ?? (sub?.attrs.has(AT.upperBound) ? Number(sub.attrs.get(AT.upperBound)) + 1 : 0);
    t = { kind: 'array', name, size, length: Number(count), elem };
  } else t = { kind: 'pointer', name }; // nothing else fits in a register as one word
  t.name = shapeless(t.name);
  seen.set(offset, t);
  return t;
}

export function sizeOf(t: GoType): number {
  switch (t.kind) {
    case 'int':
    case 'float':
    case 'complex':
    case 'struct':
    case 'array':
      return t.size;
    case 'bool':
      return 1;
    case 'pointer':
      return 8;
    case 'string':
    case 'interface':
      return 16;
    case 'slice':
      return 24;
  }
}

export function alignOf(t: GoType): number {
  switch (t.kind) {
    case 'int':
    case 'float':
      return Math.max(1, t.size);
    case 'complex':
      return t.size / 2;
    case 'bool':
      return 1;
    case 'struct':
      return t.align;
    case 'array':
      return alignOf(t.elem);
    default:
      return 8;
  }
}

const align = (n: number, a: number) => Math.ceil(n / a) * a;

/** Register assignment of one value, piece by piece; undefined when it does not fit (it then goes on the stack). */
function registerAssign(t: GoType, regs: { i: number; f: number }): Piece[] | undefined {
  const ints = (n: number): Place[] | undefined => {
    if (regs.i + n > INT_REGS.length) return undefined;
    const out = Array.from({ length: n }, (_, k) => ({ reg: regs.i + k }));
    regs.i += n;
    return out;
  };
  const floats = (n: number): Place[] | undefined => {
    if (regs.f + n > FLOAT_REGS) return undefined;
    const out = Array.from({ length: n }, (_, k) => ({ freg: regs.f + k }));
    regs.f += n;
    return out;
  };
  const one = (places: Place[] | undefined): Piece[] | undefined => (places ? [{ type: t, places }] : undefined);
  switch (t.kind) {
    case 'int':
    case 'bool':
    case 'pointer':
      return one(ints(1));
    case 'float':
      return one(floats(1));
    case 'complex':
      return one(floats(2));
    case 'string':
    case 'interface':
      return one(ints(2));
    case 'slice':
      return one(ints(3));
    case 'struct': {
      const out: Piece[] = [];
      for (const f of t.fields) {
        const p = registerAssign(f.type, regs);
        if (!p) return undefined;
        out.push(...p);
      }
      return out;
    }
    case 'array':
      if (t.length === 0) return [];
      if (t.length === 1) return registerAssign(t.elem, regs);
      return undefined;
  }
}

/** Stack assignment: every scalar leaf at its byte offset from the start of the value. */
function stackPieces(t: GoType, at: number): Piece[] {
  switch (t.kind) {
    case 'struct':
      return t.fields.flatMap((f) => stackPieces(f.type, at + f.offset));
    case 'array': {
      const step = sizeOf(t.elem);
      return Array.from({ length: t.length }, (_, i) => stackPieces(t.elem, at + i * step)).flat();
    }
    case 'string':
    case 'interface':
      return [
        {
          type: t,
          places: [
            { stack: at, size: 8 },
            { stack: at + 8, size: 8 },
          ],
        },
      ];
    case 'slice':
      return [{ type: t, places: [0, 8, 16].map((o) => ({ stack: at + o, size: 8 })) }];
    case 'complex':
      return [
        {
          type: t,
          places: [
            { stack: at, size: t.size / 2 },
            { stack: at + t.size / 2, size: t.size / 2 },
          ],
        },
      ];
    default:
      return [{ type: t, places: [{ stack: at, size: sizeOf(t) }] }];
  }
}

function assignAll(values: { name: string; type: GoType }[], stackStart: number): { slots: Slot[]; stackEnd: number } {
  const regs = { i: 0, f: 0 };
  let stack = stackStart;
  const slots = values.map(({ name, type }): Slot => {
    const before = { ...regs };
    const pieces = registerAssign(type, regs);
    if (pieces) return { name, type, pieces, onStack: false };
    Object.assign(regs, before);
    stack = align(stack, alignOf(type));
    const slot = { name, type, pieces: stackPieces(type, stack), onStack: true };
    stack += sizeOf(type);
    return slot;
  });
  return { slots, stackEnd: stack };
}

/** Parameters and results of a function, assigned. Results restart at register 0, after the stack arguments. */
export function assign(params: Formal[], results: Formal[]): Signature {
  const p = assignAll(params, 0);
  const r = assignAll(results, align(p.stackEnd, 8));
  // A hidden word (the dictionary) takes its register, but is not a value anyone wrote.
  const shown = p.slots.filter((_, i) => !params[i].hidden);
  return { params: shown, results: r.slots, stackBytes: align(r.stackEnd, 8) };
}

/** A parameter or result as DWARF declares it; `hidden`: a word the ABI passes that the source does not (a generic's dictionary). */
export interface Formal {
  name: string;
  type: GoType;
  hidden?: boolean;
}

/**
 * The dictionary a shape instantiation (`F[go.shape.int]`, `(*T[go.shape.int]).M`) takes as a
 * hidden parameter: Go 1.27 names it in DWARF, 1.19–1.26 do not. It comes first, except in a
 * method since Go 1.20 (the unified IR), where it follows the receiver. A closure of a generic
 * function (`F[…].func1`) captures it instead.
 */
const DICT = '.dict';
const isShapeInstance = (name: string) => name.includes('[go.shape.') && !/\.func\d+(\.\d+)*$/.test(name);
const isMethod = (name: string) => /\]\)?\.[^.[\]()]+$/.test(name);

/**
 * A function's formal parameters and results from its DWARF subprogram, in declaration order.
 * When the named DIE is abstract (the function is also inlined somewhere), the results come from
 * its out-of-line copy, the only DIE that lists the unnamed ones; names and types are followed
 * through DW_AT_abstract_origin.
 */
export function signatureOf(dwarf: DwarfInfo, fn: Die): { params: Formal[]; results: Formal[] } {
  const seen = new Map<number, GoType>();
  const formals = (d: Die) => dwarf.children(d).filter((c) => c.tag === TAG.formal);
  const read = (d: Die): Formal & { result: boolean; origin: number } => {
    const origin = d.attrs.get(AT.abstractOrigin);
    const from = typeof origin === 'number' && !d.attrs.has(AT.type) ? dwarf.die(origin) : d;
    return {
      name: String(from.attrs.get(AT.name) ?? d.attrs.get(AT.name) ?? '_'),
      type: goTypeAt(dwarf, Number(from.attrs.get(AT.type)), seen),
      result: (d.attrs.get(AT.variableParameter) ?? from.attrs.get(AT.variableParameter)) === true,
      origin: from.offset,
    };
  };
  const own = formals(fn).map(read);
  const concrete = dwarf.concreteOf(fn);
  let all = own;
  if (concrete) {
    const out = formals(concrete).map(read);
    const covered = new Set(out.map((f) => f.origin));
    // Parameters in the abstract order (a copy may leave out one it never uses); results as the copy lists them.
    all = [
      ...own.filter((f) => !f.result),
      ...out.filter((f) => f.result),
      ...own.filter((f) => f.result && !covered.has(f.origin)),
    ];
  }
  const params: Formal[] = [];
  const results: Formal[] = [];
  for (const { name, type, result } of all) {
    const list = result ? results : params;
    // Go 1.26 describes a named result that a closure captures twice; one value has one name.
    if (name !== '_' && list.some((v) => v.name === name)) continue;
    list.push(name === DICT ? { name, type, hidden: true } : { name, type });
  }
  const fnName = String(fn.attrs.get(AT.name) ?? '');
  if (isShapeInstance(fnName) && !all.some((f) => f.name === DICT)) {
    const afterReceiver = isMethod(fnName) && (dwarf.goMinor ?? 99) >= 20 && params.length > 0;
    params.splice(afterReceiver ? 1 : 0, 0, { name: DICT, type: { kind: 'pointer', name: 'uintptr' }, hidden: true });
  }
  return { params, results };
}

/** The byte offset of a struct's member, from DWARF (e.g. runtime.g's goid). */
export function memberOffset(dwarf: DwarfInfo, struct: string, member: string): number | undefined {
  const at = dwarf.structs.get(struct);
  if (at === undefined) return undefined;
  const m = dwarf.children(dwarf.die(at)).find((c) => c.tag === TAG.member && c.attrs.get(AT.name) === member);
  const v = m?.attrs.get(AT.memberLocation);
  return typeof v === 'number' ? v : undefined;
}
