/**
 * A Go executable as a tracer sees it: its functions (address and the file offset a uprobe
 * attaches at), the RET instructions inside them, and which functions the compiler inlined away.
 * Pure TypeScript over the file's bytes; no kernel involved.
 */
import { createHash } from 'node:crypto';
import { stat } from 'node:fs/promises';
import { basename, resolve } from 'node:path';
import { LabError } from '../../core/errors.ts';
import {
  BufferSource,
  ElfFile,
  ElfFormatError,
  ElfTruncatedError,
  ElfUnsupportedError,
  identify,
  machineName,
  ELFCLASS32,
  ELFCLASS64,
  EM_X86_64,
  SHT_NOBITS,
  STT_FUNC,
  type ByteSource,
  type ElfSection,
  type ElfSymbol,
} from './elf.ts';
import { FileSource } from './file-source.ts';
import { readDwarf, type DwarfInfo, type InliningIndex } from './dwarf.ts';
import { assign, memberOffset, signatureOf, type Signature } from './abi.ts';
import { suggestNames } from './names.ts';
import { goVersionOf } from './goversion.ts';
import { decodeFunction } from './retsites.ts';

export interface GoFunction {
  name: string;
  address: number;
  fileOffset: number;
  size: number;
}

export interface RetSite {
  offset: number; // bytes from function start
  address: number;
  fileOffset: number;
  text: string; // disassembly, e.g. "ret"
}

const rebuildFix = 'rebuild it (./lab build) or pass an intact Go binary such as server/server';

export class Executable {
  /** Absolute path (or, for bytes given directly, the name they were given under). */
  readonly path: string;
  /** e.g. "go1.26.8", from .go.buildinfo. */
  readonly goVersion?: string;
  /** No .symtab: built with -ldflags=-s or run through strip. */
  readonly stripped: boolean;
  /** Has DWARF (.debug_info): needed to tell inlined functions from missing ones. */
  readonly hasDwarf: boolean;

  protected readonly elf: ElfFile;
  private readonly symbolsByName = new Map<string, ElfSymbol>();
  private inlining?: { index: InliningIndex; dwarf?: DwarfInfo; error?: LabError };

  /**
   * Opens and validates a Go x86-64 ELF executable; every problem is a one-line LabError. Only
   * the pieces the lab looks at are read, when it looks at them.
   */
  static async open<T extends Executable>(
    this: new (
      path: string,
      bytes: Uint8Array | ByteSource,
    ) => T,
    path: string,
  ): Promise<T> {
    const abs = resolve(path);
    let source: FileSource;
    try {
      const st = await stat(abs);
      if (st.isDirectory())
        throw new LabError(`${path} is a directory, not an executable`, 'pass the binary itself, e.g. server/server');
      if (!st.isFile()) throw new LabError(`${path} is not a regular file`, 'pass a Go binary such as server/server');
      source = FileSource.open(abs);
    } catch (e) {
      if (e instanceof LabError) throw e;
      const code = (e as NodeJS.ErrnoException).code;
      if (code === 'ENOENT')
        throw new LabError(`no file at ${path}`, 'check the path, or build the server first with ./lab build', {
          cause: e,
        });
      if (code === 'EACCES')
        throw new LabError(`cannot read ${path}: permission denied`, 'run as root or make the file readable', {
          cause: e,
        });
      throw new LabError(
        `cannot read ${path}: ${(e as Error).message}`,
        'pass a readable Go binary such as server/server',
        { cause: e },
      );
    }
    return new this(abs, source);
  }

