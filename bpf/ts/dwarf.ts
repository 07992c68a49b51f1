/**
 * Just enough DWARF (versions 2–5) to answer one question: into which functions did the compiler
 * inline a given function? Go describes each inlinable function once as an abstract
 * DW_TAG_subprogram (DW_AT_inline) and every copy of its body as a DW_TAG_inlined_subroutine whose
 * DW_AT_abstract_origin points back at it; the enclosing DW_TAG_subprogram is the function that
 * now contains the copy.
 */
import { Bytes, ElfFormatError } from './elf.ts';

const DW_TAG_subprogram = 0x2e;
const DW_TAG_inlined_subroutine = 0x1d;
const DW_AT_name = 0x03;
const DW_AT_abstract_origin = 0x31;
const DW_AT_specification = 0x47;
const DW_FORM_indirect = 0x16;
const DW_FORM_implicit_const = 0x21;

interface Abbrev {
  tag: number;
  children: boolean;
  attrs: { name: number; form: number }[];
}

const fail = (message: string): never => {
  throw new ElfFormatError(`.debug_info: ${message}`);
};

/** A read position in one DWARF section; reads straight from the bytes (this loop is hot), bounds-checked. */
class Cursor {
  private readonly buf: Uint8Array;
  constructor(
    readonly d: Bytes,
    public pos: number,
  ) {
    this.buf = d.buf;
  }
  private need(n: number): number {
    const at = this.pos;
    if (at + n > this.buf.length) fail(`data at ${at} (+${n}) runs past the end of the section`);
    this.pos = at + n;
    return at;
  }
  u8(): number {
    return this.buf[this.need(1)];
  }
  u16(): number {
    const at = this.need(2);
    return this.buf[at] | (this.buf[at + 1] << 8);
  }
  u32(): number {
    const at = this.need(4);
    return (this.buf[at] | (this.buf[at + 1] << 8) | (this.buf[at + 2] << 16)) + this.buf[at + 3] * 0x1000000;
  }
  u64(): number {
    const lo = this.u32();
    const hi = this.u32();
    if (hi >= 0x200000) fail(`a 64-bit value at ${this.pos - 8} is absurdly large`);
    return hi * 0x100000000 + lo;
  }
  uleb(): number {
    let result = 0;
    let mul = 1;
    for (;;) {
      if (this.pos >= this.buf.length) fail(`a LEB128 number runs past the end of the section`);
      const b = this.buf[this.pos++];
      result += (b & 0x7f) * mul;
      if (b < 0x80) return result;
      mul *= 128;
      if (mul > 2 ** 70) fail(`a LEB128 number at ${this.pos} is too long`);
    }
  }
  /** Signed LEB128 values are only ever skipped here. */
  sleb(): void {
    this.uleb();
  }
  skip(n: number): void {
    this.need(n);
  }
  skipCstring(): void {
    const stop = this.buf.indexOf(0, this.pos);
    if (stop < 0) fail(`a string at ${this.pos} is not NUL-terminated`);
    this.pos = stop + 1;
  }
  cstring(): string {
    const start = this.pos;
    this.skipCstring();
    return Buffer.from(this.buf.buffer, this.buf.byteOffset + start, this.pos - 1 - start).toString('latin1');
  }
  sized(size: number): number {
    return size === 1 ? this.u8() : size === 2 ? this.u16() : size === 4 ? this.u32() : this.u64();
  }
}

function parseAbbrevs(d: Bytes, offset: number): Map<number, Abbrev> {
  const table = new Map<number, Abbrev>();
  const c = new Cursor(d, offset);
  for (;;) {
    const code = c.uleb();
    if (code === 0) return table;
    const tag = c.uleb();
    const children = c.u8() === 1;
    const attrs: Abbrev['attrs'] = [];
    for (;;) {
      const name = c.uleb();
      const form = c.uleb();
      if (name === 0 && form === 0) break;
      if (form === DW_FORM_implicit_const) c.sleb();
      attrs.push({ name, form });
    }
    table.set(code, { tag, children, attrs });
  }
}

