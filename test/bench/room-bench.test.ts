/**
 * The room benchmark's driver on a real room of one attendee, notebook 03 only (a room start costs
 * ~30 s): it returns numbers a table can hold, and leaves nothing behind. Numbers, never timings judged.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { labAccounts } from '../../engines/services/accounts.ts';
import { linksHeldBy } from '../../bpf/ts/index.ts';
import { roomBench } from '../../bench/room.ts';
import { startHandsOn } from '../../workshop/hands-on.ts';

test('the room bench measures a one-attendee room running notebook 03 through the hub', {
  timeout: 600_000,
}, async () => {
  const r = await roomBench(startHandsOn, 1, () => {}, ['03-uretprobe-crash.ipynb']);
  assert.equal(r.failed_cells, 0, r.note);
  assert.ok(r.crashed_and_traced, 'the attendee saw their server crash under the uretprobe');
  assert.ok(r.events > 0 && r.events_min_per_attendee > 0, `events delivered through the probe service: ${r.events}`);
  assert.ok(r.memory_peak_mb > 0 && r.pids_peak > 0, `sandbox usage read: ${r.memory_peak_mb} MB, ${r.pids_peak} pids`);
  assert.ok(r.cells > 0 && r.cell_p50_ms > 0 && r.cell_p99_ms >= r.cell_p50_ms);
  assert.ok(Number.isFinite(r.first_output_ms) && r.first_output_ms > 0);
  assert.ok(r.cpu_s_per_attendee > 0 && r.host_cpu_busy > 0);
  assert.deepEqual(
    labAccounts().filter((a) => a.room?.startsWith(`${process.pid}-`)),
    [],
    'no attendee account of the rooms this process made left',
  );
  assert.equal(linksHeldBy(process.pid).length, 0, 'no link left in this process');
});
