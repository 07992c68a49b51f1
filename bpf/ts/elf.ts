/**
 * A small ELF64 little-endian reader: header, program headers, sections, symbols and section
 * data (SHF_COMPRESSED and .zdebug_* sections are inflated). Every read is bounds-checked and a
 * malformed file raises an ElfFormatError naming what is wrong, so callers can turn it into a
 * one-line LabError instead of a RangeError from deep inside.
 */
import * as zlib from 'node:zlib';

export class ElfFormatError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ElfFormatError';
  }
}

/** Well-formed, but in a form this reader cannot handle (zstd without a Node that has it). */
export class ElfUnsupportedError extends ElfFormatError {}

/** The headers describe more bytes than the file has: almost always a cut-off copy. */
export class ElfTruncatedError extends ElfFormatError {
  constructor(
    readonly needed: number,
    readonly actual: number,
  ) {
    super(`its headers describe ${needed} bytes but the file has ${actual}`);
  }
}

const fail = (message: string): never => {
  throw new ElfFormatError(message);
};

/** Throws unless bytes offset..offset+size lie within `total` bytes. */
export function checkRange(offset: number, size: number, total: number, what: string, within = 'data'): void {
  if (!Number.isSafeInteger(offset) || !Number.isSafeInteger(size) || offset < 0 || size < 0 || offset + size > total) {
    fail(`${what} (bytes ${offset}..${offset + size}) lies outside the ${total}-byte ${within}`);
  }
}

/**
 * Where an ELF file's bytes come from. A reader asks only for the pieces it needs (headers,
 * tables, one section, one function's code), so a 1 GB binary never has to be in memory.
 */
export interface ByteSource {
  readonly size: number;
  /** `length` bytes at `offset`: an ElfFormatError naming `what` when they lie outside. */
  read(offset: number, length: number, what: string): Uint8Array;
}

/** Bytes already in memory (tests, fuzzing, bytes given directly). */
export class BufferSource implements ByteSource {
  constructor(private readonly buf: Uint8Array) {}
  get size(): number {
    return this.buf.length;
  }
  read(offset: number, length: number, what: string): Uint8Array {
    checkRange(offset, length, this.buf.length, what, 'file');
    return this.buf.subarray(offset, offset + length);
  }
}

/** Bounds-checked little-endian reads over a byte buffer. */
export class Bytes {
  private readonly view: DataView;
  constructor(readonly buf: Uint8Array) {
    this.view = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  }

  get length(): number {
    return this.buf.length;
  }
  check(offset: number, size: number, what: string): void {
    checkRange(offset, size, this.buf.length, what);
  }
  u8(o: number, what = 'a field'): number {
    this.check(o, 1, what);
    return this.buf[o];
  }
  u16(o: number, what = 'a field'): number {
    this.check(o, 2, what);
    return this.view.getUint16(o, true);
  }
  u32(o: number, what = 'a field'): number {
    this.check(o, 4, what);
    return this.view.getUint32(o, true);
  }
  /** A 64-bit value as a Number; anything beyond 2^53 cannot be a real offset or address here. */
  u64(o: number, what = 'a field'): number {
    this.check(o, 8, what);
    const v = this.view.getBigUint64(o, true);
    if (v > BigInt(Number.MAX_SAFE_INTEGER)) fail(`${what} is absurdly large (0x${v.toString(16)})`);
    return Number(v);
  }
  slice(o: number, size: number, what: string): Uint8Array {
    this.check(o, size, what);
    return this.buf.subarray(o, o + size);
  }
  /** A NUL-terminated string starting at o (bounded by `end`). */
  cstring(o: number, end: number, what: string): string {
    this.check(o, 0, what);
    const stop = this.buf.indexOf(0, o);
    if (stop < 0 || stop >= end) fail(`${what} at ${o} is not NUL-terminated`);
    return Buffer.from(this.buf.buffer, this.buf.byteOffset + o, stop - o).toString('latin1');
  }
}