  /** Parses a binary in memory or from a source; `path` is only used to name it in messages. */
  constructor(path: string, bytes: Uint8Array | ByteSource) {
    this.path = path;
    const name = this.fileName;
    const source = bytes instanceof Uint8Array ? new BufferSource(bytes) : bytes;
    checkIdentity(name, source);
    let symbols: ElfSymbol[];
    try {
      this.elf = new ElfFile(source);
      symbols = this.elf.symbols();
    } catch (e) {
      if (e instanceof ElfTruncatedError)
        throw new LabError(`${name} is truncated: ${e.message}`, rebuildFix, { cause: e });
      if (e instanceof ElfFormatError)
        throw new LabError(`${name} is a truncated or corrupt ELF file: ${e.message}`, rebuildFix, { cause: e });
      throw e;
    }
    const { type } = this.elf;
    if (type === 1)
      throw new LabError(
        `${name} is a relocatable object file (.o), not an executable`,
        'link it into a program first (go build)',
      );
    if (type === 4)
      throw new LabError(`${name} is a core dump, not an executable`, 'pass the program binary, e.g. server/server');
    if (type !== 2 && type !== 3) throw new LabError(`${name} has ELF type ${type}, not an executable`, rebuildFix);
    if (this.elf.sections.length === 0) {
      throw new LabError(`${name} has no section headers, so its symbols and Go metadata cannot be found`, rebuildFix);
    }
    if (!isGo(this.elf, symbols)) {
      const compiler = this.compilerComment();
      throw new LabError(
        `${name} is not a Go binary (no .go.buildinfo, .gopclntab or .note.go.buildid section${compiler ? `; built by ${compiler}` : ''})`,
        'pass a program built with go build, e.g. server/server',
      );
    }
    this.stripped = !this.elf.sections.some((s) => s.name === '.symtab');
    this.hasDwarf = this.elf.sections.some((s) => s.name === '.debug_info' || s.name === '.zdebug_info');
    for (const s of symbols) {
      if (s.type === STT_FUNC && s.name && !this.symbolsByName.has(s.name)) this.symbolsByName.set(s.name, s);
    }
    this.goVersion = goVersionOf(this.elf, symbols);
  }

  /** The file's base name, as messages say it ("server"). */
  get fileName(): string {
    return basename(this.path);
  }

  /** A function by its Go symbol name, e.g. "main.demo". */
  func(name: string): GoFunction {
    if (this.stripped) {
      throw new LabError(
        `${this.fileName} is stripped: it has no symbol table (.symtab), so ${name} cannot be located`,
        "rebuild it without -ldflags='-s -w' and without strip (./lab build does): probes need the symbol table",
      );
    }
    // Assembly functions carry their ABI in the symbol name (runtime.goexit.abi0).
    const sym = this.symbolsByName.get(name) ?? this.symbolsByName.get(`${name}.abi0`);
    if (sym) return this.toGoFunction(sym);
    // A generic function exists only as instantiations, one per GC shape: name[go.shape.int].
    const shapes = [...this.symbolsByName.keys()].filter((n) => n.startsWith(`${name}[`) && n.endsWith(']'));
    if (shapes.length === 1) return this.toGoFunction(this.symbolsByName.get(shapes[0])!);
    if (shapes.length > 1) {
      throw new LabError(
        `${name} is generic: the compiler made ${shapes.length} copies of it, one per shape of type arguments, and each is a separate function`,
        `probe one of them by its full name: ${listNames(shapes.sort(), 'or')}`,
      );
    }
    const { index, problem } = this.dwarfInlining();
    const callers = [...(index.get(name) ?? [])].sort();
    if (callers.length > 0) {
      const list = listNames(callers, 'and');
      throw new LabError(
        `${name} has no symbol in ${this.fileName}: the compiler inlined it everywhere — it copied its body into ${list} — so there is no function of its own to probe`,
        `add //go:noinline above func ${shortName(name)} and rebuild, or probe the caller (${callers[0]})`,
        { kind: 'inlined' },
      );
    }
    const near = this.suggest(name);
    const unsure = !this.hasDwarf
      ? ` (built without DWARF, so whether ${name} was inlined cannot be told)`
      : problem
        ? ` (its DWARF cannot be read, so whether ${name} was inlined cannot be told: ${problem})`
        : '';
    throw new LabError(
      `no function ${name} in ${this.fileName}${unsure}`,
      near.length > 0
        ? `did you mean ${listNames(near, 'or')}?`
        : `check the name: Go symbols are package.Function, e.g. main.demo`,
    );
  }

  /** Every function symbol that maps to code in the file, by address. */
  functions(): GoFunction[] {
    const out: GoFunction[] = [];
    for (const s of this.symbolsByName.values()) {
      const offset = this.elf.fileOffset(s.value);
      if (offset !== undefined) out.push({ name: s.name, address: s.value, fileOffset: offset, size: s.size });
    }
    return out.sort((a, b) => a.address - b.address);
  }

  /** A function's machine code: `size` bytes from its file offset (what a disassembler or prologue check reads). */
  code(name: string): Uint8Array {
    const f = this.func(name);
    try {
      return this.elf.readAt(f.address, f.size, `the code of ${name}`);
    } catch (e) {
      if (e instanceof ElfFormatError)
        throw new LabError(`${this.fileName} is a corrupt ELF file: ${e.message}`, rebuildFix, { cause: e });
      throw e;
    }
  }

