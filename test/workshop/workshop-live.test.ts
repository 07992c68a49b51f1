// Workshop instructor mode, live: cells run on Jupyter's tslab kernel, a real uretprobe crash, reset proven by bpftool.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium, type Browser } from 'playwright-core';
import { startWorkshop, type RunningWorkshop } from '../../workshop/start.ts';
import { bpftoolView, linksHeldBy } from '../../bpf/ts/index.ts';
import { listProcesses } from '../../workshop/processes.ts';
import type { ResetReport } from '../../workshop/reset.ts';
import { at } from '../../core/paths.ts';
import { chromiumOptions, openSocket, workshopFixture } from '../support/workshop-fixture.ts';

const proofFile = join(tmpdir(), `lab-workshop-proof-${process.pid}`);
// Cells reach the lab's TypeScript modules through tsx's CommonJS API (tslab compiles cells to CommonJS).
const labImport = `const lab = (p: string) => require('tsx/cjs/api').require('${at()}/' + p, '${at('notebooks', 'cell.ts')}');`;
const strayBin = join(tmpdir(), `lab-workshop-stray-${process.pid}`);
const crashCell = `${labImport}
const { openExecutable } = lab('bpf/ts/index.ts');
const { ManagedServer } = lab('engines/managed-server.ts');
const fs = require('fs');
// A private copy: other people's servers run server/server, a uretprobe on it must never touch them.
const bin = '${join(tmpdir(), 'lab-workshop-server-')}' + process.pid;
fs.copyFileSync('${at('server', 'server')}', bin);
fs.chmodSync(bin, 0o755);
const victim = await ManagedServer.start({ binary: bin });
const exe = await openExecutable(bin);
exe.uretprobe('main.demo', { pid: victim.pid });
await victim.get('/?arg=2000');
const exit = await victim.exited;
console.log('victim exited:', exit.signal ?? 'exit ' + exit.code);
console.log(exit.stderr.split('\\n').filter((l: string) => /fatal|unexpected return pc|SIG/.test(l)).slice(0, 3).join('\\n'));
// A second server that stays up with a probe attached: reset has to clean that up.
const survivor = await ManagedServer.start({ binary: bin });
exe.uretprobe('main.demo', { pid: survivor.pid });
fs.unlinkSync(bin);
console.log('survivor pid', survivor.pid);
// A cell that bypasses the helpers: a detached server and a detached bpftrace on it. No exit handler knows them.
const { spawn } = require('child_process');
const strayBin = '${strayBin}';
fs.copyFileSync('${at('server', 'server')}', strayBin);
fs.chmodSync(strayBin, 0o755);
const stray = spawn(strayBin, ['-addr', '127.0.0.1:0'], { detached: true, stdio: 'ignore' });
stray.unref();
const tracer = spawn('bpftrace', ['-p', String(stray.pid), '-e', 'uprobe:' + strayBin + ':main.demo { @calls = count(); }'], { detached: true, stdio: 'ignore' });
tracer.unref();
console.log('stray pid', stray.pid, 'bpftrace pid', tracer.pid);`;

// Real probe events stream out while the cell still runs; it ends when the test creates the release file.
const releaseFile = join(tmpdir(), `lab-workshop-release-${process.pid}`);
const eventsCell = `${labImport}
const { openExecutable } = lab('bpf/ts/index.ts');
const { ManagedServer } = lab('engines/managed-server.ts');
const fs = require('fs');
const bin = '${join(tmpdir(), 'lab-workshop-server-')}' + process.pid + '-events';
fs.copyFileSync('${at('server', 'server')}', bin);
fs.chmodSync(bin, 0o755);
const srv = await ManagedServer.start({ binary: bin });
const probe = (await openExecutable(bin)).uprobe('main.demo', { pid: srv.pid });
(async () => { for await (const ev of probe) console.log('event', ev.kind, ev.symbol, 'arg', ev.args[0]); })();
for (const n of [11, 12, 13]) await srv.get('/?arg=' + n);
while (!fs.existsSync('${releaseFile}')) await new Promise((r) => setTimeout(r, 100));
probe.close();
await srv.stop();
fs.unlinkSync(bin);
console.log('events cell done');`;