export const ELFCLASS32 = 1;
export const ELFCLASS64 = 2;
export const EM_X86_64 = 62;
export const SHT_NOBITS = 8;
export const SHT_SYMTAB = 2;
export const SHF_COMPRESSED = 0x800;
export const PT_LOAD = 1;
export const STT_FUNC = 2;

export interface ElfSection {
  index: number;
  name: string;
  type: number;
  flags: number;
  addr: number;
  offset: number;
  size: number;
  link: number;
  entsize: number;
}

export interface ElfSegment {
  type: number;
  flags: number;
  offset: number;
  vaddr: number;
  filesz: number;
  memsz: number;
}

export interface ElfSymbol {
  name: string;
  value: number;
  size: number;
  type: number;
  sectionIndex: number;
}

const machines: Record<number, string> = {
  3: 'x86 (i386)',
  8: 'MIPS',
  20: 'PowerPC',
  21: 'PowerPC64',
  22: 'S/390',
  40: 'ARM',
  62: 'x86-64',
  183: 'AArch64',
  243: 'RISC-V',
  258: 'LoongArch',
};
export const machineName = (m: number) => machines[m] ?? `machine ${m}`;

/** What the identification bytes say, before anything that could be corrupt is trusted. */
export interface ElfIdent {
  isElf: boolean;
  class?: number;
  littleEndian?: boolean;
  machine?: number;
}

export function identify(buf: Uint8Array): ElfIdent {
  if (buf.length < 4 || buf[0] !== 0x7f || buf[1] !== 0x45 || buf[2] !== 0x4c || buf[3] !== 0x46)
    return { isElf: false };
  const id: ElfIdent = { isElf: true };
  if (buf.length > 4) id.class = buf[4];
  if (buf.length > 5) id.littleEndian = buf[5] === 1;
  if (buf.length >= 20) id.machine = id.littleEndian ? buf[18] | (buf[19] << 8) : (buf[18] << 8) | buf[19];
  return id;
}

export class ElfFile {
  readonly source: ByteSource;
  readonly type: number;
  readonly entry: number;
  readonly sections: ElfSection[] = [];
  readonly segments: ElfSegment[] = [];
  private readonly rawSections = new Map<number, Uint8Array>();

