/**
 * Executable against the real server binaries (default Go and Go 1.19), cross-checked with the
 * Go toolchain's own view of them: `go tool nm`, `go tool objdump`, `go build -gcflags=-m`.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { Executable } from '../../bpf/ts/executable.ts';
import { LabError } from '../../core/errors.ts';
import { run } from '../../core/proc.ts';
import { at } from '../../core/paths.ts';
import { objdump, objdumpAll, serverBuilds } from '../support/fixtures/binaries.ts';

const builds = await serverBuilds({ old: true });

async function nm(go: string, binary: string): Promise<Map<string, { address: number; size: number }>> {
  const out = await run(go, ['tool', 'nm', '-size', binary], { capture: true });
  const table = new Map<string, { address: number; size: number }>();
  for (const line of out.split('\n')) {
    const m = /^\s*([0-9a-f]+)\s+(\d+)\s+T\s+(\S+)$/.exec(line);
    if (m) table.set(m[3], { address: Number.parseInt(m[1], 16), size: Number(m[2]) });
  }
  return table;
}

/** The source line of a function body in the server, e.g. `return n + 1` of addOne. */
function serverLine(file: string, text: string): string {
  const lines = readFileSync(at('server', file), 'utf8').split('\n');
  const i = lines.findIndex((l) => l.trim() === text);
  assert.ok(i >= 0, `server/${file} no longer contains "${text}"`);
  return `${file}:${i + 1}`;
}

function labError(fn: () => unknown): LabError {
  try {
    fn();
  } catch (e) {
    assert.ok(e instanceof LabError, `expected a LabError, got ${e}`);
    assert.ok(!e.message.includes('\n'), `error is not one line: ${e.message}`);
    return e;
  }
  assert.fail('expected a LabError, nothing was thrown');
}

