/**
 * The bad-input corpus: every file a user might point the lab at by mistake gets one clear line
 * saying what is wrong and what to do, as a LabError, and the process carries on.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, writeFileSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Executable } from '../../bpf/ts/executable.ts';
import { LabError } from '../../core/errors.ts';
import {
  cProgram,
  damaged,
  objcopied,
  elf32,
  elf64,
  serverBuilds,
  serverWithLdflags,
  tempDir,
} from '../support/fixtures/binaries.ts';

const [{ binary: server, toolchain }] = await serverBuilds();

async function openFails(path: string, expected: RegExp): Promise<string> {
  try {
    await Executable.open(path);
  } catch (e) {
    assert.ok(e instanceof LabError, `${path}: expected a LabError, got ${(e as Error)?.stack ?? e}`);
    assert.ok(!e.message.includes('\n'), `not one line: ${e.message}`);
    assert.match(e.message, / — /, `no fix in: ${e.message}`);
    assert.match(e.message, expected);
    return e.message;
  }
  return assert.fail(`${path} opened without an error`);
}

function fails(fn: () => unknown, expected: RegExp): string {
  try {
    fn();
  } catch (e) {
    assert.ok(e instanceof LabError, `expected a LabError, got ${(e as Error)?.stack ?? e}`);
    assert.ok(!e.message.includes('\n'), `not one line: ${e.message}`);
    assert.match(e.message, expected);
    return e.message;
  }
  return assert.fail('no error');
}

test('paths that are not binaries: missing, a directory, a device, an empty file, a text file', async () => {
  using dir = tempDir();
  await openFails(join(dir.path, 'nope'), /^no file at .*nope — check the path/);
  mkdirSync(join(dir.path, 'adir'));
  await openFails(join(dir.path, 'adir'), /adir is a directory, not an executable — pass the binary itself/);
  await openFails('/dev/null', /\/dev\/null is not a regular file/);
  writeFileSync(join(dir.path, 'empty'), '');
  await openFails(join(dir.path, 'empty'), /empty is not an ELF executable; it is empty/);
  writeFileSync(join(dir.path, 'script.sh'), '#!/bin/sh\necho not a binary\n');
  await openFails(join(dir.path, 'script.sh'), /script\.sh is not an ELF executable; it starts with "#!\/bin\/sh"/);
});

test('truncated copies of the server: 3 bytes, 40 bytes, half the file', async () => {
  using dir = tempDir();
  const cut = (n: number) => damaged(dir.path, server, `cut-${n}`, (b) => b.subarray(0, n));
  await openFails(cut(3), /is not an ELF executable/);
  await openFails(cut(40), /cut-40 is truncated: 40 bytes, shorter than an ELF64 header/);
  const half = Math.floor(readFileSync(server).length / 2);
  await openFails(
    cut(half),
    new RegExp(`cut-${half} is truncated: its headers describe \\d+ bytes but the file has ${half}`),
  );
});

test('damaged ELF headers: class, byte order, machine, type, table offsets and entry sizes', async () => {
  using dir = tempDir();
  const patch = (name: string, f: (b: Buffer) => void) =>
    damaged(dir.path, server, name, (b) => {
      f(b);
      return b;
    });
  await openFails(
    patch('class', (b) => (b[elf64.class] = 3)),
    /class is a corrupt ELF file: its class byte is 3/,
  );
  await openFails(
    patch('machine', (b) => b.writeUInt16LE(183, elf64.machine)),
    /machine is an ELF for AArch64, not x86-64 — build it for x86-64/,
  );
  await openFails(
    patch('bigendian', (b) => (b[elf64.data] = 2)),
    /bigendian is an ELF for machine \d+ \(big-endian\), not x86-64/,
  );
  await openFails(
    patch('object', (b) => b.writeUInt16LE(1, 16)),
    /object is a relocatable object file/,
  );
  await openFails(
    patch('shoff', (b) => b.writeBigUInt64LE(0x7fffffff00n, elf64.shoff)),
    /shoff is a truncated or corrupt ELF file: the section header table .* lies outside/,
  );
  await openFails(
    patch('shentsize', (b) => b.writeUInt16LE(63, elf64.shentsize)),
    /e_shentsize is 63/,
  );
  await openFails(
    patch('phentsize', (b) => b.writeUInt16LE(55, elf64.phentsize)),
    /e_phentsize is 55/,
  );
  await openFails(
    patch('shstrndx', (b) => b.writeUInt16LE(200, elf64.shstrndx)),
    /e_shstrndx 200 names no section/,
  );
  await openFails(
    patch('phoff', (b) => b.writeBigUInt64LE(0xffffffffffffffffn, elf64.phoff)),
    /e_phoff is absurdly large/,
  );
  await openFails(
    patch('noshdrs', (b) => b.writeBigUInt64LE(0n, elf64.shoff)),
    /noshdrs has no section headers/,
  );
});

test('a 32-bit ELF, made by hand, is refused as 32-bit', async () => {
  using dir = tempDir();
  const path = join(dir.path, 'i386');
  writeFileSync(path, elf32(), { mode: 0o755 });
  await openFails(
    path,
    /^i386 is a 32-bit ELF for x86 \(i386\), the lab reads 64-bit x86-64 binaries — build it for x86-64/,
  );
});

test('a C program (gcc) is refused as not a Go binary, naming its compiler', async () => {
  using dir = tempDir();
  const hello = await cProgram(dir.path);
  await openFails(
    hello,
    /^hello is not a Go binary \(no \.go\.buildinfo.*; built by GCC: .*\) — pass a program built with go build/,
  );
});

test('a stripped Go binary opens, knows its Go version, and func() says it is stripped and how to fix it', async () => {
  using dir = tempDir();
  const stripped = await serverWithLdflags(dir.path, '-s -w', 'server-stripped');
  const exe = await Executable.open(stripped);
  assert.equal(exe.stripped, true);
  assert.equal(exe.goVersion, toolchain.version);
  assert.deepEqual(exe.functions(), []);
  fails(
    () => exe.func('main.demo'),
    /^server-stripped is stripped: it has no symbol table \(\.symtab\), so main\.demo cannot be located — rebuild it without -ldflags='-s -w' and without strip/,
  );
  fails(() => exe.retSites('main.classify'), /is stripped/);
  assert.deepEqual(exe.inlinedInto('main.addOne'), []);
  // Stripped after the fact by binutils: the same answer.
  const byStrip = await objcopied(dir.path, server, 'server-strip', ['--strip-all']);
  const stripped2 = await Executable.open(byStrip);
  assert.equal(stripped2.stripped, true);
  fails(() => stripped2.func('main.demo'), /^server-strip is stripped: it has no symbol table/);
});

test('a Go binary without DWARF (-w) still finds functions but cannot tell inlined from missing', async () => {
  using dir = tempDir();
  const noDwarf = await serverWithLdflags(dir.path, '-w', 'server-nodwarf');
  const exe = await Executable.open(noDwarf);
  assert.equal(exe.stripped, false);
  assert.equal(exe.hasDwarf, false);
  assert.ok(exe.retSites('main.classify').sites.length >= 5);
  fails(
    () => exe.func('main.addOne'),
    /^no function main\.addOne in server-nodwarf \(built without DWARF, so whether main\.addOne was inlined cannot be told\)/,
  );
});

test('a missing symbol gets a suggestion and an inlined one names its callers', async () => {
  const exe = await Executable.open(server);
  fails(() => exe.func('main.demoo'), /^no function main\.demoo in server — did you mean main\.demo\?$/);
  fails(() => exe.retSites('main.clasify'), /did you mean main\.classify/);
  fails(
    () => exe.func('main.addOne'),
    /^main\.addOne has no symbol in server: the compiler inlined it everywhere — it copied its body into main\.\S+ .*add \/\/go:noinline above func addOne/,
  );
});

test('a symbol whose address no segment maps is reported as corruption, not a crash', async () => {
  using dir = tempDir();
  // Point every PT_LOAD somewhere else: symbols then map to nothing in the file.
  const path = damaged(dir.path, server, 'unmapped', (b) => {
    const phoff = Number(b.readBigUInt64LE(elf64.phoff));
    for (let i = 0; i < b.readUInt16LE(56); i++) {
      const o = phoff + i * 56;
      if (b.readUInt32LE(o) === 1) b.writeBigUInt64LE(0x7000_0000_0000n + BigInt(i) * 0x1_0000_0000n, o + 16);
    }
    return b;
  });
  const exe = await Executable.open(path);
  fails(
    () => exe.func('main.demo'),
    /unmapped is a corrupt ELF file: main\.demo at 0x[0-9a-f]+ \(\+\d+\) is not mapped from the file/,
  );
  assert.deepEqual(exe.functions(), []);
});
