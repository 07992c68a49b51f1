/**
 * Typed values on the real kernel, for the server built with every Go the lab supports (1.26,
 * Debian's 1.19, 1.27.3 from the module proxy): each shape endpoint's function traced in ret
 * mode, its decoded values compared with what the program itself computed.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { copyFileSync, mkdirSync, mkdtempSync, rmSync, chmodSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ManagedServer } from '../../engines/managed-server.ts';
import { availableToolchains, buildServer, type GoToolchain } from '../../core/go.ts';
import { openExecutable, closeAllProbes, type TraceEvent, type TracedExecutable } from '../../bpf/ts/index.ts';
import { eventJson, formatCall, VALUE_BUDGET_DEFAULT } from '../../bpf/ts/values.ts';
import { sleep, closeAndCollect } from '../support/kernel.ts';

const dir = mkdtempSync(join(tmpdir(), 'lab-values-'));
chmodSync(dir, 0o755);
const builds: { toolchain: GoToolchain; binary: string }[] = [];

before(async () => {
  const toolchains = await availableToolchains({ fetchNewer: true });
  for (const toolchain of toolchains) {
    const binary = join(dir, toolchain.version, 'server');
    mkdirSync(join(dir, toolchain.version));
    copyFileSync(await buildServer(toolchain), binary);
    builds.push({ toolchain, binary });
  }
});
after(() => {
  closeAllProbes();
  rmSync(dir, { recursive: true, force: true });
});

async function traced(
  exe: TracedExecutable,
  srv: ManagedServer,
  symbol: string,
  paths: string[],
): Promise<TraceEvent[]> {
  const probe = exe.returnProbes(symbol, { pid: srv.pid });
  for (const p of paths) assert.equal((await srv.get(p)).status, 200, p);
  await sleep(50);
  return (await closeAndCollect(probe)).filter((e) => e.kind === 'call');
}

test('every Go the lab supports is built for these tests (1.19, 1.26, 1.27)', () => {
  const versions = builds.map((b) => b.toolchain.version.replace(/^go(\d+\.\d+).*/, '$1')).sort();
  assert.deepEqual(versions, ['1.19', '1.26', '1.27']);
});

