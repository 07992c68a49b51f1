// The committed agenda with the real notebooks: rehearsal replays their recordings, live mode runs the crash for real.
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { startWorkshop, type RunningWorkshop } from '../../workshop/start.ts';
import { linksHeldBy } from '../../bpf/ts/index.ts';
import { listProcesses } from '../../workshop/processes.ts';
import type { ResetReport } from '../../workshop/reset.ts';

// The crash cell by its id: other cells (exercises) come and go around it.
const crashCell = (ws: RunningWorkshop) =>
  ws.agenda.notebookCells.get('03-uretprobe-crash.ipynb')!.find((c) => c.id === '03-11')!.key;
const running: RunningWorkshop[] = [];
after(async () => {
  for (const w of running) await w.stop();
});

type CellView = { status: string; outputs: { text?: string; data?: Record<string, string> }[] };
const outputText = (c: CellView) =>
  c.outputs.map((o) => o.text ?? o.data?.['text/plain'] ?? o.data?.['text/html'] ?? '').join('\n');

async function runTo(ws: RunningWorkshop, key: string) {
  const res = await fetch(`${ws.server.url}/instructor/run-to?wait=1`, {
    method: 'POST',
    headers: { Authorization: `Bearer ${ws.server.token}`, 'Content-Type': 'application/json' },
    body: JSON.stringify({ key }),
  });
  assert.equal(res.status, 200, await res.clone().text());
  const { results } = (await res.json()) as { results: { status: string }[] };
  const state = (await (await fetch(`${ws.server.url}/attend/state`)).json()) as { cells: Record<string, CellView> };
  return { results, cells: state.cells };
}

test('rehearsal: "run to here" on the crash section replays the recorded crash to the room', {
  timeout: 60_000,
}, async () => {
  const ws = await startWorkshop({ rehearsal: true, site: false });
  running.push(ws);
  const { results, cells } = await runTo(ws, crashCell(ws));
  assert.ok(results.length >= 5, 'every code cell up to the crash cell');
  assert.match(
    outputText(cells[crashCell(ws)]),
    /unexpected return pc for main\.demo/,
    'the recording holds the crash',
  );
  await ws.stop();
});

test('live: the crash section runs for real on the tslab kernel, and Reset lab leaves nothing of ours', {
  timeout: 180_000,
}, async (t) => {
  const ws = await startWorkshop({ site: false });
  running.push(ws);
  assert.equal(ws.mode, 'live', `rehearsal instead of live: ${ws.rehearsalReason}`);
  const { results, cells } = await runTo(ws, crashCell(ws));
  assert.deepEqual(
    results.map((r) => r.status),
    results.map(() => 'ok'),
    Object.entries(cells)
      .map(([k, c]) => `${k} ${c.status}: ${outputText(c).slice(0, 300)}`)
      .join('\n'),
  );
  assert.match(outputText(cells[crashCell(ws)]), /unexpected return pc for main\.demo called from 0x7fffffffe000/);

  const res = await fetch(`${ws.server.url}/instructor/reset`, {
    method: 'POST',
    headers: { Authorization: `Bearer ${ws.server.token}` },
  });
  const report = (await res.json()) as ResetReport;
  for (const line of report.steps) t.diagnostic(line);
  assert.equal(report.ok, true);
  const ours = listProcesses().filter((p) => p.marker === ws.marker);
  assert.deepEqual(
    ours.flatMap((p) => linksHeldBy(p.pid)),
    [],
  );
  await ws.stop();
});
