// lab-test: concurrent — its own site server, Chromium and Jupyter on free ports; checks nothing machine-wide.
// The tutorial site in a real browser: Debian's Chromium driven by playwright-core against the
// production build served by siteServe(). Screenshots go to test-results/screenshots/.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { release } from 'node:os';
import { siteServe } from '../../engines/services/site.ts';
import { notebookView } from '../../src/lib/notebook.ts';
import { parseCrash } from '../../model/forensics.ts';
import { at } from '../../core/paths.ts';
import { worstOutcome } from '../../model/crash-matrix.ts';
import type { CrashRecording, CrashMatrix } from '../../src/lib/data-types.ts';
import {
  builtPages,
  eachAtOnce,
  fencesOf,
  openPage,
  pagesAtOnce,
  renderedDiagrams,
  screenshots,
  siteInChromium,
} from '../support/site.ts';
import { patient } from '../../core/patience.ts';

const lab = siteInChromium();

const shotName = (path: string) => (path === '/' ? 'home' : path.replace(/^\/|\/$/g, '').replace(/\//g, '_'));

/** Opens a page of the served site (or of `base`), recording what goes wrong on it (support/site.ts). */
const open = (path: string, base = lab.site.url) => openPage(lab.browser, new URL(path, base).href, { base });

function mermaidFences(dir = at('docs')): Record<string, number> {
  const out: Record<string, number> = {};
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const p = join(dir, e.name);
    if (e.isDirectory()) Object.assign(out, mermaidFences(p));
    else if (/\.mdx?$/.test(e.name))
      out[relative(at('docs'), p)] = (readFileSync(p, 'utf8').match(/^```mermaid\s*$/gm) ?? []).length;
  }
  return out;
}

test('the build has every page of the story (>= 12 pages)', () => {
  const pages = builtPages(lab.site);
  assert.ok(pages.length >= 12, `only ${pages.length} pages: ${pages.join(' ')}`);
  for (const p of [
    '/',
    '/docs/intro/',
    '/docs/go-stacks/',
    '/docs/uprobes/',
    '/docs/crash/',
    '/docs/crash/matrix/',
    '/docs/safe-tracing/',
    '/docs/troubleshooting/',
    '/docs/references/',
    '/notebooks/',
    '/live/',
  ]) {
    assert.ok(pages.includes(p), `${p} is missing from the build`);
  }
  const external = pages.filter((p) =>
    /https?:\/\/(fonts\.googleapis|cdn\.|unpkg|www\.google-analytics)/.test(
      readFileSync(join(lab.site.dir, p, 'index.html'), 'utf8'),
    ),
  );
  assert.deepEqual(external, [], 'pages load external resources');
});

interface Visit {
  path: string;
  problems: string[];
  diagrams: number;
}
let visits: Promise<Visit[]> | undefined;
/** Visits every built page once (shared by the next two tests): problems, diagrams, a screenshot. */
function visitAll(): Promise<Visit[]> {
  return (visits ??= eachAtOnce(builtPages(lab.site), pagesAtOnce, async (path) => {
    const { page, problems } = await open(path);
    const diagrams = path.startsWith('/docs/') ? await renderedDiagrams(page, fencesOf(path)) : 0;
    await page.screenshot({
      path: join(screenshots, `${shotName(path)}.png`),
      fullPage: path === '/' || path === '/docs/crash/',
    });
    await page.close();
    return { path, problems, diagrams };
  }));
}

test('every page loads with no console errors, and screenshots are saved', async () => {
  const failures = (await visitAll())
    .filter((v) => v.problems.length)
    .map((v) => `${v.path}: ${v.problems.join('; ')}`);
  assert.deepEqual(failures, []);
  assert.ok(existsSync(join(screenshots, 'docs_crash.png')));
});

test('mermaid diagrams render to SVG on every doc page that has them', async () => {
  const expected = Object.values(mermaidFences()).reduce((a, b) => a + b, 0);
  const docs = (await visitAll()).filter((v) => v.path.startsWith('/docs/'));
  assert.deepEqual(
    docs.filter((v) => fencesOf(v.path) > 0 && v.diagrams < 1).map((v) => v.path),
    [],
    'doc pages whose diagrams did not render',
  );
  const rendered = docs.reduce((n, v) => n + Math.max(v.diagrams, 0), 0);
  assert.ok(expected >= 6, `only ${expected} mermaid blocks in docs/`);
  assert.equal(rendered, expected, `${rendered} diagrams rendered, ${expected} written`);
});

test('the stack explorer steps forward and back through the recorded crash', async () => {
  const rec = JSON.parse(readFileSync(at('docs', 'data', 'crash-recording.json'), 'utf8')) as CrashRecording;
  const frames = parseCrash(rec.stderr, rec.maps)?.frames ?? [];
  const probed = frames.find((f) => f.hijacked);
  assert.ok(probed?.fp && probed.sp, 'the recording has no hijacked frame with sp/fp');
  const { page, problems } = await open('/docs/crash/');
  const explorer = page.getByRole('region', { name: 'Stack explorer' });
  const step = () => explorer.getAttribute('data-step');
  assert.equal(await step(), '0');
  await explorer.getByRole('button', { name: 'Next step' }).click();
  assert.equal(await step(), '1');
  // The uretprobe step: the probed frame's return slot holds the trampoline address, and the frame's
  // addresses are the recorded ones.
  const hijacked = explorer.locator('[data-row="probed"]');
  assert.equal(await hijacked.locator('[data-slot-value]').textContent(), '0x7fffffffe000');
  const rowText = (await hijacked.textContent()) ?? '';
  assert.ok(rowText.includes(probed.fp!) && rowText.includes(probed.sp!), `frame addresses not shown: ${rowText}`);
  const uprobesLine = explorer.locator('table tr', { hasText: '[uprobes]' });
  assert.match((await uprobesLine.textContent()) ?? '', /0x7fffffffe000-0x7ffffffff000/);
  // The element's own screenshot scrolls it into view: a clip of the page is empty when it is below the fold.
  await explorer.screenshot({ path: join(screenshots, 'explorer-step-2.png') });

  // Keyboard: the explorer is focusable and follows the arrow keys.
  await explorer.focus();
  await page.keyboard.press('ArrowRight');
  assert.equal(await step(), '2');
  const innermost = frames[0];
  assert.ok(
    ((await explorer.textContent()) ?? '').includes(innermost.sp ?? 'missing'),
    'the innermost recorded frame is not on the stack view',
  );
  await page.keyboard.press('ArrowLeft');
  assert.equal(await step(), '1');
  await explorer.getByRole('button', { name: 'Previous step' }).click();
  assert.equal(await step(), '0');
  assert.ok(await explorer.getByRole('button', { name: 'Previous step' }).isDisabled(), 'Back is enabled on step 1');
  // Step 4 names the runtime functions from the recorded system-stack traceback.
  await explorer.focus();
  for (let i = 0; i < 3; i++) await page.keyboard.press('ArrowRight');
  assert.equal(await step(), '3');
  assert.match((await explorer.textContent()) ?? '', /runtime\.copystack ← runtime\.newstack ← runtime\.morestack/);
  await page.keyboard.press('End');
  const last = Number(await step());
  assert.ok(last >= 5, `only ${last + 1} steps`);
  const fatal = /^fatal error: .+$/m.exec(rec.stderr)?.[0];
  assert.ok(
    fatal && ((await explorer.textContent()) ?? '').includes(fatal),
    'the last step does not quote the recorded fatal error',
  );
  await page.screenshot({
    path: join(screenshots, 'explorer-last-step.png'),
    clip: (await explorer.boundingBox()) ?? undefined,
  });
  assert.deepEqual(problems, []);
  await page.close();
});

test('the crash matrix page shows the recorded matrix, or says it is not recorded', async () => {
  const file = at('docs', 'data', 'crash-matrix.json');
  const { page } = await open('/docs/crash/matrix/');
  if (!existsSync(file)) {
    assert.equal(await page.getByTestId('crash-matrix').count(), 0);
    assert.match(
      (await page.getByTestId('crash-matrix-missing').textContent()) ?? '',
      /Not recorded yet.*\.\/lab crash-matrix/,
    );
  } else {
    const m = JSON.parse(readFileSync(file, 'utf8')) as CrashMatrix;
    const table = page.getByTestId('crash-matrix');
    for (const go of m.toolchains) assert.ok(((await table.textContent()) ?? '').includes(go), `${go} missing`);
    // Labels come from the counts (model/crash-matrix.ts): a cell that crashed in any run is a crash.
    const crashes = m.cells.filter((c) => worstOutcome(c) === 'crash').length;
    assert.equal(await table.locator('td', { hasText: '✗ crash' }).count(), crashes);
    const survives = m.cells.filter((c) => worstOutcome(c) === 'survive').length;
    assert.equal(await table.locator('td', { hasText: '✓ survives' }).count(), survives);
  }
  await page.close();
});

function recordedNotebooks() {
  const dir = at('notebooks');
  const files = existsSync(dir)
    ? readdirSync(dir)
        .filter((f) => f.endsWith('.ipynb'))
        .sort()
    : [];
  return files.map((f) => ({
    raw: JSON.parse(readFileSync(join(dir, f), 'utf8')),
    view: notebookView(f, readFileSync(join(dir, f), 'utf8')),
  }));
}

const stripAnsi = (s: string) => s.replace(/\x1b\[[0-9;?]*[A-Za-z]/g, '');

test('notebook pages show their recorded outputs and when they were recorded', async () => {
  const notebooks = recordedNotebooks();
  assert.ok(
    notebooks.length > 0,
    'notebooks/ holds no .ipynb: there is no notebook page to check (the notebooks are recorded by ./lab notebooks)',
  );
  await eachAtOnce(notebooks, pagesAtOnce, async ({ raw, view }) => {
    const { page, problems } = await open(`/notebooks/${view.slug}/`);
    const note = (await page.getByTestId('recording-note').textContent()) ?? '';
    if (view.recording?.recordedAt) {
      assert.ok(
        note.includes(view.recording.recordedAt.slice(0, 19).replace('T', ' ')),
        `${view.file}: recording time missing in "${note}"`,
      );
      if (view.recording.kernel)
        assert.ok(note.includes(view.recording.kernel), `${view.file}: kernel missing in "${note}"`);
    }
    const outputs = view.cells.flatMap((c) => (c.kind === 'code' ? c.outputs : []));
    const shown = page.locator('[data-output="recorded"] [data-kind]');
    assert.equal(await shown.count(), outputs.length, `${view.file}: ${outputs.length} recorded outputs in the file`);
    for (const kind of ['png', 'html', 'stream', 'error'] as const) {
      const n = outputs.filter((o) => o.kind === kind).length;
      assert.equal(
        await page.locator(`[data-output="recorded"] [data-kind="${kind}"]`).count(),
        n,
        `${view.file}: ${kind} outputs`,
      );
    }
    // The first recorded stream line appears verbatim, colours removed.
    const stream = (raw.cells as { outputs?: { output_type: string; text?: string | string[] }[] }[])
      .flatMap((c) => c.outputs ?? [])
      .find((o) => o.output_type === 'stream');
    if (stream) {
      const line = stripAnsi([stream.text ?? ''].flat().join(''))
        .split('\n')
        .find((l) => l.trim())!
        .trim();
      assert.ok(
        ((await page.locator('main').textContent()) ?? '').includes(line),
        `${view.file}: "${line}" not on the page`,
      );
    }
    // The bar starts "looking" and settles once the page has asked for a server (later on a busy machine).
    await page.locator('[data-testid="live-bar"]:not([data-live="looking"])').waitFor({ timeout: patient(15_000) });
    assert.equal(await page.getByTestId('live-bar').getAttribute('data-live'), 'offline');
    assert.equal(
      await page.getByRole('button', { name: /^Run cell/ }).count(),
      0,
      'Run buttons without a Jupyter server',
    );
    assert.deepEqual(problems, [], view.file);
    await page.close();
  });
  const { page } = await open('/notebooks/');
  const listed = await page.locator('main li a').evaluateAll((as) => as.map((a) => a.getAttribute('href')));
  for (const { view } of notebooks)
    assert.ok(listed.includes(`/notebooks/${view.slug}/`), `${view.file} is not on /notebooks/`);
  await page.close();
});

test('with a real Jupyter server, Run executes cells on the tslab kernel and streams their output', async () => {
  const { startJupyter } = await import('../../engines/services/jupyter.ts');
  await using jupyter = await startJupyter();
  const live = await siteServe({ jupyter: { url: jupyter.url, token: jupyter.token } });
  try {
    const nb = recordedNotebooks().find((n) => n.view.slug.includes('preflight'))?.view;
    assert.ok(nb, 'no preflight notebook (notebooks/00-preflight.ipynb) to run');
    // A browser that never opened the grant link gets no kernel, and is told what to do.
    const stranger = await open(`/notebooks/${nb.slug}/`, live.url);
    const refused = stranger.page.locator('[data-testid="live-bar"][data-live="unreachable"]');
    await refused.waitFor({ timeout: patient(15_000) });
    assert.match((await refused.textContent()) ?? '', /link \.\/lab start printed/);
    assert.deepEqual(
      stranger.problems.filter((p) => !/HTTP 401 .*\/jupyter\/api\/status|status of 401/.test(p)),
      [],
    );
    await stranger.page.close();

    // The link ./lab start prints: it sets the session cookie and lands on the clean URL.
    assert.ok(live.grantUrl, 'siteServe with Jupyter made no grant link');
    const { page, problems } = await open(live.grantUrl, live.url);
    assert.equal(page.url(), live.url, 'the grant link does not redirect to the clean URL');
    await page.goto(new URL(`notebooks/${nb.slug}/`, live.url).href, { waitUntil: 'networkidle' });
    await page.locator('[data-testid="live-bar"][data-live="ready"]').waitFor({ timeout: patient(15_000) });
    const codeCells = nb.cells.filter((c) => c.kind === 'code');
    const target = codeCells.findIndex((c) => c.kind === 'code' && c.outputs.length > 0) + 1;
    assert.ok(target > 0, 'the preflight notebook has no cell with outputs');
    // Run every cell up to the first one with recorded output, in order, like a reader would.
    for (let n = 1; n <= target; n++) {
      await page.getByRole('button', { name: `Run cell ${n}` }).click();
      await page
        .locator(`[data-cell="${n}"]`)
        .getByText('running…')
        .waitFor({ state: 'detached', timeout: patient(120_000) });
    }
    const out = page.locator(`[data-cell="${target}"] [data-output="live"]`);
    await out.waitFor({ timeout: patient(30_000) });
    const text = (await out.textContent()) ?? '';
    assert.match(text, /BTF/, `live output of cell ${target}: ${text.slice(0, 300)}`);
    assert.match(
      text,
      new RegExp(release().replace(/[.+]/g, '\\$&')),
      'the live output does not come from this kernel',
    );
    assert.equal(
      await page.getByRole('alert').count(),
      0,
      await page
        .getByRole('alert')
        .allTextContents()
        .then((t) => t.join()),
    );
    assert.equal(await page.getByTestId('kernel-state').textContent(), 'idle');
    await page.screenshot({ path: join(screenshots, 'live-run.png'), fullPage: false });

    // Restart really restarts: the live outputs go, and the same cell run alone no longer finds the
    // helpers an earlier cell loaded.
    await page.getByRole('button', { name: 'Restart the notebook kernel' }).click();
    await out.waitFor({ state: 'detached', timeout: patient(30_000) });
    await page
      .getByTestId('kernel-state')
      .filter({ hasText: /^idle$/ })
      .waitFor({ timeout: patient(60_000) });
    await page.getByRole('button', { name: `Run cell ${target}` }).click();
    const after = page.locator(`[data-cell="${target}"] [data-output="live"]`);
    await after.waitFor({ timeout: patient(60_000) });
    await page
      .locator(`[data-cell="${target}"]`)
      .getByText('running…')
      .waitFor({ state: 'detached', timeout: patient(60_000) });
    // tslab type-checks each cell: a fresh kernel has no `lab` (compile error), or fails at run time.
    assert.match((await after.textContent()) ?? '', /Cannot find name 'lab'|lab is not defined/);
    assert.deepEqual(problems, []);
    await page.close();

    // A reader's own server: pasted into Live mode on a site that announces none.
    const reader = await open('/live/');
    assert.match((await reader.page.getByTestId('live-current').textContent()) ?? '', /none/);
    await reader.page.getByLabel('Jupyter URL').fill(`${jupyter.url}lab?token=${jupyter.token}`);
    await reader.page.getByRole('button', { name: 'Check and save' }).click();
    await reader.page
      .getByRole('status')
      .filter({ hasText: 'saved:' })
      .waitFor({ timeout: patient(10_000) });
    await reader.page.goto(new URL(`notebooks/${nb.slug}/`, lab.site.url).href, { waitUntil: 'networkidle' });
    const bar = reader.page.locator('[data-testid="live-bar"][data-live="ready"]');
    await bar.waitFor({ timeout: patient(15_000) });
    assert.match((await bar.textContent()) ?? '', /set in Live mode/);
    assert.ok(await reader.page.getByRole('button', { name: 'Run cell 1' }).isEnabled());
    assert.deepEqual(reader.problems, []);
    await reader.page.close();
  } finally {
    await live.stop();
  }
});

test("hovering a diagram's nodes raises no error in the page", async () => {
  const { page, problems } = await open('/docs/crash/');
  const nodes = page.locator('.docusaurus-mermaid-container svg g.node');
  await nodes.first().waitFor();
  const n = await nodes.count();
  assert.ok(n >= 5, `${n} diagram nodes on /docs/crash/`);
  for (let i = 0; i < n; i++) await nodes.nth(i).hover({ force: true });
  assert.deepEqual(problems, []);
});
