// lab-test: concurrent — its own site, Chromium and Jupyter on free ports; ./lab open asks only its own site's port.
// Access as a learner keeps it, in Chromium against a real Jupyter behind the site's proxy: a grant
// survives a closed browser (its persistent cookie and the key its page keeps); a brand-new browser is
// refused with the way back; what another port of 127.0.0.1 captures from the browser opens nothing;
// `./lab open` admits another browser while the notebook kernel keeps what it defined; `--revoke`
// refuses them all.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { BrowserContext, Page } from 'playwright-core';
import { at } from '../../core/paths.ts';
import { accessDays } from '../../model/site-access.ts';
import { siteInChromium } from '../support/site.ts';
import { patient } from '../../core/patience.ts';

const notebook = '/notebooks/00-preflight/';
/** What the first browser's cell leaves in the notebook kernel. */
const marker = `kept-${process.pid}`;

const lab = siteInChromium({ jupyter: true, control: true });
const contexts: BrowserContext[] = [];
after(async () => {
  for (const c of contexts) await c.close().catch(() => undefined);
});

async function context(state?: Parameters<BrowserContext['storageState']>[0] | object): Promise<BrowserContext> {
  const c = await lab.browser.newContext(state ? { storageState: state as never } : {});
  contexts.push(c);
  return c;
}

/** `./lab open` for this file's site, as the user runs it; its stdout. */
function labOpen(...args: string[]): Promise<string> {
  return new Promise((resolve, reject) =>
    execFile(
      at('lab'),
      ['open', `--site-port=${lab.site.port}`, ...args],
      { timeout: patient(60_000) },
      (err, out, errOut) =>
        err ? reject(new Error(`./lab open ${args.join(' ')}: ${err.message} ${errOut}`)) : resolve(out),
    ),
  );
}

const grantIn = (out: string) => /http:\/\/127\.0\.0\.1:\d+\/\?grant=[\w-]+/.exec(out)?.[0];

/** What the proxy answers this browser for Jupyter's status (a navigation: cookies only). */
async function statusIn(c: BrowserContext): Promise<{ status: number; text: string }> {
  const p = await c.newPage();
  const r = await p.goto(new URL('/jupyter/api/status', lab.site.url).href);
  const answer = { status: r?.status() ?? 0, text: (await r?.text()) ?? '' };
  await p.close();
  return answer;
}

async function openNotebook(c: BrowserContext, live: 'ready' | 'unreachable'): Promise<Page> {
  const page = await c.newPage();
  await page.goto(new URL(notebook, lab.site.url).href, { waitUntil: 'networkidle' });
  await page.locator(`[data-testid="live-bar"][data-live="${live}"]`).waitFor({ timeout: patient(30_000) });
  return page;
}

/** Replaces cell 1's code, runs it, and returns its live output. */
async function runAsCell1(page: Page, code: string): Promise<string> {
  const cell = page.locator('[data-cell="1"]');
  await cell.locator('.cm-content').click();
  await page.keyboard.press('Control+A');
  await page.keyboard.insertText(code);
  await page.getByRole('button', { name: 'Run cell 1', exact: true }).click();
  await page.waitForFunction(
    () => /^(ok|error|aborted)$/.test(document.querySelector('[data-cell="1"]')?.getAttribute('data-run') ?? ''),
    undefined,
    { timeout: patient(120_000) },
  );
  return (await cell.locator('[data-output="live"]').textContent()) ?? '';
}

let kept: BrowserContext;

