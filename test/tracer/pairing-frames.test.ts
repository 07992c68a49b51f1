/**
 * Frame-exact pairing on the real kernel: ret mode keys each open call by goroutine and its depth
 * in bytes from the stack's top, so a panic that unwinds traced frames and a recover that returns
 * from an outer call of the same function never pair one call's return with another's entry.
 * The program reports what each call saw; the tracer must agree, call by call.
 *
 *   /shapes/recurse (the server's descend), 1 and 50 goroutines, Go 1.19 / 1.26 / 1.27
 *   encoding/json: a marshaller whose inner Marshal fails and the outer falls back (fixture)
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { copyFileSync, mkdirSync, mkdtempSync, rmSync, chmodSync } from 'node:fs';
import { createInterface } from 'node:readline';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ManagedServer } from '../../engines/managed-server.ts';
import { availableToolchains, buildServer, type GoToolchain } from '../../core/go.ts';
import { run } from '../../core/proc.ts';
import { at } from '../../core/paths.ts';
import { openExecutable, closeAllProbes, type TraceEvent } from '../../bpf/ts/index.ts';
import { closeAndCollect, sleep } from '../support/kernel.ts';

const dir = mkdtempSync(join(tmpdir(), 'lab-pairing-'));
chmodSync(dir, 0o755);
const builds: { toolchain: GoToolchain; server: string; fixture: string }[] = [];

before(async () => {
  for (const toolchain of await availableToolchains({ fetchNewer: true })) {
    const d = join(dir, toolchain.version);
    mkdirSync(d);
    const server = join(d, 'server');
    copyFileSync(await buildServer(toolchain), server);
    const fixture = join(d, 'stdlib');
    await run(toolchain.go, ['build', '-o', fixture, '.'], {
      cwd: at('test', 'support', 'fixtures', 'stdlib'),
      env: { ...process.env, CGO_ENABLED: '0', ...toolchain.env },
      capture: true,
    });
    builds.push({ toolchain, server, fixture });
  }
});
after(() => {
  closeAllProbes();
  rmSync(dir, { recursive: true, force: true });
});

interface Descent {
  goroutine: number;
  result: number | null;
  calls: { level: number; result: number; unwound: boolean }[];
}

const build = (which: string) => {
  const b = builds.find((x) => x.toolchain.version.startsWith(`go${which}`));
  assert.ok(b, `no build with Go ${which}`);
  return b;
};

/** What the tracer saw of one goroutine's descend calls, in the order they ended, as the program logs them. */
function tracedCalls(events: TraceEvent[], goid: string) {
  return events
    .filter((e) => e.goid === goid && (e.kind === 'call' || e.kind === 'unwound'))
    .map((e) => ({
      level: Number(e.args[0]),
      result: e.kind === 'call' ? Number(e.ret[0]) : undefined,
      unwound: e.kind === 'unwound',
      latency: e.latency_ns,
    }));
}