  /** The RET instructions of a function, found by disassembly, plus what a RET-site tracer should know. */
  retSites(name: string): { sites: RetSite[]; tailCalls: (RetSite & { target: string })[]; warnings: string[] } {
    const f = this.func(name);
    const code = this.code(name);
    const decoded = decodeFunction(code, f.address);
    const sites = decoded.rets.map((r) => ({
      offset: r.offset,
      address: f.address + r.offset,
      fileOffset: f.fileOffset + r.offset,
      text: r.text,
    }));
    const warnings: string[] = [];
    const hex = (n: number) => `+0x${n.toString(16)}`;
    const jumpTarget = (j: { target: number; text: string }) => this.functionAt(j.target) ?? j.text;
    // A tail jump leaves the function as a RET would: the frame is gone, SP points at the return address.
    const tailCalls = decoded.tailJumps.map((j) => ({
      offset: j.offset,
      address: f.address + j.offset,
      fileOffset: f.fileOffset + j.offset,
      text: j.text,
      target: jumpTarget(j),
    }));
    if (f.size === 0) warnings.push(`${name} has size 0 in the symbol table, so there is no code to look for RETs in`);
    else if (sites.length === 0 && decoded.tailJumps.length > 0) {
      const targets = [...new Set(decoded.tailJumps.map(jumpTarget))];
      warnings.push(
        `${name} has no RET instruction: it ends in a tail call (jmp to ${targets.join(', ')}) whose RET returns straight to ${name}'s caller — ret mode probes the jump instead: a call ends there, and its results are ${targets[0]}'s (not read)`,
      );
    } else if (sites.length === 0) {
      warnings.push(
        `${name} has no RET instruction: it never returns normally (it panics, exits or loops${decoded.indirectJumps.length ? ', or tail-calls through a register' : ''}), so RET-site probes will never fire — trace its entry with a uprobe instead`,
      );
    } else {
      for (const j of decoded.tailJumps) {
        warnings.push(
          `${name} also leaves at ${hex(j.offset)} by a tail call (jmp to ${jumpTarget(j)}): ret mode probes that jump too, and a call that leaves there has ${jumpTarget(j)}'s results (not read)`,
        );
      }
    }
    if (decoded.invalid.length > 0) {
      warnings.push(
        `${decoded.invalid.length} byte sequence(s) in ${name} do not decode as x86-64 (first at ${hex(decoded.invalid[0])}): its symbol size may be wrong or the file damaged`,
      );
    }
    const { index, problem } = this.dwarfInlining();
    // A function "inlined into itself" is DWARF describing a recursive copy; its RETs are still there.
    const inlined = [...(index.get(name) ?? [])].filter((n) => n !== name).sort();
    if (inlined.length > 0) {
      warnings.push(
        `${name} is also inlined into ${listNames(inlined, 'and')}: calls made there run a copy of its body and are not traced`,
      );
    }
    if (problem)
      warnings.push(
        `could not check whether ${name} is also inlined elsewhere (those calls would not be traced): ${problem}`,
      );
    return { sites, tailCalls, warnings };
  }

  /** The functions the compiler inlined `name` into, from DWARF ([] if none or no DWARF). */
  inlinedInto(name: string): string[] {
    return [...(this.inliningIndex().get(name) ?? [])].filter((n) => n !== name).sort();
  }

  /** The function whose code contains an address, if any. */
  functionAt(address: number): string | undefined {
    if (!Number.isFinite(address)) return undefined;
    for (const s of this.symbolsByName.values()) {
      if (address >= s.value && address < s.value + s.size) return s.name;
    }
    return undefined;
  }

  /** The inlining index from DWARF; a LabError when the DWARF is there but unreadable. */
  private inliningIndex(): InliningIndex {
    const { index, error } = this.readInlining();
    if (error) throw error;
    return index;
  }

  /** The same, for callers that can carry on without it: an empty index and the reason. */
  private dwarfInlining(): { index: InliningIndex; problem?: string } {
    const { index, error } = this.readInlining();
    return { index, problem: error ? (error.cause as Error).message : undefined };
  }

