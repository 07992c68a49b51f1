import { test } from 'node:test';
import assert from 'node:assert/strict';
import { runCrashMatrix, type CrashMatrix } from '../../engines/crash-matrix.ts';
import { goToolchain, oldGo } from '../../core/go.ts';
import { openProbes } from '../../bpf/ts/index.ts';
import { linksHeldBy } from '../../bpf/ts/index.ts';

const cell = (m: CrashMatrix, go: string, trigger: string, probe: string) => {
  const c = m.cells.find((c) => c.go === go && c.trigger === trigger && c.probe === probe);
  assert.ok(c, `no cell ${go} ${trigger} × ${probe}`);
  return c;
};

test('crash matrix on the current Go: uretprobe crashes or lies, uprobe and ret never do', async () => {
  const tc = await goToolchain();
  const m = await runCrashMatrix({ toolchains: [tc] });
  assert.ok(m.triggers.length >= 8, 'the server lists its triggers');
  assert.equal(m.cells.length, m.triggers.length * 4);
  const growth = cell(m, tc.version, 'stack-growth', 'uretprobe');
  assert.equal(growth.outcome, 'crash');
  assert.equal(growth.crashKind, 'unexpected-return-pc');
  assert.match(growth.signature!, /unexpected return pc for main\.demo called from 0x7fffffffe000/);
  const callers = cell(m, tc.version, 'callers', 'uretprobe');
  assert.equal(callers.outcome, 'survive-but-wrong');
  assert.match(callers.wrong!, /"frames=1" instead of "frames=\d+"/);
  for (const t of m.triggers) {
    const baseline = cell(m, tc.version, t.id, 'none');
    assert.equal(baseline.outcome, 'survive', `${t.id} unprobed`);
    for (const probe of ['uprobe', 'ret']) {
      const c = cell(m, tc.version, t.id, probe);
      assert.equal(c.outcome, 'survive', `${t.id} × ${probe}: ${c.signature ?? c.wrong}`);
      // A panic leaves the frame without executing any RET: ret mode reports no completed call for it.
      const completes = !(probe === 'ret' && t.id === 'panic-through');
      assert.equal(c.events >= 1, completes, `${t.id} × ${probe}: ${c.events} events`);
    }
  }
  for (const c of m.cells.filter((c) => c.outcome === 'crash')) {
    assert.ok(c.signature && c.crashKind, `crash cell ${c.trigger} × ${c.probe} carries its signature`);
  }
  assert.deepEqual(openProbes(), [], 'every probe closed');
  assert.deepEqual(linksHeldBy(process.pid), [], 'no BPF link held by this process');
});

test('crash matrix on Go 1.19: the old runtime crashes on stack growth and lies in runtime.Callers too', async () => {
  const tc = await goToolchain(oldGo);
  const m = await runCrashMatrix({
    toolchains: [tc],
    triggers: ['stack-growth', 'callers'],
    probes: ['none', 'uretprobe', 'ret'],
  });
  assert.equal(cell(m, tc.version, 'stack-growth', 'uretprobe').outcome, 'crash');
  assert.equal(cell(m, tc.version, 'callers', 'uretprobe').outcome, 'survive-but-wrong');
  assert.equal(cell(m, tc.version, 'stack-growth', 'ret').outcome, 'survive');
});
