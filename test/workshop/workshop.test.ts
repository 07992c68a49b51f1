// Workshop instructor mode in rehearsal: two real Chromium pages, and the security boundary.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { rmSync } from 'node:fs';
import { chromium, type Browser } from 'playwright-core';
import { startWorkshop, type RunningWorkshop } from '../../workshop/start.ts';
import { chromiumOptions, openSocket, workshopFixture } from '../support/workshop-fixture.ts';

const recordedHtml = '<table><tr><td>recorded table 7</td></tr></table>';
const fixture = workshopFixture([
  {
    id: 'hello',
    source: 'console.log("hello from the recording")',
    outputs: [
      { output_type: 'stream', name: 'stdout', text: ['recorded hello\n', 'second line 42\n'] },
      {
        output_type: 'display_data',
        data: { 'text/html': recordedHtml, 'text/plain': 'recorded table 7' },
        metadata: {},
      },
    ],
  },
  {
    id: 'second',
    source: 'console.log(2)',
    outputs: [{ output_type: 'stream', name: 'stdout', text: 'recorded two\n' }],
  },
]);

let ws: RunningWorkshop;
let browser: Browser;

before(async () => {
  ws = await startWorkshop({ agendaPath: fixture.agendaPath, rehearsal: true, site: false });
  browser = await chromium.launch(chromiumOptions);
});

after(async () => {
  await browser?.close();
  await ws?.stop();
  rmSync(fixture.dir, { recursive: true, force: true });
});

const post = (path: string, body: unknown, headers: Record<string, string> = {}) =>
  fetch(`${ws.server.url}${path}`, {
    method: 'POST',
    headers: { 'Content-Type': 'application/json', ...headers },
    body: JSON.stringify(body),
  });

test('rehearsal mode is labelled in both views and the URLs have the shapes the room needs', async () => {
  assert.equal(ws.mode, 'rehearsal');
  assert.match(ws.server.attendeeUrl, /^http:\/\/127\.0\.0\.1:\d+\/attend$/);
  assert.match(ws.server.instructorUrl, /^http:\/\/127\.0\.0\.1:\d+\/instructor\?token=[\w-]{20,}$/);
  const ctx = await browser.newContext();
  try {
    const [ins, att] = [await ctx.newPage(), await ctx.newPage()];
    await ins.goto(ws.server.instructorUrl);
    await att.goto(ws.server.attendeeUrl);
    for (const p of [ins, att]) {
      await p.waitForSelector('body[data-conn="connected"]');
      assert.equal(await p.getAttribute('body', 'data-mode'), 'rehearsal');
      assert.match((await p.textContent('#mode')) ?? '', /REHEARSAL/);
    }
    assert.match((await ins.textContent('#notes')) ?? '', /first section/, 'speaker notes reach the instructor');
    // Per-section timers: planned minutes from the agenda; "Start timers" zeroes them when the room begins.
    assert.match((await ins.textContent('#sections li[data-id="one"] .timer'))!, /^\d+:\d\d \/ 5:00$/);
    await ins.click('#timers');
    await ins.waitForFunction(
      () => document.querySelector('#sections li[data-id="extra-2"] .timer')?.textContent === '0:00 / 5:00',
    );
    const timers = (
      (await (
        await fetch(`${ws.server.url}/instructor/state`, { headers: { Authorization: `Bearer ${ws.server.token}` } })
      ).json()) as { timers: { spentMs: number[] } }
    ).timers;
    assert.deepEqual(timers.spentMs, [0, 0, 0]);
    assert.equal(await att.$('#notes'), null, 'no speaker notes on the attendee page');
  } finally {
    await ctx.close();
  }
});

/** The instructor console and the attendee view, each in its own browser context, both connected. */
async function connectedViews() {
  const insCtx = await browser.newContext();
  const attCtx = await browser.newContext();
  const [ins, att] = [await insCtx.newPage(), await attCtx.newPage()];
  await ins.goto(ws.server.instructorUrl);
  await att.goto(ws.server.attendeeUrl);
  await ins.waitForSelector('body[data-conn="connected"]');
  await att.waitForSelector('body[data-conn="connected"]');
  return { insCtx, attCtx, ins, att };
}