  private readInlining(): { index: InliningIndex; dwarf?: DwarfInfo; error?: LabError } {
    if (this.inlining) return this.inlining;
    const info = this.elf.section('.debug_info') ?? this.elf.section('.zdebug_info');
    const abbrev = this.elf.section('.debug_abbrev') ?? this.elf.section('.zdebug_abbrev');
    const str = this.elf.section('.debug_str') ?? this.elf.section('.zdebug_str');
    if (!info || !abbrev) return (this.inlining = { index: new Map() });
    try {
      const sections = str ? [info, abbrev, str] : [info, abbrev];
      const key = contentKey(sections.map((s) => this.elf.rawSection(s)));
      let dwarf = parsedDwarf.get(key);
      const data = (s: ElfSection) => this.elf.sectionData(s);
      if (!dwarf) {
        dwarf = readDwarf(data(info), data(abbrev), str ? data(str) : undefined);
        parsedDwarf.set(key, dwarf);
        // Keep only a few: one per binary a session works with.
        if (parsedDwarf.size > 4) parsedDwarf.delete(parsedDwarf.keys().next().value!);
      }
      const more = (...names: string[]) => {
        const s = names.map((n) => this.elf.section(n)).find(Boolean);
        return s ? data(s) : undefined;
      };
      dwarf.more = {
        addr: more('.debug_addr', '.zdebug_addr'),
        ranges: more('.debug_ranges', '.zdebug_ranges'),
        rnglists: more('.debug_rnglists', '.zdebug_rnglists'),
      };
      this.inlining = { index: dwarf.inlining, dwarf };
    } catch (e) {
      if (e instanceof ElfUnsupportedError) {
        const fix = `decompress it (objcopy --decompress-debug-sections ${this.fileName}) or rebuild it (./lab build)`;
        this.inlining = {
          index: new Map(),
          error: new LabError(`cannot read the DWARF of ${this.fileName}: ${e.message}`, fix, { cause: e }),
        };
      } else if (e instanceof ElfFormatError) {
        this.inlining = {
          index: new Map(),
          error: new LabError(`${this.fileName} has corrupt DWARF debug info: ${e.message}`, rebuildFix, { cause: e }),
        };
      } else throw e;
    }
    return this.inlining;
  }

  /**
   * A function's parameters and results with their types and places (Go's register ABI), from
   * DWARF; undefined with the reason when the binary cannot tell.
   */
  signature(name: string): { signature?: Signature; problem?: string } {
    const { dwarf, error } = this.readInlining();
    if (error) return { problem: (error.cause as Error).message };
    if (!dwarf)
      return {
        problem: `${this.fileName} has no DWARF (built with -ldflags=-w?), so the types of ${name}'s values are unknown`,
      };
    const real = this.func(name).name;
    const die = dwarf.subprogram(real);
    if (!die) return { problem: `${this.fileName}'s DWARF does not describe ${real}` };
    try {
      const { params, results } = signatureOf(dwarf, die);
      return { signature: assign(params, results) };
    } catch (e) {
      if (e instanceof ElfFormatError)
        return { problem: `${this.fileName}'s DWARF for ${real} cannot be read: ${e.message}` };
      throw e;
    }
  }

  /** Where runtime.g keeps the goroutine id and the stack's top, from DWARF (undefined when it does not say). */
  goroutineLayout(): { goid?: number; stackHi?: number } {
    const { dwarf } = this.readInlining();
    if (!dwarf) return {};
    try {
      const stack = memberOffset(dwarf, 'runtime.g', 'stack');
      const hi = memberOffset(dwarf, 'runtime.stack', 'hi');
      return {
        goid: memberOffset(dwarf, 'runtime.g', 'goid'),
        stackHi: stack !== undefined && hi !== undefined ? stack + hi : undefined,
      };
    } catch (e) {
      if (e instanceof ElfFormatError) return {};
      throw e;
    }
  }

  /** Entry addresses of the inlined copies of a function (DW_TAG_inlined_subroutine), with the function each sits in. */
  inlinedCopies(name: string): { caller: string; address: number; fileOffset: number }[] {
    const { dwarf } = this.readInlining();
    if (!dwarf) return [];
    const out: { caller: string; address: number; fileOffset: number }[] = [];
    const seen = new Set<number>();
    for (const c of dwarf.inlinedCopies(name)) {
      const fileOffset = this.elf.fileOffset(c.address);
      if (fileOffset === undefined || seen.has(c.address)) continue;
      seen.add(c.address);
      out.push({ ...c, fileOffset });
    }
    return out.sort((a, b) => a.address - b.address);
  }

  /** `length` bytes of the file at a file offset (what a uprobe at that offset would see). */
  protected fileBytes(offset: number, length: number): Uint8Array {
    return this.elf.source.read(offset, length, 'code');
  }

  /** Bytes of the file's mapped image at a virtual address, or undefined when the file does not hold them. */
  readImage(address: number, size: number): Uint8Array | undefined {
    try {
      return this.elf.readAt(address, size, 'memory');
    } catch {
      return undefined;
    }
  }