for (const which of ['1.19', '1.26', '1.27']) {
  for (const goroutines of [1, 50]) {
    test(`Go ${which}, ${goroutines} goroutine(s): descend(8) panics at level 3, level 6 recovers — every call its own arguments, the unwound ones reported as unwound`, async () => {
      const { server } = build(which);
      const exe = await openExecutable(server);
      await using srv = await ManagedServer.start({ binary: server });
      const probe = exe.returnProbes('main.descend', { pid: srv.pid });
      const res = await srv.get(`/shapes/recurse?depth=8&panicAt=3&recoverAt=6&goroutines=${goroutines}`);
      assert.equal(res.status, 200, res.body);
      const seen = JSON.parse(res.body) as { goroutines: Descent[] };
      // A second request on fresh goroutines: stale frames of the first must not leak into it.
      const again = JSON.parse((await srv.get('/shapes/recurse?depth=2&goroutines=1')).body) as {
        goroutines: Descent[];
      };
      await sleep(100);
      const events = await closeAndCollect(probe);
      assert.equal(probe.drops(), 0);
      for (const d of [...seen.goroutines, ...again.goroutines]) {
        const traced = tracedCalls(events, String(d.goroutine));
        // The program logs each call when it ends (its deferred logger); the tracer reports a call at its RET,
        // and unwound ones when the recovering call's RET finds them: same set, compared level by level.
        const byLevel = <T extends { level: number }>(xs: T[]) => [...xs].sort((a, b) => a.level - b.level);
        assert.deepEqual(
          byLevel(traced).map(({ level, result, unwound }) => ({ level, result, unwound })),
          byLevel(d.calls).map(({ level, result, unwound }) => ({
            level,
            result: unwound ? undefined : result,
            unwound,
          })),
          `goroutine ${d.goroutine}`,
        );
        const done = traced.filter((c) => !c.unwound);
        assert.ok(
          done.every((c) => c.latency !== null),
          'every completed call paired with its entry',
        );
        // Own latency: an outer call lasts longer than the calls inside it.
        const sorted = [...done].sort((a, b) => a.level - b.level);
        for (let i = 1; i < sorted.length; i++)
          assert.ok(
            sorted[i].latency! > sorted[i - 1].latency!,
            `level ${sorted[i].level} outlasts level ${sorted[i - 1].level}`,
          );
      }
      const recovering = events.filter((e) => e.kind === 'call' && Number(e.args[0]) === 6);
      assert.equal(recovering.length, goroutines);
      assert.ok(
        recovering.every((e) => e.unwound === 3),
        'the recovering call says 3 deeper calls were unwound (levels 5, 4, 3)',
      );
    });
  }

  // Go 1.27's encoding/json is built on encoding/json/v2: no marshalerEncoder to trace there.
  if (which !== '1.27')
    test(`Go ${which}: encoding/json — the outer marshalerEncoder pairs with its own entry after the inner one was unwound`, async () => {
      const { fixture } = build(which);
      const exe = await openExecutable(fixture);
      const child = spawn(fixture, ['-calls', '5'], { stdio: ['pipe', 'pipe', 'inherit'] });
      try {
        const lines = createInterface({ input: child.stdout! })[Symbol.asyncIterator]();
        const types = JSON.parse((await lines.next()).value) as { outer: string; inner: string };
        const json = exe.returnProbes('encoding/json.marshalerEncoder', { pid: child.pid });
        const parse = exe.returnProbes('strconv.ParseInt', { pid: child.pid });
        const submatch = exe.returnProbes('regexp.(*Regexp).FindStringSubmatch', { pid: child.pid });
        child.stdin!.write('go\n');
        const done = JSON.parse((await lines.next()).value) as { fallbacks: number };
        assert.equal(done.fallbacks, 5, 'the program fell back every time');
        await new Promise((r) => child.once('exit', r));
        await sleep(100);
        const events = (await closeAndCollect(json)).filter((e) => e.kind !== 'exit');
        // reflect.Value's first field is its type: the outer marshaller's calls carry outer's, the unwound ones inner's.
        const typeOf = (e: TraceEvent) => Object.values(e.args[1] as Record<string, unknown>)[0];
        const calls = events.filter((e) => e.kind === 'call');
        const unwound = events.filter((e) => e.kind === 'unwound');
        assert.equal(calls.length, 5);
        assert.equal(unwound.length, 5);
        assert.ok(
          calls.every((e) => typeOf(e) === types.outer && e.latency_ns !== null && e.unwound === 1),
          `completed calls are the outer ones: ${calls.map(typeOf)}`,
        );
        assert.ok(
          unwound.every((e) => typeOf(e) === types.inner),
          `unwound calls are the inner ones: ${unwound.map(typeOf)}`,
        );

        // Typed values in code the lab did not write.
        const parsed = (await closeAndCollect(parse)).filter((e) => e.kind === 'call');
        assert.deepEqual(
          parsed.slice(0, 2).map((e) => [e.args, e.ret]),
          [
            [
              ['-9223372036854775808', 10n, 64n],
              [-9223372036854775808n, null],
            ],
            [
              ['forty-two', 10n, 64n],
              [0n, '*strconv.NumError'],
            ],
          ],
        );
        const found = (await closeAndCollect(submatch)).filter((e) => e.kind === 'call');
        assert.equal(found.length, 5);
        assert.equal(found[0].args[1], 'hello');
        assert.deepEqual(found[0].ret, [{ len: 2n, cap: 2n }]);
      } finally {
        child.kill('SIGKILL');
      }
    });
}

test("64 goroutines 1000 calls deep at once: the bounded maps drop entries, the tracer counts every frame it lost and pairs no return with another call's entry", async () => {
  const { server } = build('1.26');
  const exe = await openExecutable(server);
  await using srv = await ManagedServer.start({ binary: server });
  const probe = exe.returnProbes('main.descend', { pid: srv.pid, queueLimit: 200_000 });
  const res = await srv.get('/shapes/recurse?depth=1000&goroutines=64', 120000);
  assert.equal(res.status, 200, res.body);
  await sleep(200);
  const calls = (await closeAndCollect(probe)).filter((e) => e.kind === 'call');
  assert.equal(probe.drops(), 0);
  assert.equal(calls.length, 64 * 1001, 'every return seen');
  const paired = calls.filter((e) => e.latency_ns !== null);
  // descend(level) returns level when nothing panics: a return paired with another call's entry would show it.
  assert.ok(
    paired.every((e) => e.args[0] === e.ret[0]),
    'every paired return carries its own entry',
  );
  const unpaired = calls.length - paired.length;
  assert.equal(unpaired, probe.framesLost!(), `unpaired returns (${unpaired}) are the frames counted as lost`);
  assert.ok(unpaired > 0, 'the load went past what the maps hold (16384 open frames)');
});