test('instructor advances a step: the attendee page follows within a second; a run cell streams to the attendee', async () => {
  const { insCtx, attCtx, ins, att } = await connectedViews();
  try {
    await ins.click('#sections li[data-id="extra-2"] a');
    await att.waitForFunction(() => document.body.dataset.section === 'extra-2', null, { timeout: 1000 });
    await ins.click('#next');
    await att.waitForFunction(() => document.body.dataset.section === 'extra-3', null, { timeout: 1000 });
    await ins.keyboard.press('PageUp'); // a presentation clicker
    await att.waitForFunction(() => document.body.dataset.section === 'extra-2', null, { timeout: 1000 });
    await ins.keyboard.press('ArrowRight');
    await att.waitForFunction(() => document.body.dataset.section === 'extra-3', null, { timeout: 1000 });
    await ins.click('#prev');
    await ins.click('#prev');
    await ins.click('#prev');
    // Back in section one on its first cell: the attendee follows to the cell, not only the section.
    await att.waitForFunction(
      () => document.body.dataset.section === 'one' && document.body.dataset.instructorCell === 'fixture.ipynb#1',
      null,
      { timeout: 1000 },
    );
    assert.equal(await att.getAttribute('.cell.current', 'data-key'), 'fixture.ipynb#1');

    await ins.click('.cell[data-key="fixture.ipynb#1"] button.run');
    await att.waitForFunction(
      () => document.querySelector('.cell[data-key="fixture.ipynb#1"]')?.getAttribute('data-status') === 'ok',
    );
    const out = await att.textContent('.cell[data-key="fixture.ipynb#1"] .outputs');
    assert.match(out!, /recorded hello\s+second line 42/);
    assert.match(out!, /recorded table 7/);
    assert.match((await att.textContent('.cell[data-key="fixture.ipynb#1"] .status')) ?? '', /replayed/);

    // A late joiner gets the current step and every output so far.
    const late = await attCtx.newPage();
    await late.goto(ws.server.attendeeUrl);
    await late.waitForSelector('body[data-conn="connected"]');
    assert.equal(await late.getAttribute('body', 'data-section'), 'one');
    assert.match((await late.textContent('.cell[data-key="fixture.ipynb#1"] .outputs'))!, /recorded hello/);
    await late.close();
  } finally {
    await insCtx.close();
    await attCtx.close();
  }
});

