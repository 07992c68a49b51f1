// lab-test: concurrent — its own site, Chromium and Jupyter; probes only private server copies; kills only its own kernels.
// Live cells on the site, in Chromium against a real Jupyter (tslab) reached through the site's
// proxy: edit and run, Run all with the live event table filling in place, Restart & run all,
// a reload that keeps both the edits and the notebook kernel, Interrupt that releases what the cell
// attached, and the diagnoses (no grant, wrong token, notebook kernel died, server gone).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { BrowserContext, Page } from 'playwright-core';
import { at } from '../../core/paths.ts';
import { jupyterServerPid, kernelPids } from '../support/jupyter-support.ts';
import { screenshots, siteInChromium } from '../support/site.ts';
import { notebookView } from '../../src/lib/notebook.ts';
import { patient } from '../../core/patience.ts';

const crashPage = '/notebooks/03-uretprobe-crash/';

/** Notebook 03's code cells by what they do (numbered as the page numbers them, from 1). */
const cells03 = (() => {
  const codes = notebookView(
    '03-uretprobe-crash.ipynb',
    readFileSync(at('notebooks', '03-uretprobe-crash.ipynb'), 'utf8'),
  ).cells.flatMap((c) => (c.kind === 'code' ? [c.source] : []));
  const find = (re: RegExp) => {
    const n = codes.findIndex((s) => re.test(s)) + 1;
    assert.ok(n > 0, `notebook 03 has no code cell matching ${re}`);
    return n;
  };
  return {
    helpers: find(/require\("\.\.\/kernel-helpers/),
    server: find(/startServer\(/),
    table: find(/lab\.eventTable\(/),
    request3: find(/\/\?arg=3/),
    crashed: find(/server\.crashed\(\)/),
    last: codes.length,
    resetsLast: /resetLab\(\)/.test(codes[codes.length - 1]),
  };
})();
const c = cells03;

/** A browser that opened the grant link: it may use the lab's Jupyter. */
let granted: BrowserContext;

const lab = siteInChromium({
  jupyter: true,
  ready: async ({ site, browser }) => {
    assert.ok(site.grantUrl, 'siteServe with Jupyter made no grant link');
    granted = await browser.newContext({ viewport: { width: 1280, height: 900 } });
    const p = await granted.newPage();
    await p.goto(site.grantUrl);
    await p.close();
  },
});

async function openNotebook(path = crashPage, context = granted): Promise<{ page: Page; errors: string[] }> {
  const page = await context.newPage();
  const errors: string[] = [];
  page.on('pageerror', (e) => errors.push(e.message));
  await page.goto(new URL(path, lab.site.url).href, { waitUntil: 'networkidle' });
  await page.locator('[data-testid="live-bar"][data-live="ready"]').waitFor({ timeout: patient(20_000) });
  return { page, errors };
}

const cell = (page: Page, n: number) => page.locator(`[data-cell="${n}"]`);
/**
 * Waits until cell n has finished (ok, failed or not run) and returns how it ended. With `started`
 * (see runOf) only a run that started after the watch counts: a cell that ran before still shows how
 * that run ended until the page draws the new one, later on a loaded machine.
 */
async function finished(page: Page, n: number, timeout = patient(120_000), started = false): Promise<string> {
  try {
    await page.waitForFunction(
      ([k, mustStart]) =>
        (!mustStart || (window as unknown as { labRuns?: Record<number, boolean> }).labRuns?.[k] === true) &&
        /^(ok|error|aborted)$/.test(document.querySelector(`[data-cell="${k}"]`)?.getAttribute('data-run') ?? ''),
      [n, started] as const,
      { timeout },
    );
  } catch (e) {
    throw new Error(
      `cell ${n} did not finish in ${timeout} ms (${(e as Error).message.split('\n')[0]})\n${await pageState(page)}`,
    );
  }
  return (await cell(page, n).getAttribute('data-run'))!;
}

/** Call before the click that runs cell n again: the returned wait ends when that new run has ended. */
async function runOf(page: Page, n: number): Promise<(timeout?: number) => Promise<string>> {
  await page.evaluate((k) => {
    const w = window as unknown as { labRuns?: Record<number, boolean> };
    w.labRuns = { ...w.labRuns, [k]: false };
    const el = document.querySelector(`[data-cell="${k}"]`)!;
    new MutationObserver(() => {
      if (/^(queued|running)$/.test(el.getAttribute('data-run') ?? '')) w.labRuns![k] = true;
    }).observe(el, { attributes: true, attributeFilter: ['data-run'] });
  }, n);
  return (timeout = patient(120_000)) => finished(page, n, timeout, true);
}

/**
 * Clicks Restart and waits until the page has shown "restarting" and then "idle" again. A page that
 * has no notebook kernel yet (this test alone on a fresh Jupyter) offers no Restart: its first cell
 * starts a fresh kernel anyway.
 */
async function restartKernel(page: Page): Promise<void> {
  const restart = page.getByRole('button', { name: 'Restart the notebook kernel' });
  if (await restart.isDisabled()) {
    assert.equal(await page.getByTestId('kernel-state').textContent(), 'not started');
    return;
  }
  await page.evaluate(() => {
    const w = window as unknown as { labRestarted?: boolean };
    w.labRestarted = false;
    const el = document.querySelector('[data-testid="kernel-state"]')!;
    new MutationObserver(() => {
      if (el.textContent === 'restarting') w.labRestarted = true;
    }).observe(el, { childList: true, characterData: true, subtree: true });
  });
  await restart.click();
  await page.waitForFunction(
    () =>
      (window as unknown as { labRestarted?: boolean }).labRestarted === true &&
      document.querySelector('[data-testid="kernel-state"]')?.textContent === 'idle',
    undefined,
    { timeout: patient(60_000) },
  );
}

/** What a failure message needs: the kernel state, the notice, and each cell's run state and output's end. */
async function pageState(page: Page): Promise<string> {
  const text = async (id: string) =>
    (
      await page
        .getByTestId(id)
        .first()
        .textContent({ timeout: 1000 })
        .catch(() => null)
    )?.trim() || '(none)';
  // No named function inside: the test's TypeScript compiler wraps those in a helper the page does not have.
  const cells = await page
    .locator('[data-cell]')
    .evaluateAll((els) =>
      els.map(
        (e) =>
          `  cell ${e.getAttribute('data-cell')}: ${e.getAttribute('data-run') ?? 'not run'} …${(e.textContent ?? '').slice(-160).replace(/\s+/g, ' ')}`,
      ),
    );
  return [`kernel: ${await text('kernel-state')}`, `notice: ${await text('live-notice')}`, ...cells].join('\n');
}

/** Replaces the code of cell n as a reader would: select all in the editor and type. */
async function setCode(page: Page, n: number, code: string): Promise<void> {
  const editor = cell(page, n).locator('.cm-content');
  await editor.click();
  await page.keyboard.press('Control+A');
  await page.keyboard.insertText(code);
}

const codeOf = (page: Page, n: number) => cell(page, n).locator('.cm-content').innerText();

/** The rows of the live event table (the uretprobe's), wherever it is on the page. */
const eventRows = (page: Page) =>
  page.locator('[data-output="live"] table:has(caption:text-matches("uretprobe main.demo")) tbody tr');

test('an edited cell runs as edited: arg=3 becomes arg=5 and the output says 5', async () => {
  const { page, errors } = await openNotebook();
  assert.match(await codeOf(page, c.request3), /arg=3/);
  await setCode(page, c.request3, (await codeOf(page, c.request3)).replace('arg=3', 'arg=5'));
  assert.match((await cell(page, c.request3).textContent()) ?? '', /edited/);
  for (const n of [c.helpers, c.server, c.table]) {
    await page.getByRole('button', { name: `Run cell ${n}`, exact: true }).click();
    assert.equal(await finished(page, n), 'ok', `cell ${n}: ${await cell(page, n).textContent()}`);
  }
  await page.getByRole('button', { name: `Run cell ${c.request3}`, exact: true }).click();
  assert.equal(await finished(page, c.request3), 'ok', (await cell(page, c.request3).textContent()) ?? '');
  const out = (await cell(page, c.request3).locator('[data-output="live"]').textContent()) ?? '';
  assert.match(out, /\/\?arg=5/, out);
  // The event the cell waited for is demo(5)'s (printed as an event, or as a row of the table).
  const shown = `${out}\n${await cell(page, c.table).textContent()}`;
  assert.match(shown, /args: \[ 5n? \]|main\.demo\(5\)/, shown);
  // The table of cell 3 filled in while cell 4 ran (update_display_data, sent with cell 4's header).
  // Those updates travel on iopub, which may trail the cell's reply on a loaded machine: wait for them.
  await eventRows(page)
    .nth(1)
    .waitFor({ timeout: patient(10_000) })
    .catch(async () => assert.fail(`the live event table did not fill in\n${await pageState(page)}`));
  assert.match((await cell(page, c.table).textContent()) ?? '', /uretprobe main\.demo: [2-9]\d* event\(s\)/);
  assert.deepEqual(errors, []);
  await page.close();
});

// Jupyter may lose a request sent while it reconnects its channels to a restarted kernel: the kernel
// then sits idle and the cell would wait for ever. The test loses the requests on the page's own socket.
test('a cell whose request never reached the kernel is sent again; lost twice, it says what to do', async () => {
  const page = await granted.newPage();
  let dropping = 1;
  let dropped = 0;
  await page.routeWebSocket(/\/api\/kernels\/[^/]+\/channels/, (ws) => {
    const server = ws.connectToServer();
    ws.onMessage((frame) => {
      const text = typeof frame === 'string' ? frame : frame.toString('latin1');
      const theCell = text.includes('"execute_request"') && text.includes('kernel-helpers/load.cjs');
      if (theCell && text.includes('"store_history":true') && dropping > 0) {
        dropping--;
        dropped++;
        return;
      }
      server.send(frame);
    });
  });
  await page.goto(new URL(crashPage, lab.site.url).href, { waitUntil: 'networkidle' });
  await page.locator('[data-testid="live-bar"][data-live="ready"]').waitFor({ timeout: patient(20_000) });
  const run = page.getByRole('button', { name: `Run cell ${c.helpers}`, exact: true });
  await run.click();
  assert.equal(await finished(page, c.helpers, patient(90_000)), 'ok', await pageState(page));
  assert.equal(dropped, 1, "the cell's first request was not the one lost");
  dropping = 2;
  const rerun = await runOf(page, c.helpers);
  await run.click();
  assert.equal(await rerun(patient(120_000)), 'aborted', await pageState(page));
  assert.equal(dropped, 3);
  assert.match(
    (await page.getByTestId('live-notice').textContent()) ?? '',
    /did not take this cell.*Restart the notebook kernel/,
  );
  await page.close();
});

test('a reload keeps the edit and the notebook kernel; Reset restores the original', async () => {
  assert.ok(c.resetsLast, "notebook 03's last cell no longer calls resetLab()");
  const { page } = await openNotebook();
  // The session from the test before is joined at load: the kernel still holds its server and probe.
  await page
    .getByTestId('live-notice')
    .filter({ hasText: 'Reconnected' })
    .waitFor({ timeout: patient(20_000) });
  await page
    .getByTestId('kernel-state')
    .filter({ hasText: /^idle$/ })
    .waitFor({ timeout: patient(10_000) });
  assert.match(await codeOf(page, c.request3), /arg=5/, 'the edit did not survive the reload');
  await cell(page, c.request3)
    .getByRole('button', { name: `Reset cell ${c.request3} to the original` })
    .click();
  assert.match(await codeOf(page, c.request3), /arg=3/);
  await page.reload({ waitUntil: 'networkidle' });
  await page.locator('[data-testid="live-bar"][data-live="ready"]').waitFor({ timeout: patient(20_000) });
  await cell(page, c.request3).locator('.cm-content').waitFor();
  assert.match(await codeOf(page, c.request3), /arg=3/, 'Reset did not stick');
  assert.equal(
    await cell(page, c.request3)
      .getByRole('button', { name: /^Reset/ })
      .count(),
    0,
  );
  // The last cell releases what the kernel holds: what cells 2 and 3 kept before the reload.
  await page.getByRole('button', { name: `Run cell ${c.last}`, exact: true }).click();
  assert.equal(await finished(page, c.last), 'ok');
  assert.match((await cell(page, c.last).textContent()) ?? '', /released: \[ 'demo-uretprobe', 'server' \]/);
  await page.close();
});

test('Run all on notebook 03: the live event table fills in and the crash shows', async () => {
  const { page, errors } = await openNotebook();
  await page.getByRole('button', { name: /Run all/ }).click();
  // Mid-run: the table already has rows while later cells still run.
  await eventRows(page)
    .nth(1)
    .waitFor({ timeout: patient(120_000) });
  await cell(page, c.table).scrollIntoViewIfNeeded();
  await page.evaluate(() => window.scrollBy(0, -120)); // below the sticky bar, with the table and the cells running after it
  await page.screenshot({ path: join(screenshots, 'live-notebook-mid-run.png'), fullPage: false });
  assert.equal(await finished(page, c.last), 'ok', (await page.locator('main').textContent())?.slice(-500));
  // Every code cell on the page ran (an exercise's cells show as its card, not as cells).
  const runs = await page
    .locator('[data-cell]')
    .evaluateAll((els) => els.map((e) => `${e.getAttribute('data-cell')}:${e.getAttribute('data-run')}`));
  assert.ok(runs.length >= 6, `only ${runs.length} code cells on the page`);
  assert.deepEqual(
    runs.filter((r) => !r.endsWith(':ok')),
    [],
    'cells that did not run ok',
  );
  assert.ok((await eventRows(page).count()) >= 2, 'fewer than 2 rows in the live event table');
  assert.match(
    (await cell(page, c.crashed).textContent()) ?? '',
    /unexpected return pc for main\.demo called from 0x7fffffffe000/,
  );
  await page.screenshot({ path: join(screenshots, 'live-notebook-after-run-all.png'), fullPage: true });
  assert.deepEqual(errors, []);
  await page.close();
});

test('Restart & run all starts a fresh notebook kernel and runs every cell', async () => {
  const { page } = await openNotebook();
  const states: string[] = [];
  await page.exposeFunction('labState', (s: string) => states.push(s));
  await page.evaluate(() => {
    const el = document.querySelector('[data-testid="kernel-state"]')!;
    new MutationObserver(() =>
      (window as unknown as { labState(s: string): void }).labState(el.textContent ?? ''),
    ).observe(el, { childList: true, characterData: true, subtree: true });
  });
  await page.getByRole('button', { name: 'Restart & run all' }).click();
  const ended = await finished(page, c.last);
  const seen = `states seen: ${states.join(' → ')}`;
  const state = await pageState(page);
  assert.equal(ended, 'ok', `${seen}\n${state}`);
  assert.ok(states.includes('restarting'), seen);
  assert.ok(states.includes('busy'), seen);
  assert.match(
    (await cell(page, c.helpers).textContent()) ?? '',
    /In \[1\]/,
    `the fresh notebook kernel did not count from 1\n${state}`,
  );
  assert.ok((await eventRows(page).count()) >= 2, `fewer than 2 live event rows\n${seen}\n${state}`);
  await page.close();
});

test('a cell run before the cells it needs says so and runs them', async () => {
  const { page } = await openNotebook();
  await restartKernel(page);
  await page.getByRole('button', { name: `Run cell ${c.table}`, exact: true }).click();
  assert.equal(await finished(page, c.table), 'error', await pageState(page));
  const hint = cell(page, c.table).getByTestId('needs-above');
  assert.match(
    (await hint.textContent()) ?? '',
    new RegExp(`cells? ${c.helpers}, ${c.server} above.*run the cells above first`),
  );
  const rerun = await runOf(page, c.table);
  await hint.getByRole('button', { name: `Run cells 1–${c.table}` }).click();
  assert.equal(await rerun(), 'ok');
  assert.equal(await cell(page, c.table).getByTestId('needs-above').count(), 0);
  await page.close();
});

// Jupyter says "idle" (the old kernel's last word) moments into a restart, long before the new kernel
// answers; a cell sent then went into the reconnect and was lost. Run now waits for the new kernel.
test('a cell run while the notebook kernel restarts waits for the new kernel and is sent once', async () => {
  const page = await granted.newPage();
  let requests = 0;
  await page.routeWebSocket(/\/api\/kernels\/[^/]+\/channels/, (ws) => {
    const server = ws.connectToServer();
    ws.onMessage((frame) => {
      const text = typeof frame === 'string' ? frame : frame.toString('latin1');
      if (text.includes('"execute_request"') && text.includes('kernel-helpers/load.cjs')) requests++;
      server.send(frame);
    });
  });
  await page.goto(new URL(crashPage, lab.site.url).href, { waitUntil: 'networkidle' });
  await page.locator('[data-testid="live-bar"][data-live="ready"]').waitFor({ timeout: patient(20_000) });
  const run = page.getByRole('button', { name: `Run cell ${c.helpers}`, exact: true });
  await run.click(); // a kernel to restart, whether or not an earlier test left one
  assert.equal(await finished(page, c.helpers), 'ok', await pageState(page));
  const rerun = await runOf(page, c.helpers);
  // A reader's click the moment the page says "idle" again, before the test could look.
  await page.evaluate((n) => {
    const state = document.querySelector('[data-testid="kernel-state"]')!;
    let restarting = false;
    const w = window as unknown as { seen: string[] };
    w.seen = [];
    const options = { childList: true, characterData: true, subtree: true };
    new MutationObserver(() => w.seen.push(state.textContent ?? '')).observe(state, options);
    const watch = new MutationObserver(() => {
      if (state.textContent === 'restarting') restarting = true;
      if (restarting && state.textContent === 'idle') {
        watch.disconnect();
        document.querySelector<HTMLButtonElement>(`button[aria-label="Run cell ${n}"]`)!.click();
      }
    });
    watch.observe(state, options);
  }, c.helpers);
  await page.getByRole('button', { name: 'Restart the notebook kernel' }).click();
  assert.equal(await rerun(), 'ok', await pageState(page));
  // Once the page says "idle" again the restart is over: it never goes back to starting.
  const seen = await page.evaluate(() => (window as unknown as { seen: string[] }).seen);
  const idle = seen.indexOf('idle');
  assert.ok(idle > 0 && !seen.slice(idle).some((s) => /starting/.test(s)), `states seen: ${seen.join(' → ')}`);
  assert.equal(requests, 2, 'the cell was sent again: its first request after the restart was lost');
  assert.match((await cell(page, c.helpers).textContent()) ?? '', /In \[1\]/, 'it ran in the new kernel');
  await page.close();
});

test('Interrupt stops a waiting cell and releases what it attached', async () => {
  const { page } = await openNotebook();
  const waiting = `${await codeOf(page, c.table)}\nawait new Promise((r) => setTimeout(r, 120000));`;
  await setCode(page, c.table, waiting);
  await page.getByRole('button', { name: `Run cells 1 to ${c.table}` }).click();
  await page.waitForFunction(
    (n) => document.querySelector(`[data-cell="${n}"]`)?.getAttribute('data-run') === 'running',
    c.table,
    { timeout: patient(60_000) },
  );
  // The live output, not the recorded one the page shows until the cell prints.
  await cell(page, c.table)
    .locator('[data-output="live"]')
    .getByText(/attached uretprobe on main\.demo/)
    .waitFor({ timeout: patient(30_000) });
  await page.getByRole('button', { name: 'Interrupt the notebook kernel' }).click();
  assert.notEqual(await finished(page, c.table, 20_000), 'ok');
  await page
    .getByTestId('live-notice')
    .filter({ hasText: /released .*demo-uretprobe/ })
    .waitFor({ timeout: patient(20_000) });
  // What is left: the server cell 2 kept, not the probe.
  await page.getByRole('button', { name: `Run cell ${c.last}`, exact: true }).click();
  assert.equal(await finished(page, c.last), 'ok');
  assert.match((await cell(page, c.last).textContent()) ?? '', /released: \[ 'server' \]/);
  await cell(page, c.table)
    .getByRole('button', { name: `Reset cell ${c.table} to the original` })
    .click();
  await page.close();
});

test('a browser without the grant, and a wrong token, get the diagnosis that says what to do', async () => {
  const stranger = await lab.browser.newContext();
  const page = await stranger.newPage();
  await page.goto(new URL(crashPage, lab.site.url).href, { waitUntil: 'networkidle' });
  const bar = page.locator('[data-testid="live-bar"][data-live="unreachable"]');
  await bar.waitFor({ timeout: patient(20_000) });
  assert.equal(await page.getByTestId('live-diagnosis').getAttribute('data-problem'), 'forbidden');
  assert.match((await bar.textContent()) ?? '', /no grant.*open the one-time link \.\/lab start printed/);
  assert.doesNotMatch((await bar.textContent()) ?? '', /\?\./);

  // The reader's own server with a stale token: Jupyter answers 403.
  await page.goto(new URL('/live/', lab.site.url).href, { waitUntil: 'networkidle' });
  await page.getByLabel('Jupyter URL').fill(lab.jupyter.url);
  await page.getByLabel(/^Token/).fill('not-the-token');
  await page.getByRole('button', { name: 'Check and save' }).click();
  const status = page.getByRole('status').filter({ hasText: /not saved/ });
  await status.waitFor({ timeout: patient(10_000) });
  assert.match((await status.textContent()) ?? '', /refused the token \(HTTP 403\).*paste the current token/);
  // Saved anyway (a token that went stale later): the notebook page says the same.
  await page.evaluate(
    ([url]) => localStorage.setItem('go-uretprobe-lab.jupyter', JSON.stringify({ url, token: 'stale' })),
    [lab.jupyter.url],
  );
  await page.goto(new URL(crashPage, lab.site.url).href, { waitUntil: 'networkidle' });
  await bar.waitFor({ timeout: patient(20_000) });
  assert.match((await bar.textContent()) ?? '', /HTTP 403/);
  // Live mode checks before it calls a server current.
  await page.goto(new URL('/live/', lab.site.url).href, { waitUntil: 'networkidle' });
  await page
    .getByTestId('live-current')
    .filter({ hasText: /not usable.*HTTP 403/ })
    .waitFor({ timeout: patient(10_000) });
  await stranger.close();

  const ok = await granted.newPage();
  await ok.goto(new URL('/live/', lab.site.url).href, { waitUntil: 'networkidle' });
  const current = ok.getByTestId('live-current');
  await current
    .filter({ hasText: /answers — the notebook pages run their cells there/ })
    .waitFor({ timeout: patient(10_000) });
  assert.equal(await current.getAttribute('data-answers'), 'true');
  await ok.close();
});

test('the notebook kernel dying, then the server going away, are both told with what to do', async () => {
  const { page } = await openNotebook();
  await page.getByRole('button', { name: `Run cell ${c.helpers}`, exact: true }).click();
  assert.equal(await finished(page, c.helpers), 'ok');
  const kernels = kernelPids(jupyterServerPid(lab.jupyter.url));
  assert.ok(kernels.length > 0, 'no tslab kernel process under Jupyter');
  for (const pid of kernels) process.kill(pid, 'SIGKILL');
  const died = page.getByTestId('session-problem');
  await died.filter({ hasText: /notebook kernel died.*Run all/ }).waitFor({ timeout: patient(30_000) });
  await page
    .getByTestId('kernel-state')
    .filter({ hasText: /^idle$/ })
    .waitFor({ timeout: patient(60_000) });

  await lab.jupyter.stop();
  await page
    .getByTestId('kernel-state')
    .filter({ hasText: /^disconnected$/ })
    .waitFor({ timeout: patient(30_000) });
  await died.filter({ hasText: /stopped answering mid-session.*\.\/lab start/ }).waitFor({ timeout: patient(30_000) });
  await page.getByRole('button', { name: `Run cell ${c.helpers}`, exact: true }).click();
  await page
    .getByTestId('live-notice')
    .filter({ hasText: /Cell could not run: .*stopped answering/ })
    .waitFor({ timeout: patient(30_000) });
  await page.screenshot({ path: join(screenshots, 'live-notebook-server-gone.png') });
  // A page opened now finds the proxy answering for a Jupyter that is not there.
  await page.reload({ waitUntil: 'networkidle' });
  await page.locator('[data-testid="live-bar"][data-live="unreachable"]').waitFor({ timeout: patient(20_000) });
  assert.equal(await page.getByTestId('live-diagnosis').getAttribute('data-problem'), 'unreachable');
  assert.match(
    (await page.getByTestId('live-diagnosis').textContent()) ?? '',
    /cannot reach Jupyter \(HTTP 502\).*\.\/lab start/,
  );
  await page.close();
});