  /** The address of a data or function symbol (runtime.types, …). */
  symbolAddress(name: string): number | undefined {
    this.allSymbols ??= new Map(
      this.elf
        .symbols()
        .filter((s) => s.name)
        .map((s) => [s.name, s.value]),
    );
    return this.allSymbols.get(name);
  }
  private allSymbols?: Map<string, number>;

  private toGoFunction(sym: ElfSymbol): GoFunction {
    const fileOffset = this.elf.fileOffset(sym.value);
    if (fileOffset === undefined || this.elf.fileOffset(sym.value + Math.max(sym.size, 1) - 1) === undefined) {
      throw new LabError(
        `${this.fileName} is a corrupt ELF file: ${sym.name} at 0x${sym.value.toString(16)} (+${sym.size}) is not mapped from the file by a PT_LOAD segment`,
        rebuildFix,
      );
    }
    return { name: sym.name, address: sym.value, fileOffset, size: sym.size };
  }

  /** Function names close to a misspelt one: symbols and inlined-away functions alike. */
  private suggest(name: string): string[] {
    // Inlined-away functions are worth suggesting too: func() then explains where they went.
    return suggestNames(name, new Set([...this.symbolsByName.keys(), ...this.dwarfInlining().index.keys()]));
  }

  private compilerComment(): string | undefined {
    const s = this.elf.section('.comment');
    if (!s || s.type === SHT_NOBITS) return undefined;
    try {
      const text = Buffer.from(this.elf.rawSection(s))
        .toString('latin1')
        .split('\0')
        .find((t) => t.trim());
      return text?.trim().slice(0, 60);
    } catch {
      return undefined;
    }
  }
}

function checkIdentity(name: string, source: ByteSource): void {
  const bytes = source.read(0, Math.min(source.size, 64), 'the ELF header');
  const id = identify(bytes);
  if (!id.isElf) {
    const start = Buffer.from(bytes.subarray(0, 24)).toString('latin1').split('\n')[0];
    const shown = /^[\x20-\x7e]+$/.test(start)
      ? `; it starts with "${start}"`
      : bytes.length === 0
        ? '; it is empty'
        : '';
    throw new LabError(`${name} is not an ELF executable${shown}`, 'pass a compiled Go binary such as server/server');
  }
  if (id.class === ELFCLASS32) {
    throw new LabError(
      `${name} is a 32-bit ELF${id.machine !== undefined ? ` for ${machineName(id.machine)}` : ''}, the lab reads 64-bit x86-64 binaries`,
      'build it for x86-64: GOARCH=amd64 go build',
    );
  }
  if (source.size < 64)
    throw new LabError(
      `${name} is truncated: ${source.size} bytes, shorter than an ELF64 header (64 bytes)`,
      rebuildFix,
    );
  if (id.class !== ELFCLASS64)
    throw new LabError(
      `${name} is a corrupt ELF file: its class byte is ${id.class ?? 'missing'}, neither 32- nor 64-bit`,
      rebuildFix,
    );
  if (id.littleEndian === false || (id.machine !== undefined && id.machine !== EM_X86_64)) {
    const arch = id.machine !== undefined ? machineName(id.machine) : 'another architecture';
    throw new LabError(
      `${name} is an ELF for ${arch}${id.littleEndian ? '' : ' (big-endian)'}, not x86-64`,
      'build it for x86-64: GOARCH=amd64 go build',
    );
  }
}

/**
 * Parsing DWARF costs ~100 ms; the lab opens the same binary over and over (every probe, every
 * crash-matrix cell), so indexes are shared by the content of the DWARF sections.
 */
const parsedDwarf = new Map<string, DwarfInfo>();

function contentKey(parts: Uint8Array[]): string {
  const hash = createHash('sha1');
  for (const p of parts) hash.update(`${p.length}:`).update(p);
  return hash.digest('hex');
}

function isGo(elf: ElfFile, symbols: ElfSymbol[]): boolean {
  const goSections = ['.go.buildinfo', '.gopclntab', '.note.go.buildid', '.data.rel.ro.gopclntab'];
  return (
    elf.sections.some((s) => goSections.includes(s.name)) || symbols.some((s) => s.name === 'runtime.buildVersion')
  );
}

function shortName(name: string): string {
  return name.slice(name.lastIndexOf('.') + 1);
}

function listNames(names: string[], conjunction: 'and' | 'or'): string {
  const shown = names.slice(0, 5);
  const more = names.length > shown.length ? ` ${conjunction} ${names.length - shown.length} more` : '';
  if (more) return shown.join(', ') + more;
  return shown.length <= 1
    ? shown.join('')
    : `${shown.slice(0, -1).join(', ')} ${conjunction} ${shown[shown.length - 1]}`;
}