const fixture = workshopFixture([
  { id: 'proof', source: `require('fs').writeFileSync(process.env.WORKSHOP_PROOF_FILE!, 'this cell ran');` },
  { id: 'hello', source: `console.log('live hello', 6 * 7);` },
  { id: 'crash', source: crashCell },
  { id: 'events', source: eventsCell },
  // Spins for a minute unless interrupted: a broken interrupt fails the test instead of hanging it.
  { id: 'spin', source: `console.log('spin' + 'ning'); const end = Date.now() + 60_000; while (Date.now() < end) {}` },
  // A live table (the helpers' liveOutput: display_data with a display id) that a later cell updates.
  {
    id: 'table',
    source: `${labImport}\n(globalThis as any).liveTable = lab('kernel-helpers/display.ts').liveOutput();\n(globalThis as any).liveTable.html('<table><caption>live rows 1</caption></table>');`,
  },
  {
    id: 'grow',
    source: `(globalThis as any).liveTable.html('<table><caption>live rows 2</caption></table>');\nconsole.log('grown');`,
  },
]);
const key = (id: string) =>
  `fixture.ipynb#${['proof', 'hello', 'crash', 'events', 'spin', 'table', 'grow'].indexOf(id) + 1}`;

let ws: RunningWorkshop;
let browser: Browser | undefined;

/** The instructor console and an attendee page, each in its own browser context, both connected. */
async function bothViews() {
  browser = await chromium.launch(chromiumOptions);
  const ins = await (await browser.newContext()).newPage();
  const att = await (await browser.newContext()).newPage();
  await ins.goto(ws.server.instructorUrl);
  await att.goto(ws.server.attendeeUrl);
  await ins.waitForSelector('body[data-conn="connected"]');
  await att.waitForSelector('body[data-conn="connected"]');
  return { ins, att };
}

before(async () => {
  process.env.WORKSHOP_PROOF_FILE = proofFile; // the kernel inherits it through Jupyter
  rmSync(proofFile, { force: true });
  ws = await startWorkshop({ agendaPath: fixture.agendaPath, site: false });
});

after(async () => {
  await browser?.close();
  await ws?.stop();
  rmSync(fixture.dir, { recursive: true, force: true });
  rmSync(proofFile, { force: true });
  rmSync(releaseFile, { force: true });
  rmSync(strayBin, { force: true });
});

const post = (path: string, body: unknown, headers: Record<string, string> = {}) =>
  fetch(`${ws.server.url}${path}`, {
    method: 'POST',
    headers: { 'Content-Type': 'application/json', ...headers },
    body: JSON.stringify(body),
  });
const asInstructor = () => ({ Authorization: `Bearer ${ws.server.token}` });
async function run(id: string): Promise<{ status: string; executionCount: number | null }> {
  const res = await post('/instructor/run?wait=1', { key: key(id) }, asInstructor());
  assert.equal(res.status, 200, await res.clone().text());
  return ((await res.json()) as { results: { status: string; executionCount: number | null }[] }).results[0];
}

test('live mode: the workshop runs on the tslab kernel of a real Jupyter server', () => {
  assert.equal(ws.mode, 'live', `expected live mode, got rehearsal: ${ws.rehearsalReason}`);
  assert.ok(ws.jupyter?.token, 'the workshop server holds the Jupyter token');
});

test('an attendee request to execute, with or without a forged token, is refused and nothing runs', {
  timeout: 120_000,
}, async () => {
  const first = await run('hello');
  assert.equal(first.status, 'ok');
  const count = first.executionCount!;

  assert.equal((await post('/instructor/run', { key: key('proof') })).status, 401);
  assert.equal(
    (await post('/instructor/run-to', { key: key('proof') }, { Authorization: 'Bearer forged' })).status,
    403,
  );
  assert.equal(
    (await post(`/instructor/run?token=${'0'.repeat(ws.server.token.length)}`, { key: key('proof') })).status,
    403,
  );
  // The Jupyter token is no key to the workshop either.
  assert.equal(
    (await post('/instructor/run', { key: key('proof') }, { Authorization: `Bearer ${ws.jupyter!.token}` })).status,
    403,
  );
  assert.equal((await post('/api/kernels', { name: 'tslab' })).status, 404, 'Jupyter is not proxied');
  const wsBase = ws.server.url.replace('http', 'ws');
  assert.deepEqual(await (await openSocket(`${wsBase}/instructor/ws?token=forged`)).opened, { ok: false, status: 403 });
  const attendee = await openSocket(`${wsBase}/attend/ws`);
  assert.deepEqual(await attendee.opened, { ok: true });
  attendee.ws.send(JSON.stringify({ type: 'run', key: key('proof') }));
  assert.equal((await attendee.closed).code, 1008);

  assert.equal(existsSync(proofFile), false, 'the proof cell did not run');
  const next = await run('hello');
  assert.equal(next.executionCount, count + 1, "the kernel's execution_count moved only by the instructor's own run");

  // With the instructor's token the very same request does run it: the check above could have failed.
  assert.equal((await run('proof')).status, 'ok');
  assert.equal(existsSync(proofFile), true);
});

