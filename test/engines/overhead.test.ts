/**
 * The overhead measurement (engines/overhead.ts) on the real kernel, run small, and notebook 07's
 * recorded run of it: both must show what a probe hit costs in the right order — no probe < entry
 * uprobe ≤ RET-site probes (two hits per call) — or the numbers contradict themselves.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { at } from '../../core/paths.ts';
import { measureOverhead, type OverheadRow } from '../../engines/overhead.ts';
import { linksHeldBy, openProbes } from '../../bpf/ts/index.ts';

test('measureOverhead, small: no probe < uprobe ≤ RET-site probes per call, medians inside their spread, every event delivered', async () => {
  const m = await measureOverhead({ calls: 2000, reps: 2, rounds: 2 });
  const row = (p: string): OverheadRow => {
    const r = m.rows.find((x) => x.probe === p);
    assert.ok(r, `a row for ${p}`);
    assert.equal(r.crashed, undefined, `${p} did not kill the loop`);
    assert.equal(r.samples.length, 4, `${p}: 2 rounds × 2 runs`);
    assert.ok(
      r.minNs <= r.medianNs && r.medianNs <= r.maxNs,
      `${p}: median ${r.medianNs} within ${r.minNs}–${r.maxNs}`,
    );
    return r;
  };
  const [none, uprobe, uretprobe, ret] = ['none', 'uprobe', 'uretprobe', 'ret'].map(row);
  assert.ok(none.medianNs < uprobe.medianNs, `no probe ${none.medianNs} ns < uprobe ${uprobe.medianNs} ns`);
  assert.ok(uprobe.medianNs <= ret.medianNs, `uprobe ${uprobe.medianNs} ns ≤ RET-site ${ret.medianNs} ns`);
  assert.ok(none.medianNs < uretprobe.medianNs, `no probe < uretprobe ${uretprobe.medianNs} ns`);
  for (const r of [uprobe, uretprobe, ret]) {
    assert.ok(r.expectedEvents > 0, `${r.probe} expects events`);
    assert.equal(
      r.events + r.drops,
      r.expectedEvents,
      `${r.probe}: ${r.events} delivered + ${r.drops} dropped of ${r.expectedEvents}`,
    );
  }
  assert.deepEqual(openProbes(), [], 'every probe closed');
  assert.deepEqual(linksHeldBy(process.pid), [], 'no BPF link held by this process');
  const children = readFileSync(`/proc/${process.pid}/task/${process.pid}/children`, 'utf8')
    .trim()
    .split(/\s+/)
    .filter(Boolean);
  const loops = children.filter((pid) => {
    try {
      return readFileSync(`/proc/${pid}/comm`, 'utf8').trim() === 'goloop';
    } catch {
      return false; // already gone
    }
  });
  assert.deepEqual(loops, [], 'the Go loop was stopped');
});

/** The recorded overhead table of notebook 07: probe label → µs per call (median). */
function recordedOverhead(): Map<string, number> {
  const nb = JSON.parse(readFileSync(at('notebooks', '07-crash-matrix.ipynb'), 'utf8')) as {
    cells: { cell_type: string; source: string | string[]; outputs?: { data?: Record<string, string | string[]> }[] }[];
  };
  const text = (s: string | string[]) => (Array.isArray(s) ? s.join('') : s);
  const cell = nb.cells.find((c) => c.cell_type === 'code' && text(c.source).includes('probeOverhead('));
  assert.ok(cell, 'notebook 07 has a cell that calls lab.probeOverhead');
  const html = (cell.outputs ?? [])
    .map((o) => text(o.data?.['text/html'] ?? ''))
    .find((h) => h.includes('µs per call'));
  assert.ok(html, 'that cell recorded its overhead table (./lab notebooks --update 07-crash-matrix)');
  const rows = new Map<string, number>();
  for (const [, tr] of html.matchAll(/<tr>(.*?)<\/tr>/g)) {
    const tds = [...tr.matchAll(/<td[^>]*>(.*?)<\/td>/g)].map((m) => m[1]);
    if (tds.length >= 2) rows.set(tds[0], Number(tds[1]));
  }
  return rows;
}

test("notebook 07's recorded overhead table: no probe < uprobe ≤ RET-site probes per call", () => {
  const rows = recordedOverhead();
  const [none, uprobe, ret] = ['no probe', 'uprobe (entry)', 'RET-site probes'].map((label) => {
    const v = rows.get(label);
    assert.ok(
      v !== undefined && Number.isFinite(v),
      `the recorded table has a number for ${label} (rows: ${[...rows.keys()].join(', ')})`,
    );
    return v;
  });
  assert.ok(none < uprobe, `recorded: no probe ${none} µs < uprobe ${uprobe} µs`);
  assert.ok(uprobe <= ret, `recorded: uprobe ${uprobe} µs ≤ RET-site ${ret} µs`);
});