for (const which of ['1.19', '1.26', '1.27']) {
  const build = () => {
    const b = builds.find((x) => x.toolchain.version.startsWith(`go${which}`));
    assert.ok(b, `no server built with Go ${which}`);
    return b;
  };

  test(`Go ${which}: ints, strings, bools, int64 extremes, errors — exactly the function's values`, async () => {
    const { binary } = build();
    const exe = await openExecutable(binary);
    await using srv = await ManagedServer.start({ binary });

    const [demo] = await traced(exe, srv, 'main.demo', ['/?arg=42']);
    assert.deepEqual(demo.args, [42n]);
    assert.deepEqual(demo.ret, [42n], 'one result, not two registers');
    assert.deepEqual(
      demo.params?.map((p) => [p.name, p.type]),
      [['arg', 'int']],
    );
    assert.match(formatCall(demo), /^main\.demo\(arg=42\) = 42 {2}[\d.]+µs {2}g\d+ {2}RET#\d+$/);

    const [words] = await traced(exe, srv, 'main.wordStats', ['/words?s=hello%20big%20world']);
    assert.deepEqual([words.args, words.ret], [['hello big world'], [3n, 4n]]);
    assert.ok(formatCall(words).startsWith('main.wordStats(s="hello big world") = (3, 4)  '), formatCall(words));

    const [long] = await traced(exe, srv, 'main.wordStats', ['/shapes/long?n=5000']);
    assert.equal(long.params?.[0].len, 5000, 'the full length');
    assert.equal(long.params?.[0].truncated, true, 'marked as cut');
    const prefix = String(long.args[0]);
    assert.ok(
      prefix.length >= 64 && prefix.length < VALUE_BUDGET_DEFAULT,
      `the first bytes, within the budget: ${prefix.length}`,
    );
    assert.equal(prefix, 'tracing go safely with ebpf '.repeat(20).slice(0, prefix.length), 'the first bytes');
    assert.match(formatCall(long), /\(s="tracing go safely.*"… \(5000 bytes\)\)/);

    const bools = await traced(exe, srv, 'main.isEven', ['/shapes/bool?n=3', '/shapes/bool?n=4']);
    assert.deepEqual(
      bools.map((e) => [e.args[0], e.ret[0]]),
      [
        [3n, false],
        [4n, true],
      ],
    );

    const ints = await traced(exe, srv, 'main.echo64', [
      '/shapes/int64?v=9223372036854775807',
      '/shapes/int64?v=-5',
      '/shapes/int64?v=-9223372036854775808',
    ]);
    assert.deepEqual(
      ints.map((e) => e.ret[0]),
      [9223372036854775807n, -5n, -9223372036854775808n],
    );
    const json = JSON.parse(eventJson(ints[0]));
    assert.deepEqual(
      [json.args, json.ret],
      [['9223372036854775807'], ['9223372036854775807']],
      'decimal strings in JSON, exact',
    );

    const errors = await traced(exe, srv, 'main.mayFail', ['/shapes/error?fail=0', '/shapes/error?fail=1']);
    assert.deepEqual(
      errors.map((e) => [e.args[0], e.ret[0]]),
      [
        [false, null],
        [true, '*main.shapeError'],
      ],
    );
    assert.equal(errors[0].results?.[0].type, 'error');
    assert.match(formatCall(errors[1]), /^main\.mayFail\(fail=true\) = \*main\.shapeError /);
  });

  test(`Go ${which}: a float argument next to an int: the int exact, the float said to be out of reach`, async () => {
    const { binary } = build();
    const exe = await openExecutable(binary);
    await using srv = await ManagedServer.start({ binary });
    const [e] = await traced(exe, srv, 'main.scale', ['/shapes/float?x=1.5&k=3']);
    assert.equal(e.args[1], 3n);
    assert.equal(e.params?.[0].type, 'float64');
    assert.match(e.params?.[0].unavailable ?? '', /X0–X14/, 'the reason a float register cannot be shown');
  });

  test(`Go ${which}: the goroutine id of a traced call is the one the runtime reports`, async () => {
    const { binary } = build();
    const exe = await openExecutable(binary);
    await using srv = await ManagedServer.start({ binary });
    const probe = exe.returnProbes('main.tracedGoid', { pid: srv.pid });
    const seen: number[] = [];
    for (let i = 0; i < 3; i++)
      seen.push((JSON.parse((await srv.get(`/shapes/goid?x=${i}`)).body) as { goroutine: number }).goroutine);
    await sleep(50);
    const calls = (await closeAndCollect(probe)).filter((e) => e.kind === 'call');
    assert.deepEqual(
      calls.map((e) => e.goid),
      seen.map(String),
    );
    assert.deepEqual(
      calls.map((e) => e.ret[0]),
      seen.map((g, i) => BigInt(g + i)),
    );
    assert.ok(
      calls.every((e) => /^0x[0-9a-f]+$/.test(e.goroutine)),
      'the g pointer stays available',
    );
  });
}

test('raw probes (explicit register counts) keep registers as numbers', async () => {
  const { binary } = builds[0];
  const exe = await openExecutable(binary);
  await using srv = await ManagedServer.start({ binary });
  const probe = exe.returnProbes('main.wordStats', { pid: srv.pid, args: 2, rets: 2, stringArg: 0 });
  assert.equal((await srv.get('/words?s=hello')).status, 200);
  await sleep(50);
  const [e] = (await closeAndCollect(probe)).filter((x) => x.kind === 'call');
  assert.equal(e.str, 'hello');
  assert.deepEqual([e.args[1], e.ret], [5, [1, 2]]);
  assert.equal(e.params, undefined);
});