for (const { toolchain, binary } of builds) {
  const v = toolchain.version;

  test(`${v}: go version, stripped flag and every main.* function match go tool nm, file offsets hold the code objdump shows`, async () => {
    const exe = await Executable.open(binary);
    assert.equal(exe.path, binary);
    assert.equal(exe.goVersion, v);
    assert.equal(exe.stripped, false);
    const table = await nm(toolchain.go, binary);
    const mains = [...table].filter(([name]) => name.startsWith('main.'));
    assert.ok(mains.length >= 10, `go tool nm lists only ${mains.length} main.* functions`);
    for (const [name, { address, size }] of mains) {
      const f = exe.func(name);
      assert.deepEqual({ address: f.address, size: f.size }, { address, size }, name);
    }
    // The bytes at fileOffset are the instructions objdump decodes at the symbol's address.
    const file = readFileSync(binary);
    for (const name of ['main.classify', 'main.demo', 'main.wordStats']) {
      const f = exe.func(name);
      const expected = (await objdump(toolchain.go, binary, name)).map((l) => l.bytes).join('');
      assert.equal(file.subarray(f.fileOffset, f.fileOffset + f.size).toString('hex'), expected, name);
    }
    assert.equal(
      Buffer.from(exe.code('main.classify')).toString('hex'),
      file.subarray(exe.func('main.classify').fileOffset).subarray(0, exe.func('main.classify').size).toString('hex'),
    );
    const all = exe.functions();
    assert.ok(all.length > 1000);
    assert.ok(
      all.every((f, i) => i === 0 || all[i - 1].address <= f.address),
      'functions() is sorted by address',
    );
    assert.ok(all.every((f) => f.fileOffset + f.size <= file.length));
  });

  test(`${v}: retSites(main.classify) finds exactly the RETs go tool objdump shows (several returns and a defer)`, async () => {
    const exe = await Executable.open(binary);
    const { sites, warnings } = exe.retSites('main.classify');
    const f = exe.func('main.classify');
    const rets = (await objdump(toolchain.go, binary, 'main.classify')).filter((l) => /^RET\b/.test(l.text));
    assert.ok(rets.length >= 5, `objdump shows ${rets.length} RETs`);
    assert.deepEqual(
      sites.map((s) => s.address),
      rets.map((r) => r.address),
    );
    const file = readFileSync(binary);
    for (const s of sites) {
      assert.equal(s.address, f.address + s.offset);
      assert.equal(s.fileOffset, f.fileOffset + s.offset);
      assert.equal(s.text, 'ret');
      assert.equal(file[s.fileOffset], 0xc3);
    }
    assert.deepEqual(warnings, []);
    // The defer adds a path of its own: after a recovered panic the runtime resumes at the
    // CALL runtime.deferreturn, which then leaves through a separate RET.
    const lines = await objdump(toolchain.go, binary, 'main.classify');
    const deferCall = lines.findIndex((l) => /^CALL runtime\.deferreturn/.test(l.text));
    assert.ok(deferCall >= 0, 'main.classify calls runtime.deferreturn');
    const deferRet = lines.slice(deferCall).find((l) => /^RET\b/.test(l.text));
    assert.ok(deferRet && sites.some((x) => x.address === deferRet.address), 'the RET after deferreturn is a RET site');
  });

  test(`${v}: every main.* function's RET sites and bytes match go tool objdump`, async () => {
    const exe = await Executable.open(binary);
    const all = await objdumpAll(toolchain.go, binary, '^main\\.');
    assert.ok(all.size >= 10, `objdump shows ${all.size} main.* functions`);
    const file = readFileSync(binary);
    for (const [name, lines] of all) {
      const f = exe.func(name);
      assert.equal(
        file.subarray(f.fileOffset, f.fileOffset + f.size).toString('hex'),
        lines.map((l) => l.bytes).join(''),
        name,
      );
      assert.deepEqual(
        exe.retSites(name).sites.map((x) => x.address),
        lines.filter((l) => /^RET\b/.test(l.text)).map((l) => l.address),
        name,
      );
    }
  });

  test(`${v}: a wrapper that ends in a tail call has no RET and the warning names the jump target`, async () => {
    const exe = await Executable.open(binary);
    const wrapper = exe
      .functions()
      .find(
        (f) => exe.retSites(f.name).warnings.some((w) => w.includes('ends in a tail call')) && f.name.includes('.'),
      );
    assert.ok(wrapper, 'the server binary has at least one tail-calling wrapper');
    const warning = exe.retSites(wrapper.name).warnings.find((w) => w.includes('tail call'))!;
    const target = /jmp to ([^ ,)]+)/.exec(warning)![1];
    const lines = await objdump(toolchain.go, binary, wrapper.name);
    assert.ok(!lines.some((l) => /^RET\b/.test(l.text)), `objdump finds no RET in ${wrapper.name}`);
    assert.ok(
      lines.some((l) => l.text.startsWith('JMP ') && l.text.includes(target.replace(/\.abi0$/, ''))),
      `objdump shows ${wrapper.name} jumping to ${target}`,
    );
  });

  test(`${v}: a function that only panics (main.explode) has no RET site and a warning says why`, async () => {
    const exe = await Executable.open(binary);
    const rets = (await objdump(toolchain.go, binary, 'main.explode')).filter((l) => /^RET\b/.test(l.text));
    assert.equal(rets.length, 0, 'objdump agrees there is no RET');
    const { sites, warnings } = exe.retSites('main.explode');
    assert.deepEqual(sites, []);
    assert.equal(warnings.length, 1);
    assert.match(warnings[0], /main\.explode has no RET instruction.*uprobe/);
  });

  test(`${v}: main.addOne is inlined away — func() says so and names the callers holding its body`, async () => {
    const exe = await Executable.open(binary);
    const callers = exe.inlinedInto('main.addOne');
    assert.ok(callers.length > 0, 'DWARF names at least one caller');
    const err = labError(() => exe.func('main.addOne'));
    assert.match(err.message, /main\.addOne has no symbol in server: the compiler inlined it/);
    assert.match(err.message, /\/\/go:noinline/);
    // Cross-check with the line table: each caller's code includes addOne's body line.
    const body = serverLine('triggers.go', 'return n + 1');
    for (const caller of callers) {
      assert.ok(err.message.includes(caller), `the error names ${caller}`);
      exe.func(caller); // the caller itself is probe-able
      const lines = await objdump(toolchain.go, binary, caller);
      assert.ok(
        lines.some((l) => l.where.endsWith(body)),
        `${caller}'s code has instructions from ${body}`,
      );
    }
  });

  test(`${v}: main.square is partly inlined — it has a symbol, inlinedInto() names the callers, retSites() warns`, async () => {
    const exe = await Executable.open(binary);
    assert.ok(exe.func('main.square').size > 0);
    const callers = exe.inlinedInto('main.square');
    assert.ok(callers.length > 0);
    const body = serverLine('triggers.go', 'return n * n');
    for (const caller of callers) {
      const lines = await objdump(toolchain.go, binary, caller);
      assert.ok(
        lines.some((l) => l.where.endsWith(body)),
        `${caller}'s code has instructions from ${body}`,
      );
    }
    const { sites, warnings } = exe.retSites('main.square');
    assert.equal(sites.length, 1);
    assert.ok(
      warnings.some((w) => w.includes('also inlined into') && w.includes(callers[0])),
      warnings.join('\n'),
    );
    assert.deepEqual(exe.inlinedInto('main.demo'), [], 'main.demo is //go:noinline');
  });
}