interface Unit {
  offset: number; // of the unit header in .debug_info
  offsetSize: 4 | 8;
  addressSize: number;
  version: number;
}

/**
 * Reads one attribute value: a number for references (section-relative), a string for strings
 * when `wantString` (names of subprograms; every other string is only skipped), else undefined.
 */
function readForm(c: Cursor, form: number, u: Unit, str: Bytes | undefined, wantString: boolean): number | string | undefined {
  switch (form) {
    case 0x01: return void c.skip(u.addressSize); // addr
    case 0x03: return void c.skip(c.u16()); // block2
    case 0x04: return void c.skip(c.u32()); // block4
    case 0x05: return void c.skip(2); // data2
    case 0x06: return void c.skip(4); // data4
    case 0x07: return void c.skip(8); // data8
    case 0x08: return wantString ? c.cstring() : void c.skipCstring(); // string
    case 0x09: return void c.skip(c.uleb()); // block
    case 0x0a: return void c.skip(c.u8()); // block1
    case 0x0b: return void c.skip(1); // data1
    case 0x0c: return void c.skip(1); // flag
    case 0x0d: return void c.sleb(); // sdata
    case 0x0e: { // strp
      const off = c.sized(u.offsetSize);
      return str && wantString ? str.cstring(off, str.length, 'a .debug_str string') : undefined;
    }
    case 0x0f: return void c.uleb(); // udata
    case 0x10: return c.sized(u.version <= 2 ? u.addressSize : u.offsetSize); // ref_addr
    case 0x11: return u.offset + c.u8(); // ref1
    case 0x12: return u.offset + c.u16(); // ref2
    case 0x13: return u.offset + c.u32(); // ref4
    case 0x14: return u.offset + c.u64(); // ref8
    case 0x15: return u.offset + c.uleb(); // ref_udata
    case DW_FORM_indirect: {
      const actual = c.uleb();
      if (actual === DW_FORM_indirect) return fail(`DW_FORM_indirect names itself at ${c.pos}`);
      return readForm(c, actual, u, str, wantString);
    }
    case 0x17: return void c.skip(u.offsetSize); // sec_offset
    case 0x18: return void c.skip(c.uleb()); // exprloc
    case 0x19: return undefined; // flag_present
    case 0x1a: return void c.uleb(); // strx
    case 0x1b: return void c.uleb(); // addrx
    case 0x1c: return void c.skip(4); // ref_sup4
    case 0x1d: return void c.skip(u.offsetSize); // strp_sup
    case 0x1e: return void c.skip(16); // data16
    case 0x1f: return void c.skip(u.offsetSize); // line_strp
    case 0x20: return void c.skip(8); // ref_sig8
    case DW_FORM_implicit_const: return undefined;
    case 0x22: return void c.uleb(); // loclistx
    case 0x23: return void c.uleb(); // rnglistx
    case 0x24: return void c.skip(8); // ref_sup8
    case 0x25: return void c.skip(1); // strx1
    case 0x26: return void c.skip(2); // strx2
    case 0x27: return void c.skip(3); // strx3
    case 0x28: return void c.skip(4); // strx4
    case 0x29: return void c.skip(1); // addrx1
    case 0x2a: return void c.skip(2); // addrx2
    case 0x2b: return void c.skip(3); // addrx3
    case 0x2c: return void c.skip(4); // addrx4
    case 0x1f01: return void c.skip(u.offsetSize); // GNU_ref_alt
    case 0x1f02: return void c.skip(u.offsetSize); // GNU_strp_alt
    case 0x1f20: return void c.uleb(); // GNU_addr_index
    case 0x1f21: return void c.uleb(); // GNU_str_index
    default: return fail(`unknown attribute form 0x${form.toString(16)} at ${c.pos}`);
  }
}

/** For each function name, the names of the functions its body was inlined into. */
export type InliningIndex = Map<string, Set<string>>;