test('instructor runs a cell in the console: the attendee page shows the live output', {
  timeout: 120_000,
}, async () => {
  const { ins, att } = await bothViews();
  assert.equal(await att.getAttribute('body', 'data-mode'), 'live');
  await ins.click('#sections li[data-id="one"] a');
  await att.waitForFunction(() => document.body.dataset.section === 'one', null, { timeout: 1000 });
  const cell = `.cell[data-key="${key('hello')}"]`;
  const countBefore = await att.textContent(`${cell} .prompt`);
  await ins.click(`${cell} button.run`);
  await att.waitForFunction(
    ([sel, before]) =>
      document.querySelector(`${sel} .prompt`)?.textContent !== before &&
      document.querySelector(sel)?.getAttribute('data-status') === 'ok',
    [cell, countBefore] as const,
    { timeout: 30_000 },
  );
  assert.match((await att.textContent(`${cell} .outputs`))!, /live hello 42/);
  await browser!.close();
  browser = undefined;
});

test('a display updated by a later cell changes in place in both views (update_display_data with its display id)', {
  timeout: 120_000,
}, async () => {
  const { ins, att } = await bothViews();
  await post('/instructor/step', { section: 0, cell: key('table') }, asInstructor());
  // HTML outputs render in sandboxed frames: their markup is in srcdoc, not in the page's text.
  const html = (p: typeof att, sel: string) =>
    p.evaluate(
      (s) =>
        Array.from(document.querySelectorAll(`${s} iframe`))
          .map((f) => f.getAttribute('srcdoc'))
          .join('\n'),
      sel,
    );
  const until = async (p: typeof att, sel: string, re: RegExp) => {
    for (let i = 0; i < 100 && !re.test(await html(p, sel)); i++) await new Promise((r) => setTimeout(r, 100));
    assert.match(await html(p, sel), re);
  };
  const tableSel = `.cell[data-key="${key('table')}"] .outputs`;
  assert.equal((await run('table')).status, 'ok');
  for (const p of [ins, att]) await until(p, tableSel, /live rows 1/);
  assert.equal((await run('grow')).status, 'ok');
  for (const p of [ins, att]) {
    await until(p, tableSel, /live rows 2/);
    assert.doesNotMatch(await html(p, tableSel), /live rows 1/, 'the table was replaced, not appended to');
    assert.equal(await p.locator(`${tableSel} > *`).count(), 1, 'one output in the table cell');
    const grow = `.cell[data-key="${key('grow')}"] .outputs`;
    assert.doesNotMatch(await html(p, grow), /live rows/, 'the update did not land in the cell that sent it');
    assert.match((await p.textContent(grow))!, /grown/);
  }
  // A late joiner gets the updated table from the server's copy of the outputs.
  const state = (await (await fetch(`${ws.server.url}/attend/state`)).json()) as {
    cells: Record<string, { outputs: { data?: Record<string, string> }[] }>;
  };
  assert.deepEqual(
    state.cells[key('table')].outputs.map((o) => /live rows (\d)/.exec(o.data?.['text/html'] ?? '')?.[1]),
    ['2'],
  );
  await browser!.close();
  browser = undefined;
});

test('the live event stream reaches the attendee while the cell is still running; interrupt stops a runaway cell', {
  timeout: 120_000,
}, async () => {
  browser = await chromium.launch(chromiumOptions);
  const att = await (await browser.newContext()).newPage();
  await att.goto(ws.server.attendeeUrl);
  await att.waitForSelector('body[data-conn="connected"]');
  await post('/instructor/step', { section: 0, cell: key('events') }, asInstructor());
  const cell = `.cell[data-key="${key('events')}"]`;
  assert.equal((await post('/instructor/run', { key: key('events') }, asInstructor())).status, 202);
  await att
    .waitForFunction(
      (sel) => /event entry main\.demo arg 13/.test(document.querySelector(`${sel} .outputs`)?.textContent ?? ''),
      cell,
      { timeout: 30_000 },
    )
    .catch(async (e: Error) =>
      assert.fail(`${e.message}; the cell shows: ${(await att.textContent(`${cell} .outputs`))?.slice(-800)}`),
    );
  assert.equal(await att.getAttribute(cell, 'data-status'), 'running', 'events arrived before the cell finished');
  const text = (await att.textContent(`${cell} .outputs`))!;
  assert.match(text, /arg 11[\s\S]*arg 12[\s\S]*arg 13/);
  writeFileSync(releaseFile, 'go');
  await att.waitForFunction((sel) => document.querySelector(sel)?.getAttribute('data-status') === 'ok', cell, {
    timeout: 30_000,
  });
  assert.match((await att.textContent(`${cell} .outputs`))!, /events cell done/);

  const spin = post('/instructor/run?wait=1', { key: key('spin') }, asInstructor());
  await att.waitForFunction(
    (sel) => /spinning/.test(document.querySelector(sel)?.textContent ?? ''),
    `.cell[data-key="${key('spin')}"] .outputs`,
    { timeout: 30_000 },
  );
  assert.equal((await post('/instructor/interrupt', {}, asInstructor())).status, 200);
  const spun = ((await (await spin).json()) as { results: { status: string }[] }).results[0];
  assert.notEqual(spun.status, 'ok', 'the runaway cell was interrupted');
  assert.equal((await run('hello')).status, 'ok', 'the kernel survives an interrupt');
  await browser.close();
  browser = undefined;
});