test('grant once, close the browser, come back with what it kept: live mode runs cells', async () => {
  const first = await context();
  const p = await first.newPage();
  await p.goto(lab.site.grantUrl!, { waitUntil: 'networkidle' });
  assert.equal(p.url(), lab.site.url, 'the grant page did not go on to the site');
  const state = await first.storageState();
  await first.close();
  // What a closed browser keeps: cookies that outlive the session, and localStorage.
  const persistent = state.cookies.filter((c) => c.expires > Date.now() / 1000 + 3600);
  assert.equal(persistent.length, 1, `persistent cookies: ${JSON.stringify(state.cookies)}`);
  const [cookie] = persistent;
  assert.ok(cookie.httpOnly && cookie.sameSite === 'Strict', JSON.stringify(cookie));
  const days = (cookie.expires - Date.now() / 1000) / 86400;
  assert.ok(days > accessDays - 1 && days <= accessDays, `the cookie lasts ${days.toFixed(2)} days, not ${accessDays}`);

  kept = await context({ cookies: persistent, origins: state.origins });
  assert.equal((await statusIn(kept)).status, 200);
  const page = await openNotebook(kept, 'ready');
  const out = await runAsCell1(page, `var labMarker = "${marker}"; labMarker`);
  assert.match(out, new RegExp(marker), `cell 1 ran: ${out}`);
  await page.close();
});

test('a brand-new browser is refused, and told to run ./lab open', async () => {
  const stranger = await context();
  const { status, text } = await statusIn(stranger);
  assert.equal(status, 401);
  assert.match(text, /run \.\/lab open where the lab runs/);
  const page = await openNotebook(stranger, 'unreachable');
  assert.match((await page.getByTestId('live-diagnosis').textContent()) ?? '', /\.\/lab open/);
  await page.close();
});

test('what another port of 127.0.0.1 captures from the granted browser opens nothing', async () => {
  const seen: string[] = [];
  const trap = createServer((req, res) => {
    seen.push(req.headers.cookie ?? '');
    res.end('ok');
  });
  await new Promise<void>((r) => trap.listen(0, '127.0.0.1', r));
  try {
    const port = (trap.address() as AddressInfo).port;
    const p = await kept.newPage();
    for (const host of ['127.0.0.1', 'localhost']) await p.goto(`http://${host}:${port}/`);
    await p.close();
    const captured = seen.filter(Boolean).join('; ');
    // Cookies are scoped by host, not port: the trap does get it, so the replay below proves something.
    assert.match(captured, new RegExp(`lab-session-${lab.site.port}=`));
    const replay = await fetch(new URL('/jupyter/api/kernels', lab.site.url), {
      method: 'POST',
      headers: { cookie: captured, host: new URL(lab.site.url).host, 'content-type': 'application/json' },
      body: '{}',
    });
    assert.equal(replay.status, 401, await replay.text());
  } finally {
    await new Promise((r) => trap.close(r));
  }
});

let admitted: BrowserContext;

test('./lab open prints a link that admits another browser; the notebook kernel keeps what it defined', async () => {
  const out = await labOpen();
  const link = grantIn(out);
  assert.ok(link, `./lab open printed no link: ${out}`);
  assert.notEqual(link, lab.site.grantUrl);
  // The first link is spent, and says how to get another.
  const spent = await fetch(lab.site.grantUrl!);
  assert.equal(spent.status, 403);
  assert.match(await spent.text(), /\.\/lab open/);

  admitted = await context();
  const p = await admitted.newPage();
  await p.goto(link, { waitUntil: 'networkidle' });
  await p.close();
  const page = await openNotebook(admitted, 'ready');
  const again = await runAsCell1(page, 'labMarker');
  assert.match(again, new RegExp(marker), `the notebook kernel lost what cell 1 defined: ${again}`);
  await page.close();
});

test('./lab open --revoke refuses every browser it let in, open WebSockets included', async () => {
  // The notebook's session runs: the page joins it at load, over a WebSocket.
  const open = await openNotebook(admitted, 'ready');
  const state = open.getByTestId('kernel-state');
  await state.filter({ hasText: /^idle$/ }).waitFor({ timeout: patient(30_000) });
  const out = await labOpen('--revoke');
  assert.match(out, /Revoked: 2 browsers/);
  await state.filter({ hasText: /^disconnected$/ }).waitFor({ timeout: patient(30_000) });
  for (const c of [kept, admitted]) {
    assert.equal((await statusIn(c)).status, 401);
    const page = await openNotebook(c, 'unreachable');
    assert.match((await page.getByTestId('live-diagnosis').textContent()) ?? '', /\.\/lab open/);
    await page.close();
  }
  await open.close();
});
