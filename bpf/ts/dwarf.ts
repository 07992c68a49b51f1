/**
 * Just enough DWARF (versions 2–5) for a tracer: into which functions did the compiler inline a
 * given function (and where each copy starts), and what are a function's parameters and results
 * and their types. Go describes each inlinable function once as an abstract
 * DW_TAG_subprogram (DW_AT_inline) and every copy of its body as a DW_TAG_inlined_subroutine whose
 * DW_AT_abstract_origin points back at it; the enclosing DW_TAG_subprogram is the function that
 * now contains the copy.
 */
import { Bytes, ElfFormatError } from './elf.ts';

const DW_TAG_subprogram = 0x2e;
const DW_TAG_inlined_subroutine = 0x1d;
const DW_TAG_structure_type = 0x13;
const DW_AT_name = 0x03;
const DW_AT_low_pc = 0x11;
const DW_AT_ranges = 0x55;
const DW_AT_inline = 0x20;
const DW_AT_abstract_origin = 0x31;
const DW_AT_specification = 0x47;
const DW_AT_producer = 0x25;
const DW_FORM_indirect = 0x16;
const DW_FORM_implicit_const = 0x21;

interface Abbrev {
  tag: number;
  children: boolean;
  attrs: { name: number; form: number; value?: number }[];
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
  /** A 64-bit value, or undefined when it is too large for a number to hold exactly. */
  u64OrUndefined(): number | undefined {
    const lo = this.u32();
    const hi = this.u32();
    return hi < 0x200000 ? hi * 0x100000000 + lo : undefined;
  }
  uleb(): number {
    return this.leb(false);
  }
  sleb(): number {
    return this.leb(true);
  }
  /** LEB128: 7 bits a byte, lowest first; a signed one extends the sign bit of its last byte. */
  private leb(signed: boolean): number {
    let result = 0;
    let mul = 1;
    for (;;) {
      if (this.pos >= this.buf.length) fail(`a LEB128 number runs past the end of the section`);
      const b = this.buf[this.pos++];
      result += (b & 0x7f) * mul;
      mul *= 128;
      if (b < 0x80) return signed && b & 0x40 ? result - mul : result;
      if (mul > 2 ** 70) fail(`a LEB128 number at ${this.pos} is too long`);
    }
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
      attrs.push(form === DW_FORM_implicit_const ? { name, form, value: c.sleb() } : { name, form });
    }
    table.set(code, { tag, children, attrs });
  }
}

interface Unit {
  offset: number; // of the unit header in .debug_info
  offsetSize: 4 | 8;
  addressSize: number;
  version: number;
  /** DWARF 5: where this unit's entries of .debug_addr start. */
  addrBase?: number;
  abbrevs?: Map<number, Abbrev>;
  /** Where its DIEs end (the next unit's header). */
  end?: number;
}

/**
 * Reads one attribute value: numbers for constants, references (section-relative), addresses and
 * section offsets; true for flags; strings only when `wantString` (the scan of every DIE is hot
 * and needs the names of subprograms and structs alone: building every other string would cost
 * more than the rest of it); undefined for blocks and what a tracer never needs.
 */