test('"reset lab" after a uretprobe crash leaves no server process and no link of ours', {
  timeout: 120_000,
}, async (t) => {
  const crash = await run('crash');
  const state = (await (await fetch(`${ws.server.url}/attend/state`)).json()) as {
    cells: Record<string, { outputs: { text?: string }[] }>;
  };
  const text = state.cells[key('crash')].outputs.map((o) => o.text ?? '').join('');
  assert.equal(crash.status, 'ok', text);
  assert.match(text, /victim exited: exit 2/, 'the Go runtime killed the probed server');
  assert.match(text, /unexpected return pc|fatal/, 'the crash text came through');
  const survivorPid = Number(/survivor pid (\d+)/.exec(text)?.[1]);
  assert.ok(survivorPid > 0, text);

  const strayPid = Number(/stray pid (\d+)/.exec(text)?.[1]);
  const bpftracePid = Number(/bpftrace pid (\d+)/.exec(text)?.[1]);
  const ours = () => listProcesses().filter((p) => p.marker === ws.marker);
  assert.ok(
    ours().some((p) => p.pid === survivorPid),
    'the survivor runs, marked as ours',
  );
  // bpftrace attaches through perf events (bpftool perf list), after it has parsed and loaded its program.
  for (let i = 0; i < 300 && !(await bpftoolView()).perf.some((e) => e.pid === bpftracePid); i++)
    await new Promise((r) => setTimeout(r, 100));
  assert.ok(
    (await bpftoolView()).perf.some((e) => e.pid === bpftracePid),
    'the stray bpftrace holds a uprobe',
  );
  const heldBefore = ours().flatMap((p) => linksHeldBy(p.pid));
  assert.ok(heldBefore.length > 0, 'the kernel holds probe links before the reset');

  // The instructor presses "Reset lab" in the console (and confirms).
  browser = await chromium.launch(chromiumOptions);
  const ins = await (await browser.newContext()).newPage();
  ins.on('dialog', (d) => void d.accept());
  await ins.goto(ws.server.instructorUrl);
  await ins.waitForSelector('body[data-conn="connected"]');
  await ins.click('#reset');
  await ins.waitForSelector('#reset-report[data-ok]', { timeout: 60_000 });
  const shown = (await ins.textContent('#reset-report'))!;
  await browser.close();
  browser = undefined;
  const report = (
    (await (await fetch(`${ws.server.url}/instructor/state`, { headers: asInstructor() })).json()) as {
      lastReset: ResetReport;
    }
  ).lastReset;
  assert.match(shown, /bpftool link list/);
  assert.ok(shown.includes(report.steps.at(-1)!), 'the console shows the verification line');
  assert.equal(report.ok, true, report.steps.join('\n'));
  for (const line of report.steps) t.diagnostic(line);
  const killed = report.killed.map((k) => k.pid);
  assert.ok(
    killed.includes(strayPid) && killed.includes(bpftracePid),
    `reset killed the strays: ${JSON.stringify(report.killed)}`,
  );

  // Check independently of the report.
  const after = await bpftoolView();
  for (const l of heldBefore)
    assert.ok(!after.linkIds.includes(l.linkId!), `link ${l.linkId} is gone from bpftool link list`);
  const oursNow = ours();
  assert.equal(
    oursNow.find((p) => p.pid === survivorPid),
    undefined,
    'the survivor server is gone',
  );
  assert.deepEqual(
    oursNow.flatMap((p) => linksHeldBy(p.pid)),
    [],
    'no process of ours holds a link',
  );
  assert.deepEqual(
    after.perf.filter((e) => oursNow.some((p) => p.pid === e.pid)),
    [],
    'no perf-event probe of ours',
  );
  assert.deepEqual(
    oursNow.filter((p) => /lab-workshop-(server|stray)-/.test(p.exe) || p.comm === 'bpftrace'),
    [],
    'no server copy or tracer of ours runs',
  );
  assert.deepEqual(
    after.perf.filter((e) => e.pid === bpftracePid),
    [],
    "the stray bpftrace's uprobe is gone",
  );

  // The restarted kernel works.
  const again = await run('hello');
  assert.equal(again.status, 'ok');
  assert.equal(again.executionCount, 1, 'a fresh kernel counts from 1');
});