export function inliningIndex(info: Uint8Array, abbrev: Uint8Array, str?: Uint8Array): InliningIndex {
  const d = new Bytes(info);
  const ab = new Bytes(abbrev);
  const strs = str ? new Bytes(str) : undefined;
  const abbrevCache = new Map<number, Map<number, Abbrev>>();

  // Subprogram DIE offset → its name or the DIE it takes the name from.
  const names = new Map<number, string>();
  const originOf = new Map<number, number>();
  // Every inlined copy: which abstract function, inside which concrete subprogram DIE.
  const copies: { origin: number; within: number }[] = [];

  let pos = 0;
  while (pos < d.length) {
    const c = new Cursor(d, pos);
    let length = c.u32();
    let offsetSize: 4 | 8 = 4;
    if (length === 0xffffffff) {
      length = c.u64();
      offsetSize = 8;
    } else if (length >= 0xfffffff0) fail(`reserved unit length 0x${length.toString(16)} at ${pos}`);
    const end = c.pos + length;
    d.check(c.pos, length, `the unit at ${pos}`);
    const version = c.u16();
    if (version < 2 || version > 5) fail(`unit at ${pos} has DWARF version ${version}`);
    let addressSize: number;
    let abbrevOffset: number;
    if (version >= 5) {
      const unitType = c.u8();
      addressSize = c.u8();
      abbrevOffset = c.sized(offsetSize);
      if (unitType !== 1 && unitType !== 3) {
        pos = end; // type and split units never hold inlined copies of Go code
        continue;
      }
    } else {
      abbrevOffset = c.sized(offsetSize);
      addressSize = c.u8();
    }
    if (addressSize !== 4 && addressSize !== 8) fail(`unit at ${pos} has address size ${addressSize}`);
    let abbrevs = abbrevCache.get(abbrevOffset);
    if (!abbrevs) abbrevCache.set(abbrevOffset, (abbrevs = parseAbbrevs(ab, abbrevOffset)));
    const unit: Unit = { offset: pos, offsetSize, addressSize, version };

    // Ancestors: the innermost DW_TAG_subprogram is the function that holds an inlined copy.
    const subprogramStack: number[] = [];
    const tagStack: number[] = [];
    while (c.pos < end) {
      const dieOffset = c.pos;
      const code = c.uleb();
      if (code === 0) {
        const tag = tagStack.pop();
        if (tag === DW_TAG_subprogram) subprogramStack.pop();
        continue;
      }
      const a = abbrevs.get(code) ?? fail(`DIE at ${dieOffset} uses abbreviation ${code}, which is not defined`);
      let name: string | undefined;
      let origin: number | undefined;
      const isSubprogram = a.tag === DW_TAG_subprogram;
      for (const attr of a.attrs) {
        const v = readForm(c, attr.form, unit, strs, isSubprogram && attr.name === DW_AT_name);
        if (attr.name === DW_AT_name && typeof v === 'string') name = v;
        else if ((attr.name === DW_AT_abstract_origin || attr.name === DW_AT_specification) && typeof v === 'number') origin = v;
      }
      if (c.pos > end) fail(`DIE at ${dieOffset} runs past the end of its unit`);
      if (a.tag === DW_TAG_subprogram) {
        if (name !== undefined) names.set(dieOffset, name);
        else if (origin !== undefined) originOf.set(dieOffset, origin);
      } else if (a.tag === DW_TAG_inlined_subroutine && origin !== undefined && subprogramStack.length > 0) {
        copies.push({ origin, within: subprogramStack[subprogramStack.length - 1] });
      }
      if (a.children) {
        tagStack.push(a.tag);
        if (a.tag === DW_TAG_subprogram) subprogramStack.push(dieOffset);
      }
    }
    pos = end;
  }

  const nameOf = (offset: number): string | undefined => {
    for (let hops = 0; hops < 8; hops++) {
      const n = names.get(offset);
      if (n !== undefined) return n;
      const next = originOf.get(offset);
      if (next === undefined) return undefined;
      offset = next;
    }
    return undefined;
  };
  const index: InliningIndex = new Map();
  for (const { origin, within } of copies) {
    const callee = nameOf(origin);
    const caller = nameOf(within);
    if (callee === undefined || caller === undefined) continue;
    let set = index.get(callee);
    if (!set) index.set(callee, (set = new Set()));
    set.add(caller);
  }
  return index;
}