  /** Parses an ELF64 little-endian x86-64 image; the caller has checked class and machine via identify(). */
  constructor(bytes: Uint8Array | ByteSource) {
    const src = (this.source = bytes instanceof Uint8Array ? new BufferSource(bytes) : bytes);
    if (src.size < 64) fail(`the file is ${src.size} bytes, shorter than the 64-byte ELF64 header`);
    const h = new Bytes(src.read(0, 64, 'the ELF header'));
    this.type = h.u16(16, 'e_type');
    this.entry = h.u64(24, 'e_entry');
    const phoff = h.u64(32, 'e_phoff');
    const shoff = h.u64(40, 'e_shoff');
    const phentsize = h.u16(54, 'e_phentsize');
    const phnum = h.u16(56, 'e_phnum');
    const shentsize = h.u16(58, 'e_shentsize');
    let shnum = h.u16(60, 'e_shnum');
    let shstrndx = h.u16(62, 'e_shstrndx');

    if (phnum > 0) {
      if (phentsize !== 56) fail(`e_phentsize is ${phentsize}, not the 56 bytes of an ELF64 program header`);
      const ph = new Bytes(src.read(phoff, phnum * 56, 'the program header table'));
      for (let i = 0; i < phnum; i++) {
        const o = i * 56;
        this.segments.push({
          type: ph.u32(o),
          flags: ph.u32(o + 4),
          offset: ph.u64(o + 8, 'p_offset'),
          vaddr: ph.u64(o + 16, 'p_vaddr'),
          filesz: ph.u64(o + 32, 'p_filesz'),
          memsz: ph.u64(o + 40, 'p_memsz'),
        });
      }
    }

    if (shoff === 0) return; // no section table: the caller decides whether that is acceptable
    if (shentsize !== 64) fail(`e_shentsize is ${shentsize}, not the 64 bytes of an ELF64 section header`);
    // Extended numbering: the real counts live in section 0 when they overflow 16 bits.
    const first = new Bytes(src.read(shoff, 64, 'the section header table'));
    if (shnum === 0) shnum = first.u64(32, 'section 0 sh_size');
    if (shstrndx === 0xffff) shstrndx = first.u32(40, 'section 0 sh_link');
    checkRange(shoff, shnum * 64, src.size, `the section header table (${shnum} entries)`, 'file');
    const sh = new Bytes(src.read(shoff, shnum * 64, `the section header table (${shnum} entries)`));
    const raw = [];
    for (let i = 0; i < shnum; i++) {
      const o = i * 64;
      raw.push({
        index: i,
        nameOffset: sh.u32(o),
        type: sh.u32(o + 4),
        flags: sh.u64(o + 8, 'sh_flags'),
        addr: sh.u64(o + 16, 'sh_addr'),
        offset: sh.u64(o + 24, 'sh_offset'),
        size: sh.u64(o + 32, 'sh_size'),
        link: sh.u32(o + 40),
        entsize: sh.u64(o + 56, 'sh_entsize'),
      });
    }
    let needed = 0;
    for (const s of raw) if (s.type !== SHT_NOBITS) needed = Math.max(needed, s.offset + s.size);
    for (const p of this.segments) needed = Math.max(needed, p.offset + p.filesz);
    if (needed > src.size) throw new ElfTruncatedError(needed, src.size);
    if (shstrndx >= raw.length) fail(`e_shstrndx ${shstrndx} names no section (there are ${raw.length})`);
    const strtab = raw[shstrndx];
    const names = new Bytes(src.read(strtab.offset, strtab.size, 'the section name table'));
    for (const s of raw) {
      if (s.nameOffset >= strtab.size)
        fail(`section ${s.index}'s name offset ${s.nameOffset} is outside the section name table`);
      const name = names.cstring(s.nameOffset, strtab.size, `section ${s.index}'s name`);
      this.sections.push({
        index: s.index,
        name,
        type: s.type,
        flags: s.flags,
        addr: s.addr,
        offset: s.offset,
        size: s.size,
        link: s.link,
        entsize: s.entsize,
      });
    }
  }

  /** The file's length in bytes. */
  get size(): number {
    return this.source.size;
  }

  section(name: string): ElfSection | undefined {
    return this.sections.find((s) => s.name === name);
  }

  /** The section's bytes as stored in the file (still compressed if it is). */
  rawSection(s: ElfSection): Uint8Array {
    if (s.type === SHT_NOBITS) return new Uint8Array(0);
    let bytes = this.rawSections.get(s.index);
    if (!bytes) this.rawSections.set(s.index, (bytes = this.source.read(s.offset, s.size, `section ${s.name}`)));
    return bytes;
  }

  /** The section's contents, inflated when SHF_COMPRESSED or a legacy .zdebug_* section. */
  sectionData(s: ElfSection): Uint8Array {
    const raw = this.rawSection(s);
    if (s.flags & SHF_COMPRESSED) {
      const r = new Bytes(raw);
      const type = r.u32(0, `${s.name}'s compression header`);
      const size = r.u64(8, `${s.name}'s uncompressed size`);
      if (type === 1) return inflate(raw.subarray(24), size, s.name);
      if (type === 2) return unzstd(raw.subarray(24), size, s.name);
      fail(`${s.name} uses compression type ${type}, which is neither zlib (1) nor zstd (2)`);
    }
    if (s.name.startsWith('.zdebug_')) {
      // Legacy GNU format: "ZLIB" then the uncompressed size as a big-endian u64.
      if (raw.length < 12 || Buffer.from(raw.subarray(0, 4)).toString('latin1') !== 'ZLIB')
        fail(`${s.name} lacks its ZLIB header`);
      const size = Number(new DataView(raw.buffer, raw.byteOffset + 4, 8).getBigUint64(0, false));
      return inflate(raw.subarray(12), size, s.name);
    }
    return raw;
  }

  /** The segment that maps a virtual address from the file (PT_LOAD, within p_filesz). */
  segmentAt(vaddr: number): ElfSegment | undefined {
    return this.segments.find((p) => p.type === PT_LOAD && vaddr >= p.vaddr && vaddr < p.vaddr + p.filesz);
  }