function readAttr(
  c: Cursor,
  form: number,
  u: Unit,
  str: Bytes | undefined,
  wantString: boolean,
  implicit?: number,
): number | string | boolean | undefined {
  switch (form) {
    case 0x01:
      return c.sized(u.addressSize); // addr
    case 0x03:
      return void c.skip(c.u16()); // block2
    case 0x04:
      return void c.skip(c.u32()); // block4
    case 0x05:
      return c.u16(); // data2
    case 0x06:
      return c.u32(); // data4
    case 0x07:
      return c.u64OrUndefined(); // data8
    case 0x08:
      return wantString ? c.cstring() : void c.skipCstring(); // string
    case 0x09:
      return void c.skip(c.uleb()); // block
    case 0x0a:
      return void c.skip(c.u8()); // block1
    case 0x0b:
      return c.u8(); // data1
    case 0x0c:
      return c.u8() !== 0; // flag
    case 0x0d:
      return c.sleb(); // sdata
    case 0x0e: {
      // strp
      const off = c.sized(u.offsetSize);
      return str && wantString ? str.cstring(off, str.length, 'a .debug_str string') : undefined;
    }
    case 0x0f:
      return c.uleb(); // udata
    case 0x10:
      return c.sized(u.version <= 2 ? u.addressSize : u.offsetSize); // ref_addr
    case 0x11:
      return u.offset + c.u8(); // ref1
    case 0x12:
      return u.offset + c.u16(); // ref2
    case 0x13:
      return u.offset + c.u32(); // ref4
    case 0x14:
      return u.offset + c.u64(); // ref8
    case 0x15:
      return u.offset + c.uleb(); // ref_udata
    case DW_FORM_indirect: {
      const actual = c.uleb();
      if (actual === DW_FORM_indirect) return fail(`DW_FORM_indirect names itself at ${c.pos}`);
      return readAttr(c, actual, u, str, wantString, implicit);
    }
    case 0x17:
      return c.sized(u.offsetSize); // sec_offset
    case 0x18:
      return void c.skip(c.uleb()); // exprloc
    case 0x19:
      return true; // flag_present
    case 0x1a:
      return void c.uleb(); // strx
    case 0x1b:
      return void c.uleb(); // addrx
    case 0x1c:
      return void c.skip(4); // ref_sup4
    case 0x1d:
      return void c.skip(u.offsetSize); // strp_sup
    case 0x1e:
      return void c.skip(16); // data16
    case 0x1f:
      return void c.skip(u.offsetSize); // line_strp
    case 0x20:
      return void c.skip(8); // ref_sig8
    case DW_FORM_implicit_const:
      return implicit;
    case 0x22:
      return void c.uleb(); // loclistx
    case 0x23:
      return void c.uleb(); // rnglistx
    case 0x24:
      return void c.skip(8); // ref_sup8
    case 0x25:
      return void c.skip(1); // strx1
    case 0x26:
      return void c.skip(2); // strx2
    case 0x27:
      return void c.skip(3); // strx3
    case 0x28:
      return void c.skip(4); // strx4
    case 0x29:
      return void c.skip(1); // addrx1
    case 0x2a:
      return void c.skip(2); // addrx2
    case 0x2b:
      return void c.skip(3); // addrx3
    case 0x2c:
      return void c.skip(4); // addrx4
    case 0x1f01:
      return void c.skip(u.offsetSize); // GNU_ref_alt
    case 0x1f02:
      return void c.skip(u.offsetSize); // GNU_strp_alt
    case 0x1f20:
      return void c.uleb(); // GNU_addr_index
    case 0x1f21:
      return void c.uleb(); // GNU_str_index
    default:
      return fail(`unknown attribute form 0x${form.toString(16)} at ${c.pos}`);
  }
}

/** One debugging information entry, read on demand. */
export interface Die {
  offset: number;
  tag: number;
  attrs: Map<number, number | string | boolean>;
  hasChildren: boolean;
  /** Where the next DIE (its first child, or its next sibling) starts. */
  next: number;
}

/** An inlined copy of a function: where its code starts (the entry a uprobe can trace). */
export interface InlinedCopy {
  caller: string;
  /** Its lowest address (low_pc, or the first of its ranges once read), undefined when unknown. */
  address?: number;
  /** DW_AT_ranges' offset, resolved by DwarfInfo.inlinedCopies. */
  ranges?: number;
  unit: Unit;
}

/** For each function name, the names of the functions its body was inlined into. */
export type InliningIndex = Map<string, Set<string>>;

export function inliningIndex(info: Uint8Array, abbrev: Uint8Array, str?: Uint8Array): InliningIndex {
  return readDwarf(info, abbrev, str).inlining;
}

/** Sections beyond .debug_info/.debug_abbrev/.debug_str that some answers need (DWARF 4 and 5 spell them differently). */
export interface MoreDwarfSections {
  addr?: Uint8Array;
  ranges?: Uint8Array;
  rnglists?: Uint8Array;
}

export class DwarfInfo {
  readonly inlining: InliningIndex = new Map();
  private readonly d: Bytes;
  private readonly strs?: Bytes;
  readonly units: Unit[] = [];
  /** Named subprograms (abstract or concrete) by name: the first DIE seen. */
  readonly subprograms = new Map<string, number>();
  /** Named struct types by name (runtime.g and friends). */
  readonly structs = new Map<string, number>();
  /** Concrete subprogram DIE → the abstract DIE it instantiates (nameless out-of-line copies). */
  readonly concreteOfAbstract = new Map<number, number>();
  /** Inlined copies per function name. */
  readonly copies = new Map<string, InlinedCopy[]>();
  more: MoreDwarfSections = {};
  /** The first compile unit's DW_AT_producer: "Go cmd/compile go1.26.8; regabi". */
  producer?: string;

  /** The Go minor version that compiled the binary (26 for go1.26.8), from the producer; undefined when it does not say. */
  get goMinor(): number | undefined {
    const m = /\bgo1\.(\d+)/.exec(this.producer ?? '');
    return m ? Number(m[1]) : undefined;
  }

  constructor(
    info: Uint8Array,
    private readonly abbrevBytes: Uint8Array,
    str?: Uint8Array,
  ) {
    this.d = new Bytes(info);
    this.strs = str ? new Bytes(str) : undefined;
    this.scan();
  }

