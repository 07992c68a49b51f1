/**
 * The same server in the other shapes a Go binary comes in — uncompressed, legacy .zdebug and
 * zstd DWARF, position-independent, externally linked with gcc — must give the same functions,
 * file offsets and RET sites as `go tool objdump` sees, and the same inlining answers.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import * as zlib from 'node:zlib';
import { Executable } from '../../bpf/ts/executable.ts';
import { isLabError, LabError } from '../../core/errors.ts';
import { ElfFile } from '../../bpf/ts/elf.ts';
import { damaged, objcopied, objdump, serverBuiltWith, serverBuilds, tempDir } from '../support/fixtures/binaries.ts';

const [{ binary: server, toolchain }] = await serverBuilds();
const reference = await Executable.open(server);
const expectedSquareCallers = reference.inlinedInto('main.square');

/** func() offsets hold objdump's bytes and retSites() are objdump's RETs. */
async function agreesWithObjdump(binary: string, exe: Executable): Promise<void> {
  const file = readFileSync(binary);
  for (const name of ['main.classify', 'main.demo']) {
    const f = exe.func(name);
    const lines = await objdump(toolchain.go, binary, name);
    assert.equal(
      file.subarray(f.fileOffset, f.fileOffset + f.size).toString('hex'),
      lines.map((l) => l.bytes).join(''),
      `${name} bytes at fileOffset`,
    );
    assert.deepEqual(
      exe.retSites(name).sites.map((s) => s.address),
      lines.filter((l) => /^RET\b/.test(l.text)).map((l) => l.address),
      `${name} RET sites`,
    );
  }
}

test('uncompressed DWARF (objcopy --decompress-debug-sections) and legacy .zdebug_* sections give the same inlining answers', async () => {
  using dir = tempDir();
  for (const [name, args] of [
    ['plain', ['--decompress-debug-sections']],
    ['zdebug', ['--compress-debug-sections=zlib-gnu']],
  ] as const) {
    const path = await objcopied(dir.path, server, name, [...args]);
    const exe = await Executable.open(path);
    const sections = readFileSync(path).includes(Buffer.from('.zdebug_info'));
    assert.equal(sections, name === 'zdebug', `${name} has the section names it should`);
    assert.deepEqual(exe.inlinedInto('main.square'), expectedSquareCallers, name);
    assert.throws(
      () => exe.func('main.addOne'),
      (e) => isLabError(e, 'inlined') && /inlined it everywhere/.test(e.message),
    );
    await agreesWithObjdump(path, exe);
  }
});

test('zstd-compressed DWARF: read when Node has zstd, else one LabError from inlinedInto() and a warning from retSites()', async () => {
  using dir = tempDir();
  const path = await objcopied(dir.path, server, 'zstd', ['--compress-debug-sections=zstd']);
  const exe = await Executable.open(path);
  await agreesWithObjdump(path, exe);
  if ('zstdDecompressSync' in zlib) {
    assert.deepEqual(exe.inlinedInto('main.square'), expectedSquareCallers);
    return;
  }
  assert.throws(
    () => exe.inlinedInto('main.square'),
    (e) =>
      e instanceof LabError &&
      /^cannot read the DWARF of zstd: \.debug_info is zstd-compressed .* — decompress it \(objcopy --decompress-debug-sections zstd\)/.test(
        e.message,
      ),
  );
  assert.ok(
    exe.retSites('main.square').warnings.some((w) => /could not check whether main\.square is also inlined/.test(w)),
  );
  assert.throws(() => exe.func('main.addOne'), /no function main\.addOne in zstd \(its DWARF cannot be read/);
});

test('a position-independent build (-buildmode=pie, ELF type DYN) and an externally linked one (gcc) agree with objdump', async () => {
  using dir = tempDir();
  const pie = await serverBuiltWith(dir.path, 'server-pie', ['-buildmode=pie']);
  const ext = await serverBuiltWith(dir.path, 'server-ext', ['-ldflags=-linkmode=external'], { CGO_ENABLED: '1' });
  assert.equal(readFileSync(pie).readUInt16LE(16), 3, 'PIE is ET_DYN');
  for (const path of [pie, ext]) {
    const exe = await Executable.open(path);
    assert.equal(exe.goVersion, toolchain.version);
    assert.deepEqual(exe.inlinedInto('main.square'), expectedSquareCallers);
    await agreesWithObjdump(path, exe);
  }
});

test('the Go version is read from the pre-Go-1.18 pointer layout of .go.buildinfo and, failing that, from runtime.buildVersion', async () => {
  using dir = tempDir();
  const bytes = readFileSync(server);
  const elf = new ElfFile(bytes);
  const info = elf.section('.go.buildinfo') ?? assert.fail('no .go.buildinfo');
  const buildVersion =
    elf.symbols().find((s) => s.name === 'runtime.buildVersion') ?? assert.fail('no runtime.buildVersion');
  // Before Go 1.18 the header held pointers to Go string headers instead of inline strings.
  const pointers = damaged(dir.path, server, 'old-layout', (b) => {
    b[info.offset + 15] = 0; // flags: little-endian, pointer layout
    b.writeBigUInt64LE(BigInt(buildVersion.value), info.offset + 16);
    return b;
  });
  assert.equal((await Executable.open(pointers)).goVersion, toolchain.version);
  const noMagic = damaged(dir.path, server, 'no-magic', (b) => {
    b.fill(0, info.offset, info.offset + 16);
    return b;
  });
  assert.equal((await Executable.open(noMagic)).goVersion, toolchain.version);
  const neither = damaged(dir.path, noMagic, 'neither', (b) => {
    // Rename the symbol (first byte of its name) so no fallback is left.
    const strtab = elf.sections[elf.section('.symtab')!.link];
    const at = b.indexOf('runtime.buildVersion\0', strtab.offset, 'latin1');
    b[at] = 'R'.charCodeAt(0);
    return b;
  });
  const exe = await Executable.open(neither);
  assert.equal(exe.goVersion, undefined);
  assert.equal(exe.func('main.demo').name, 'main.demo', 'an unknown version does not stop anything else');
});