  /** File offset of a virtual address, as a uprobe needs it; undefined if no PT_LOAD maps it from the file. */
  fileOffset(vaddr: number): number | undefined {
    const p = this.segmentAt(vaddr);
    return p ? p.offset + (vaddr - p.vaddr) : undefined;
  }

  /** `size` bytes at a virtual address, read through the program headers. */
  readAt(vaddr: number, size: number, what: string): Uint8Array {
    const p = this.segmentAt(vaddr);
    if (!p) return fail(`${what} at 0x${vaddr.toString(16)} is not mapped from the file by any PT_LOAD segment`);
    if (vaddr + size > p.vaddr + p.filesz)
      fail(`${what} at 0x${vaddr.toString(16)} (+${size}) runs past the end of its segment`);
    return this.source.read(p.offset + (vaddr - p.vaddr), size, what);
  }

  /** Symbols of .symtab ([] when there is none). */
  symbols(): ElfSymbol[] {
    const symtab = this.sections.find((s) => s.type === SHT_SYMTAB);
    if (!symtab) return [];
    if (symtab.entsize !== 24) fail(`.symtab's entry size is ${symtab.entsize}, not 24`);
    if (symtab.link >= this.sections.length) fail(`.symtab links to string table ${symtab.link}, which does not exist`);
    const strtab = this.sections[symtab.link];
    const table = new Bytes(this.source.read(symtab.offset, symtab.size, '.symtab'));
    const names = new Bytes(this.source.read(strtab.offset, strtab.size, '.symtab string table'));
    const out: ElfSymbol[] = [];
    const count = Math.floor(symtab.size / 24);
    for (let i = 1; i < count; i++) {
      const o = i * 24;
      const nameOff = table.u32(o);
      if (nameOff >= strtab.size) fail(`symbol ${i}'s name offset ${nameOff} is outside the string table`);
      out.push({
        name: names.cstring(nameOff, strtab.size, `symbol ${i}'s name`),
        type: table.u8(o + 4) & 0xf,
        sectionIndex: table.u16(o + 6),
        value: table.u64(o + 8, `symbol ${i}'s value`),
        size: table.u64(o + 16, `symbol ${i}'s size`),
      });
    }
    return out;
  }
}

/** Most Go debug sections inflate 3–6×; a claim far beyond that is corruption, not data. */
const maxInflateRatio = 200;

function inflate(compressed: Uint8Array, size: number, name: string): Uint8Array {
  if (size > Math.max(1 << 20, compressed.length * maxInflateRatio)) {
    fail(`${name} claims ${size} uncompressed bytes from ${compressed.length}: not believable`);
  }
  let out: Buffer;
  try {
    out = zlib.inflateSync(compressed, { maxOutputLength: Math.max(size, 1) });
  } catch (e) {
    return fail(`${name} does not inflate: ${(e as Error).message}`);
  }
  if (out.length !== size) fail(`${name} inflates to ${out.length} bytes, its header says ${size}`);
  return out;
}

/** zstd needs Node ≥ 22.15 (zlib.zstdDecompressSync); Go itself writes zlib, objcopy may write zstd. */
function unzstd(compressed: Uint8Array, size: number, name: string): Uint8Array {
  const decompress = (zlib as unknown as { zstdDecompressSync?: (b: Uint8Array, o?: object) => Buffer })
    .zstdDecompressSync;
  if (!decompress) {
    throw new ElfUnsupportedError(`${name} is zstd-compressed and Node ${process.version} has no zstd decoder`);
  }
  if (size > Math.max(1 << 20, compressed.length * maxInflateRatio)) {
    fail(`${name} claims ${size} uncompressed bytes from ${compressed.length}: not believable`);
  }
  let out: Buffer;
  try {
    out = decompress(compressed, { maxOutputLength: Math.max(size, 1) });
  } catch (e) {
    return fail(`${name} does not decompress: ${(e as Error).message}`);
  }
  if (out.length !== size) fail(`${name} decompresses to ${out.length} bytes, its header says ${size}`);
  return out;
}