test('a misspelt function gets the nearest names; runtime assembly functions resolve without .abi0', async () => {
  const exe = await Executable.open(builds[0].binary);
  assert.equal(
    labError(() => exe.func('main.demoo')).message,
    'no function main.demoo in server — did you mean main.demo?',
  );
  assert.match(labError(() => exe.func('classfy')).message, /did you mean main\.classify/);
  assert.match(labError(() => exe.func('main.zzzzzzzzzzzz')).message, /^no function main\.zzzzzzzzzzzz in server — /);
  assert.equal(exe.func('runtime.goexit').name, 'runtime.goexit.abi0');
  // A method written without its receiver's (*T) spelling is found anyway.
  const method = exe
    .functions()
    .map((f) => /^(bufio)\.\(\*(\w+)\)\.(ReadLine|ReadString|ReadByte)$/.exec(f.name))
    .find((m) => m);
  assert.ok(method, 'the server has a bufio.(*Reader) method');
  const [symbol, pkg, type, name] = method;
  assert.match(
    labError(() => exe.func(`${pkg}.${type}.${name}`)).message,
    new RegExp(`did you mean ${symbol.replace(/[.()*]/g, '\\$&')}[,?]`),
  );
});

test('a generic function resolves to its only instantiation, or the error lists its instantiations', async () => {
  const exe = await Executable.open(builds[0].binary);
  const byBase = new Map<string, string[]>();
  for (const f of exe.functions()) {
    const m = /^([^[]+)\[.*\]$/.exec(f.name);
    if (m && !m[1].includes('(')) byBase.set(m[1], [...(byBase.get(m[1]) ?? []), f.name]);
  }
  const single =
    [...byBase].find(([, v]) => v.length === 1) ?? assert.fail('no generic function with one instantiation');
  const several =
    [...byBase].find(([, v]) => v.length > 1) ?? assert.fail('no generic function with several instantiations');
  assert.equal(exe.func(single[0]).name, single[1][0]);
  const message = labError(() => exe.func(several[0])).message;
  assert.match(
    message,
    new RegExp(
      `^${several[0].replace(/[.*()[\]/]/g, '\\$&')} is generic: the compiler made ${several[1].length} copies`,
    ),
  );
  assert.ok(message.includes(several[1].sort()[0]), message);
});

test('a subclass opens as itself, so the tracer can extend Executable', async () => {
  class Traced extends Executable {
    probeCount = 0;
  }
  const exe = await Traced.open(builds[0].binary);
  assert.ok(exe instanceof Traced);
  assert.equal(exe.probeCount, 0);
  assert.equal(exe.func('main.demo').name, 'main.demo');
});