  private scan(): void {
    const d = this.d;
    const ab = new Bytes(this.abbrevBytes);
    const strs = this.strs;
    const abbrevCache = new Map<number, Map<number, Abbrev>>();

    // Subprogram DIE offset → its name or the DIE it takes the name from.
    const names = new Map<number, string>();
    const originOf = new Map<number, number>();
    // Every inlined copy: which abstract function, inside which concrete subprogram DIE.
    const copies: { origin: number; within: number; address?: number; ranges?: number; unit: Unit }[] = [];

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
      const unit: Unit = { offset: pos, offsetSize, addressSize, version, abbrevs, end };
      this.units.push(unit);

      // Ancestors: the innermost DW_TAG_subprogram is the function that holds an inlined copy.
      const subprogramStack: number[] = [];
      const tagStack: number[] = [];
      let first = true;
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
        let low: number | undefined;
        let ranges: number | undefined;
        let abstract = false;
        const isSubprogram = a.tag === DW_TAG_subprogram;
        const isCopy = a.tag === DW_TAG_inlined_subroutine;
        const wantName = isSubprogram || a.tag === DW_TAG_structure_type;
        for (const attr of a.attrs) {
          const want = (wantName && attr.name === DW_AT_name) || (first && attr.name === DW_AT_producer);
          const v = readAttr(c, attr.form, unit, strs, want);
          if (attr.name === DW_AT_producer) {
            if (typeof v === 'string' && this.producer === undefined) this.producer = v;
          } else if (attr.name === DW_AT_name) {
            if (typeof v === 'string') name = v;
          } else if (attr.name === DW_AT_abstract_origin || attr.name === DW_AT_specification) {
            if (typeof v === 'number') origin = v;
          } else if (attr.name === DW_AT_inline) abstract = true;
          else if (typeof v !== 'number') continue;
          else if (first && attr.name === 0x73 /* DW_AT_addr_base */) unit.addrBase = v;
          else if (isCopy && attr.name === DW_AT_ranges) ranges = v;
          else if (isCopy && attr.name === DW_AT_low_pc) low = attr.form === 0x01 ? v : -1 - v; // addrx: an index into .debug_addr, resolved later
        }
        first = false;
        if (c.pos > end) fail(`DIE at ${dieOffset} runs past the end of its unit`);
        if (isSubprogram) {
          if (name !== undefined) {
            names.set(dieOffset, name);
            if (!this.subprograms.has(name) || (!abstract && this.isAbstract(this.subprograms.get(name)!)))
              this.subprograms.set(name, dieOffset);
          } else if (origin !== undefined) {
            originOf.set(dieOffset, origin);
            if (!this.concreteOfAbstract.has(origin)) this.concreteOfAbstract.set(origin, dieOffset);
          }
        } else if (a.tag === DW_TAG_structure_type && name !== undefined) {
          if (!this.structs.has(name)) this.structs.set(name, dieOffset);
        } else if (isCopy && origin !== undefined && subprogramStack.length > 0) {
          copies.push({ origin, within: subprogramStack[subprogramStack.length - 1], address: low, ranges, unit });
        }
        if (a.children) {
          tagStack.push(a.tag);
          if (isSubprogram) subprogramStack.push(dieOffset);
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
    for (const { origin, within, address, ranges, unit } of copies) {
      const callee = nameOf(origin);
      const caller = nameOf(within);
      if (callee === undefined || caller === undefined) continue;
      let set = this.inlining.get(callee);
      if (!set) this.inlining.set(callee, (set = new Set()));
      set.add(caller);
      let list = this.copies.get(callee);
      if (!list) this.copies.set(callee, (list = []));
      list.push({ caller, address, ranges, unit });
    }
  }

  private isAbstract(offset: number): boolean {
    return this.die(offset).attrs.has(DW_AT_inline);
  }

  private unitAt(offset: number): Unit {
    let lo = 0;
    let hi = this.units.length - 1;
    while (lo < hi) {
      const mid = (lo + hi + 1) >> 1;
      if (this.units[mid].offset <= offset) lo = mid;
      else hi = mid - 1;
    }
    const u = this.units[lo];
    if (!u || offset < u.offset || offset >= u.end!) fail(`no unit holds the DIE at ${offset}`);
    return u;
  }

  /** The DIE at a .debug_info offset. */
  die(offset: number): Die {
    const u = this.unitAt(offset);
    const c = new Cursor(this.d, offset);
    const code = c.uleb();
    if (code === 0) return { offset, tag: 0, attrs: new Map(), hasChildren: false, next: c.pos };
    const a = u.abbrevs!.get(code) ?? fail(`DIE at ${offset} uses abbreviation ${code}, which is not defined`);
    const attrs = new Map<number, number | string | boolean>();
    for (const attr of a.attrs) {
      const v = readAttr(c, attr.form, u, this.strs, true, attr.value);
      if (v !== undefined) attrs.set(attr.name, v);
    }
    return { offset, tag: a.tag, attrs, hasChildren: a.children, next: c.pos };
  }

  /** The direct children of a DIE. */
  children(parent: Die): Die[] {
    const out: Die[] = [];
    if (!parent.hasChildren) return out;
    let at = parent.next;
    let depth = 0;
    for (let guard = 0; guard < 1_000_000; guard++) {
      const die = this.die(at);
      at = die.next;
      if (die.tag === 0) {
        if (depth === 0) return out;
        depth--;
        continue;
      }
      if (depth === 0) out.push(die);
      if (die.hasChildren) depth++;
    }
    return fail(`the children of the DIE at ${parent.offset} do not end`);
  }

  /** A subprogram's DIE that has the parameters' types: the named one, or its abstract origin. */
  subprogram(name: string): Die | undefined {
    const at = this.subprograms.get(name);
    return at === undefined ? undefined : this.die(at);
  }

  /**
   * The out-of-line copy of a function whose named DIE is abstract (DW_AT_inline): a nameless
   * DW_TAG_subprogram pointing back through DW_AT_abstract_origin. Only it lists the unnamed
   * results (~r0); undefined when the function has no out-of-line copy or its DIE is concrete.
   */
  concreteOf(named: Die): Die | undefined {
    if (!named.attrs.has(DW_AT_inline)) return undefined;
    const at = this.concreteOfAbstract.get(named.offset);
    return at === undefined ? undefined : this.die(at);
  }

  /** The entry addresses of a function's inlined copies (those whose start DWARF gives). */
  inlinedCopies(name: string): { caller: string; address: number }[] {
    const out: { caller: string; address: number }[] = [];
    for (const copy of this.copies.get(name) ?? []) {
      const address = this.copyAddress(copy);
      if (address !== undefined) out.push({ caller: copy.caller, address });
    }
    return out;
  }

  private copyAddress(copy: InlinedCopy): number | undefined {
    if (copy.address !== undefined && copy.address >= 0) return copy.address;
    if (copy.address !== undefined) return this.addrx(copy.unit, -1 - copy.address);
    if (copy.ranges === undefined) return undefined;
    const u = copy.unit;
    if (u.version >= 5) {
      if (!this.more.rnglists) return undefined;
      return firstRnglist(new Bytes(this.more.rnglists), copy.ranges, (i) => this.addrx(u, i));
    }
    if (!this.more.ranges) return undefined;
    const r = new Bytes(this.more.ranges);
    // DWARF 4 .debug_ranges: pairs of absolute addresses (Go emits no base selection entries).
    const start = r.u64(copy.ranges, 'a .debug_ranges entry');
    return start === 0 ? undefined : start;
  }

  private addrx(u: Unit, index: number): number | undefined {
    if (!this.more.addr || u.addrBase === undefined) return undefined;
    return new Bytes(this.more.addr).u64(u.addrBase + index * 8, 'a .debug_addr entry');
  }
}

/** The lowest start address in a DWARF 5 range list (Go emits offset pairs after a base address). */
function firstRnglist(r: Bytes, offset: number, addrx: (i: number) => number | undefined): number | undefined {
  const c = new Cursor(r, offset);
  let base = 0;
  let best: number | undefined;
  for (let guard = 0; guard < 10_000; guard++) {
    const kind = c.u8();
    switch (kind) {
      case 0:
        return best; // end_of_list
      case 1:
        base = addrx(c.uleb()) ?? 0;
        break; // base_addressx
      case 2: {
        const s = addrx(c.uleb());
        c.uleb();
        if (s !== undefined) best = Math.min(best ?? s, s);
        break;
      } // startx_endx
      case 3: {
        const s = addrx(c.uleb());
        c.uleb();
        if (s !== undefined) best = Math.min(best ?? s, s);
        break;
      } // startx_length
      case 4: {
        const s = base + c.uleb();
        c.uleb();
        best = Math.min(best ?? s, s);
        break;
      } // offset_pair
      case 5:
        base = c.u64();
        break; // base_address
      case 6: {
        const s = c.u64();
        c.u64();
        best = Math.min(best ?? s, s);
        break;
      } // start_end
      case 7: {
        const s = c.u64();
        c.uleb();
        best = Math.min(best ?? s, s);
        break;
      } // start_length
      default:
        return best;
    }
  }
  return best;
}

export function readDwarf(info: Uint8Array, abbrev: Uint8Array, str?: Uint8Array): DwarfInfo {
  return new DwarfInfo(info, abbrev, str);
}
