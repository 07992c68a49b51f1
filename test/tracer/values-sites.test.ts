/**
 * Shapes the tracer used to give up on, on the real kernel: a function the compiler inlined away
 * is traced at its inlined copies' entries (DW_TAG_inlined_subroutine), and its returns are refused
 * with the reason; a function that leaves by a tail jump is return-traced at the jump.
 */
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, chmodSync } from 'node:fs';
import { createInterface } from 'node:readline';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ManagedServer } from '../../engines/managed-server.ts';
import { availableToolchains, buildServer } from '../../core/go.ts';
import { run } from '../../core/proc.ts';
import { at } from '../../core/paths.ts';
import { openExecutable, closeAllProbes, type Probe, type TraceEvent } from '../../bpf/ts/index.ts';
import { formatCall } from '../../bpf/ts/values.ts';
import { closeAndCollect, sleep } from '../support/kernel.ts';

const dir = mkdtempSync(join(tmpdir(), 'lab-sites-'));
chmodSync(dir, 0o755);
after(() => {
  closeAllProbes();
  rmSync(dir, { recursive: true, force: true });
});

/** The probe's events without the traced process's exit. */
const callsOf = async (probe: Probe): Promise<TraceEvent[]> =>
  (await closeAndCollect(probe)).filter((e) => e.kind !== 'exit');

for (const toolchain of await availableToolchains({ fetchNewer: true })) {
  const v = toolchain.version;

  test(`${v}: main.addOne, inlined everywhere, is traced at every inlined copy: the count is how often the copies ran`, async () => {
    const binary = await buildServer(toolchain);
    const exe = await openExecutable(binary);
    const copies = exe.inlinedCopies('main.addOne');
    assert.ok(
      copies.some((c) => c.caller === 'main.inlinedCalls'),
      `copies: ${copies.map((c) => c.caller)}`,
    );
    await using srv = await ManagedServer.start({ binary });
    const probe = exe.uprobe('main.addOne', { pid: srv.pid });
    const res = JSON.parse((await srv.get('/shapes/inlined?n=5')).body) as { calls: number; callSites: number };
    await sleep(50);
    const events = await callsOf(probe);
    assert.ok(
      events.every((e) => e.inlined_into === 'main.inlinedCalls' && e.args.length === 0),
      events.map(formatCall).join('\n'),
    );
    // inlinedCalls has one copy in its loop and, per DWARF, one more: the compiler folded the last two
    // source calls into one instruction (LEAQ 2(CX)), so the binary runs n + 1 copies for the program's n + 2 calls.
    const inLoop = copies.filter((c) => c.caller === 'main.inlinedCalls').length;
    assert.equal(inLoop, 2, 'one copy in the loop, one for the folded trailing calls');
    assert.equal(
      events.length,
      res.calls - 1,
      `${events.length} entries traced for the program's own ${res.calls} calls`,
    );
    assert.match(
      formatCall(events[0]),
      /^→ main\.addOne \(inlined into main\.inlinedCalls: its arguments are not in registers\)  g\d+$/,
    );
    assert.throws(
      () => exe.returnProbes('main.addOne', { pid: srv.pid }),
      /inlined it everywhere.*returns of inlined code cannot be probed.*trace the entries of its 3 inlined copies with a uprobe/,
    );
  });

  test(`${v}: a wrapper that leaves by a tail jump (main.(*derived).Name) is return-traced at the jump`, async () => {
    const fixture = join(dir, `stdlib-${v}`);
    await run(toolchain.go, ['build', '-o', fixture, '.'], {
      cwd: at('test', 'support', 'fixtures', 'stdlib'),
      env: { ...process.env, CGO_ENABLED: '0', ...toolchain.env },
      capture: true,
    });
    const exe = await openExecutable(fixture);
    const { sites, tailCalls } = exe.retSites('main.(*derived).Name');
    assert.deepEqual([sites.length, tailCalls.map((t) => t.target)], [0, ['main.(*base).Name']]);
    const child = spawn(fixture, ['-calls', '3'], { stdio: ['pipe', 'pipe', 'inherit'] });
    try {
      const lines = createInterface({ input: child.stdout! })[Symbol.asyncIterator]();
      await lines.next();
      const probe = exe.returnProbes('main.(*derived).Name', { pid: child.pid });
      child.stdin!.write('go\n');
      assert.equal((JSON.parse((await lines.next()).value) as { names: number }).names, 3);
      await new Promise((r) => child.once('exit', r));
      await sleep(50);
      const calls = await callsOf(probe);
      assert.equal(calls.length, 3);
      assert.ok(
        calls.every(
          (e) =>
            e.kind === 'call' && e.latency_ns !== null && e.tail_call === 'main.(*base).Name' && e.ret.length === 0,
        ),
        calls.map(formatCall).join('\n'),
      );
      // Go 1.19 describes the wrapper without its parameter.
      assert.match(
        formatCall(calls[0]),
        /^main\.\(\*derived\)\.Name\((\w+=0x[0-9a-f]+)?\) → tail call to main\.\(\*base\)\.Name \(its results\)  [\d.]+µs  g1  RET#0$/,
      );
    } finally {
      child.kill('SIGKILL');
    }
  });
}