test('an attendee can browse ahead and return with the follow button; the page frame follows page and scroll target', async () => {
  // A stand-in for the site (building the real one takes minutes): any path answers a page with the section anchors.
  const { createServer } = await import('node:http');
  const site = createServer((req, res) =>
    res.end(`<h1>${req.url}</h1><h2 id="part-2">two</h2><h2 id="part-3">three</h2>`),
  );
  await new Promise<void>((r) => site.listen(0, '127.0.0.1', () => r()));
  const sitePort = (site.address() as { port: number }).port;
  ws.server.setSite(`http://127.0.0.1:${sitePort}/`);
  const { insCtx, attCtx, ins, att } = await connectedViews();
  try {
    await ins.click('#sections li[data-id="one"] a');
    await att.waitForFunction(() => document.body.dataset.section === 'one', null, { timeout: 1000 });

    await att.click('#sections li:nth-child(3) a');
    assert.equal(await att.getAttribute('body', 'data-following'), 'false');
    assert.equal(await att.getAttribute('body', 'data-section'), 'extra-3');
    // The instructor moves on; the browsing attendee stays where they are, the follow button says where the room is.
    await ins.click('#sections li[data-id="extra-2"] a');
    await att.waitForFunction(() => document.body.dataset.instructorSection === 'extra-2', null, { timeout: 1000 });
    assert.equal(await att.getAttribute('body', 'data-section'), 'extra-3');
    assert.match((await att.textContent('#follow'))!, /Follow the instructor.*Section 2/);
    await att.click('#follow');
    assert.equal(await att.getAttribute('body', 'data-section'), 'extra-2');
    assert.equal(await att.getAttribute('body', 'data-following'), 'true');
    assert.equal(await att.getAttribute('#site', 'src'), `http://127.0.0.1:${sitePort}/docs/#part-2`);
    const frame = (await (await att.$('#site'))!.contentFrame())!;
    await frame.waitForURL(/\/docs\/#part-2$/);
    assert.equal(
      await (await frame.waitForSelector('h1')).textContent(),
      '/docs/',
      'the site page loaded in the frame',
    );
  } finally {
    await insCtx.close();
    await attCtx.close();
    ws.server.setSite(undefined, 'not started (--without-site)');
    site.close();
  }
});

test('attendees cannot drive the lab: no token 401, forged token 403, attendee socket is receive-only', async () => {
  const key = 'fixture.ipynb#2';
  const before = (await (await fetch(`${ws.server.url}/attend/state`)).json()) as {
    cells: Record<string, unknown>;
    step: unknown;
  };
  assert.equal(before.cells[key], undefined, 'the cell has not run yet');

  const t = ws.server.token;
  const nearMiss = t.slice(0, -1) + (t.endsWith('x') ? 'y' : 'x');
  for (const path of [
    '/instructor/run',
    '/instructor/run-to',
    '/instructor/step',
    '/instructor/reset',
    '/instructor/interrupt',
    '/instructor/timers',
  ]) {
    assert.equal((await post(path, { key, section: 2 })).status, 401, `${path} without a token`);
    assert.equal(
      (await post(path, { key, section: 2 }, { Authorization: 'Bearer forged-token' })).status,
      403,
      `${path} with a forged token`,
    );
    assert.equal(
      (await post(`${path}?token=${nearMiss}`, { key, section: 2 })).status,
      403,
      `${path} with a near-miss token`,
    );
  }
  assert.equal((await fetch(`${ws.server.url}/instructor`)).status, 401);
  assert.equal((await fetch(`${ws.server.url}/instructor/state?token=nope`)).status, 403);
  // Nothing routes to Jupyter, whatever the path.
  for (const path of ['/api/kernels', '/api/contents', '/lab', '/attend/run']) {
    assert.equal((await post(path, { code: 'x' })).status, 404, path);
  }

  const wsBase = ws.server.url.replace('http', 'ws');
  const noToken = await openSocket(`${wsBase}/instructor/ws`);
  assert.deepEqual(await noToken.opened, { ok: false, status: 401 });
  const forged = await openSocket(`${wsBase}/instructor/ws?token=forged`);
  assert.deepEqual(await forged.opened, { ok: false, status: 403 });

  const attendee = await openSocket(`${wsBase}/attend/ws`);
  assert.deepEqual(await attendee.opened, { ok: true });
  assert.equal((await attendee.first).type, 'state');
  const refusedBefore = ws.server.refusedAttendeeMessages;
  attendee.ws.send(JSON.stringify({ type: 'run', key, token: nearMiss }));
  const closed = await attendee.closed;
  assert.equal(closed.code, 1008);
  assert.equal(ws.server.refusedAttendeeMessages, refusedBefore + 1);

  const afterState = (await (await fetch(`${ws.server.url}/attend/state`)).json()) as {
    cells: Record<string, unknown>;
    step: unknown;
  };
  assert.equal(afterState.cells[key], undefined, 'nothing ran or was replayed');
  assert.deepEqual(afterState.step, before.step, 'the step did not move');

  // The real token does work — the refusals above are the token check, not a broken route.
  const ok = await post('/instructor/run?wait=1', { key }, { Authorization: `Bearer ${ws.server.token}` });
  assert.equal(ok.status, 200);
  const state = (await (await fetch(`${ws.server.url}/attend/state`)).json()) as {
    cells: Record<string, { status: string; outputs: { text: string }[] }>;
  };
  assert.equal(state.cells[key].status, 'ok');
  assert.equal(state.cells[key].outputs[0].text, 'recorded two\n');
});

test('the committed agenda is whole: notebooks, cells and notes exist, every page and scroll target is on the site', async () => {
  const { existsSync: exists, readFileSync: read } = await import('node:fs');
  const { loadAgenda } = await import('../../workshop/agenda.ts');
  const { defaultAgenda } = await import('../../workshop/start.ts');
  const { at } = await import('../../core/paths.ts');
  const agenda = loadAgenda(defaultAgenda);
  const slug = (h: string) =>
    h
      .trim()
      .toLowerCase()
      .replace(/[^\p{L}\p{N}\s-]/gu, '')
      .replace(/\s/g, '-');
  for (const s of agenda.sections) {
    assert.deepEqual(s.problems, [], `section ${s.id}`);
    assert.ok(s.notes.trim().length > 0, `section ${s.id} has speaker notes`);
    const docPath = s.page.replace(/^\/docs\/|\/$/g, '');
    const file = [`${docPath}.mdx`, `${docPath}.md`, `${docPath}/index.mdx`, `${docPath}/index.md`]
      .map((f) => at('docs', f))
      .find((f) => exists(f));
    if (s.page.startsWith('/notebooks/')) {
      const nb = s.page.replace(/^\/notebooks\/|\/$/g, '');
      assert.ok(exists(at('notebooks', `${nb}.ipynb`)), `section ${s.id}: no notebook behind ${s.page}`);
    } else {
      assert.ok(s.page.startsWith('/docs/'), `section ${s.id}: ${s.page} is neither a docs page nor a notebook page`);
      assert.ok(file, `section ${s.id}: no docs file for ${s.page}`);
      if (s.anchor) {
        const ids = [...read(file!, 'utf8').matchAll(/^#{2,6}\s+(.*?)(?:\s+\{#([\w-]+)\})?\s*$/gm)].map(
          (m) => m[2] ?? slug(m[1]),
        );
        assert.ok(
          ids.includes(s.anchor),
          `section ${s.id}: #${s.anchor} is not a heading of ${file} (${ids.join(', ')})`,
        );
      }
    }
    // Speaker notes name cells by id ("03-11"): each must be a cell of this section.
    for (const id of s.notes.match(/\b\d\d-\d\d\b/g) ?? []) {
      assert.ok(
        s.cells.some((c) => c.id === id),
        `section ${s.id}: notes mention cell ${id}, not one of its cells`,
      );
    }
  }
});

test('./lab workshop on an unprivileged account falls back to rehearsal and says why', {
  timeout: 90_000,
}, async () => {
  const { spawn } = await import('node:child_process');
  const { at } = await import('../../core/paths.ts');
  // The same machine, but as "nobody": no root, so no probes — the preflight must notice.
  const child = spawn(
    'setpriv',
    ['--reuid=65534', '--regid=65534', '--clear-groups', at('lab'), 'workshop', '--without-site'],
    {
      cwd: at(),
      detached: true,
      stdio: ['ignore', 'pipe', 'pipe'],
    },
  );
  let out = '';
  let err = '';
  child.stdout!.on('data', (d) => (out += d));
  child.stderr!.on('data', (d) => (err += d));
  try {
    const exited = new Promise((resolve) => child.once('exit', resolve));
    const attend = await Promise.race([
      (async () => {
        for (;;) {
          const m = /^(http:\/\/127\.0\.0\.1:\d+\/attend)$/m.exec(out);
          if (m) return m[1];
          await new Promise((r) => setTimeout(r, 100));
        }
      })(),
      exited.then(() => assert.fail(`./lab workshop exited early: ${err}`)),
    ]);
    assert.match(err, /REHEARSAL MODE.*preflight failed: .*(capabilities: missing|not running as root)/);
    const state = (await (await fetch(`${attend}/state`)).json()) as { mode: string; rehearsalReason: string };
    assert.equal(state.mode, 'rehearsal');
    assert.match(state.rehearsalReason, /capabilities: missing|not running as root/);
  } finally {
    process.kill(-child.pid!, 'SIGTERM');
  }
});

test('./lab workshop refuses to listen beyond 127.0.0.1 without the explicit flag', async () => {
  const { spawnSync } = await import('node:child_process');
  const { at } = await import('../../core/paths.ts');
  const r = spawnSync(at('lab'), ['workshop', '--host', '0.0.0.0'], { encoding: 'utf8', timeout: 30_000 });
  assert.equal(r.status, 1);
  assert.match(r.stderr, /--i-understand-attendees-reach-this-machine/);
  assert.doesNotMatch(r.stdout, /http:\/\//, 'nothing was served');
});
