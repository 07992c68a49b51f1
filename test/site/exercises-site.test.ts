// lab-test: concurrent — its own site, Chromium, Jupyter and progress file; probes only private server copies; checks nothing machine-wide.
// Exercises on the built site in Chromium. Without Jupyter: a prediction locked in gets its verdict,
// the evidence is judged on the recorded crash dump, progress survives a reload, reset clears it.
// With a real Jupyter: a "do it" cell edited to the solution and run (its Check) passes on the kernel.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Page } from 'playwright-core';
import { siteServe } from '../../engines/services/site.ts';
import { parseCrash } from '../../engines/forensics.ts';
import { exercise, type Prediction, type Task } from '../../engines/exercises/catalog.ts';
import { attemptCell } from '../../engines/exercises/card.ts';
import { startJupyter } from '../../engines/services/jupyter.ts';
import { notebookView } from '../../src/lib/notebook.ts';
import { at } from '../../core/paths.ts';
import { screenshots, siteInChromium } from '../support/site.ts';

const lab = siteInChromium();

async function open(page: Page, path: string): Promise<string[]> {
  const problems: string[] = [];
  page.on('console', (m) => m.type() === 'error' && problems.push(`console: ${m.text()}`));
  page.on('pageerror', (e) => problems.push(`exception: ${e.message}`));
  await page.goto(new URL(path, lab.site.url).href, { waitUntil: 'networkidle' });
  return problems;
}

test('a prediction: locked in, judged with the reason, kept across a reload, cleared by reset', async () => {
  const ctx = await lab.browser.newContext();
  const page = await ctx.newPage();
  const problems = await open(page, '/notebooks/02-first-uprobe/');
  const ex = exercise('02-arg-register') as Prediction;
  const card = page.locator(`[data-exercise="${ex.name}"]`);
  await card.waitFor();
  assert.ok(
    !(await page
      .locator('[data-folded-cell]')
      .first()
      .evaluate((d) => (d as HTMLDetailsElement).open)),
    'the prediction cells are folded under the card on the site',
  );
  const wrong = ex.choices.find((c) => c.id !== ex.answer)!;
  await card.getByLabel(`${wrong.id}) ${wrong.text}`).check();
  await card.getByTestId('exercise-lock-in').click();
  const verdict = card.getByTestId('exercise-verdict');
  assert.equal(await verdict.getAttribute('data-pass'), 'false');
  assert.match(
    (await verdict.textContent()) ?? '',
    new RegExp(`You said ${wrong.id}; the recorded run shows ${ex.answer}\\)`),
  );
  assert.match((await verdict.textContent()) ?? '', /register ABI/, 'the verdict says why');
  assert.ok(
    await card.getByLabel(`${ex.answer}) ${ex.choices.find((c) => c.id === ex.answer)!.text}`).isDisabled(),
    'the answer is locked in',
  );
  await page.screenshot({ path: join(screenshots, 'exercise-predict.png'), fullPage: false });

  await page.reload({ waitUntil: 'networkidle' });
  const again = page.locator(`[data-exercise="${ex.name}"]`).getByTestId('exercise-verdict');
  await again.waitFor();
  assert.equal(await again.getAttribute('data-pass'), 'false', 'the verdict survives a reload');
  assert.ok(await page.locator(`[data-exercise="${ex.name}"]`).getByLabel(`${wrong.id}) ${wrong.text}`).isChecked());

  await page.locator(`[data-exercise="${ex.name}"]`).getByTestId('exercise-reset').click();
  assert.equal(
    await page.locator(`[data-exercise="${ex.name}"]`).getByTestId('exercise-verdict').count(),
    0,
    'reset clears the verdict',
  );
  await page.reload({ waitUntil: 'networkidle' });
  const fresh = page.locator(`[data-exercise="${ex.name}"]`);
  await fresh.waitFor();
  assert.equal(await fresh.getByTestId('exercise-verdict').count(), 0, 'and it stays cleared');
  assert.ok(!(await fresh.getByLabel(`${wrong.id}) ${wrong.text}`).isDisabled()), 'the choices are open again');
  const right = ex.choices.find((c) => c.id === ex.answer)!;
  await fresh.getByLabel(`${right.id}) ${right.text}`).check();
  await fresh.getByTestId('exercise-lock-in').click();
  assert.equal(await fresh.getByTestId('exercise-verdict').getAttribute('data-pass'), 'true');
  assert.match((await fresh.getByTestId('exercise-progress').textContent()) ?? '', /^1 of 2 exercises/);
  assert.deepEqual(problems, []);
  await ctx.close();
});

test('explain the evidence on the recorded crash dump; a "do it" card says what a privileged machine lets you do', async () => {
  const nb = JSON.parse(readFileSync(at('notebooks', '04-why-go-stacks.ipynb'), 'utf8'));
  const dump = nb.cells.find((c: { id: string }) => c.id === '04-ex-hijacked-slot-dump');
  const f = parseCrash(dump.outputs.map((o: { text: string[] }) => o.text.join('')).join(''))!;
  assert.ok(f?.slot && f.victim, 'the recorded dump holds the slot');
  const ctx = await lab.browser.newContext();
  const page = await ctx.newPage();
  const problems = await open(page, '/notebooks/04-why-go-stacks/');
  const card = page.locator('[data-exercise="04-hijacked-slot"]');
  await card.getByLabel("the hijacked slot's address").fill(f.slot.address);
  await card.getByLabel('whose return address it held').fill('main.growStack');
  await card.getByTestId('exercise-check').click();
  assert.match(
    (await card.getByTestId('exercise-verdict').textContent()) ?? '',
    /held the return address of main\.demo, not "main\.growStack"/,
  );
  await card.getByLabel('whose return address it held').fill(f.victim);
  await card.getByTestId('exercise-check').click();
  assert.equal(await card.getByTestId('exercise-verdict').getAttribute('data-pass'), 'true');
  assert.match(
    (await card.getByTestId('exercise-verdict').textContent()) ?? '',
    new RegExp(`${f.slot.address} held 0x7fffffffe000`),
  );

  await page.goto(new URL('/notebooks/05-tracing-safely/', lab.site.url).href, { waitUntil: 'networkidle' });
  const task = page.locator('[data-exercise="05-survive-growth"]');
  assert.match((await task.getByTestId('exercise-how').textContent()) ?? '', /no notebook kernel.*privileged machine/);
  await task.getByRole('button', { name: 'A hint' }).click();
  assert.equal(await task.getByTestId('exercise-hint').count(), 1);
  await task.getByRole('button', { name: 'Show the solution' }).click();
  assert.match((await task.textContent()) ?? '', /returnProbes\("main\.demo"/);
  assert.deepEqual(problems, []);
  await ctx.close();
});

test('live: a prediction locked in runs the notebook down to its truth; a "do it" cell edited to the solution and run is checked on the kernel, and the card keeps the pass', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'lab-exercises-site-'));
  process.env.LAB_EXERCISES_FILE = join(dir, 'exercises.json'); // the notebook kernel inherits it
  await using jupyter = await startJupyter();
  const live = await siteServe({ jupyter: { url: jupyter.url, token: jupyter.token } });
  const ctx = await lab.browser.newContext({ viewport: { width: 1280, height: 900 } });
  try {
    const grant = await ctx.newPage();
    await grant.goto(live.grantUrl!);
    await grant.close();
    const page = await ctx.newPage();
    const errors: string[] = [];
    page.on('pageerror', (e) => errors.push(e.message));
    await page.goto(new URL('/notebooks/05-tracing-safely/', live.url).href, { waitUntil: 'networkidle' });
    await page.locator('[data-testid="live-bar"][data-live="ready"]').waitFor({ timeout: 20_000 });
    const code = notebookView(
      '05-tracing-safely.ipynb',
      readFileSync(at('notebooks', '05-tracing-safely.ipynb'), 'utf8'),
    ).cells.filter((c) => c.kind === 'code');
    const n = code.findIndex((c) => c.exercise?.name === '05-survive-growth' && c.exercise.part === 'answer') + 1;
    const helpers = code.findIndex((c) => c.kind === 'code' && /kernel-helpers\/load\.cjs/.test(c.source)) + 1;
    assert.ok(n > 0 && helpers > 0);
    const card = page.locator('[data-exercise="05-survive-growth"]');
    assert.match((await card.getByTestId('exercise-how').textContent()) ?? '', /running it is the Check/);
    const run = async (k: number) => {
      await page.getByRole('button', { name: `Run cell ${k}`, exact: true }).click();
      await page.waitForFunction(
        (x) =>
          /^(ok|error|aborted)$/.test(document.querySelector(`[data-cell="${x}"]`)?.getAttribute('data-run') ?? ''),
        k,
        { timeout: 120_000 },
      );
      const out = page.locator(`[data-cell="${k}"] [data-output="live"]`);
      return (await out.count()) > 0 ? out.first().textContent() : '';
    };
    // Predict, then run: the answer is locked in, Run it runs the notebook down to the cell that shows the truth.
    const predict = page.locator('[data-exercise="05-demo-ret-count"]');
    await predict.getByLabel('1) 1').check();
    await predict.getByTestId('exercise-lock-in').click();
    assert.equal(await predict.getByTestId('exercise-verdict').getAttribute('data-pass'), 'true');
    const reveal = code.findIndex((c) => c.exercise?.name === '05-demo-ret-count' && c.exercise.part === 'check');
    await predict.getByTestId('exercise-run-reveal').click();
    await page.waitForFunction(
      (x) => document.querySelector(`[data-cell="${x}"]`)?.getAttribute('data-run') === 'ok',
      reveal,
      { timeout: 120_000 },
    );
    assert.match(
      (await page.locator(`[data-cell="${reveal}"] [data-output="live"]`).textContent()) ?? '',
      /ret/i,
      'the RET table ran live',
    );
    const editor = page.locator(`[data-cell="${n}"] .cm-content`);
    await editor.click();
    await page.keyboard.press('Control+A');
    await page.keyboard.insertText(attemptCell('05-survive-growth', (exercise('05-survive-growth') as Task).starter));
    assert.match((await run(n)) ?? '', /✗ not yet · 05-survive-growth: the server died: unexpected return pc/);
    await card.getByTestId('exercise-verdict').waitFor();
    assert.equal(await card.getByTestId('exercise-verdict').getAttribute('data-pass'), 'false');
    await editor.click();
    await page.keyboard.press('Control+A');
    await page.keyboard.insertText(attemptCell('05-survive-growth', (exercise('05-survive-growth') as Task).solution));
    assert.match((await run(n)) ?? '', /✓ pass · 05-survive-growth: the server survived demo\(2000\)/);
    await page.waitForFunction(
      () =>
        document
          .querySelector('[data-exercise="05-survive-growth"] [data-testid="exercise-verdict"]')
          ?.getAttribute('data-pass') === 'true',
    );
    await page.screenshot({ path: join(screenshots, 'exercise-live-check.png'), fullPage: false });
    await page.reload({ waitUntil: 'networkidle' });
    await page
      .locator('[data-exercise="05-survive-growth"] [data-testid="exercise-verdict"][data-pass="true"]')
      .waitFor();
    assert.match(
      (await page.locator('[data-exercise="05-survive-growth"] [data-testid="exercise-progress"]').textContent()) ?? '',
      /^2 of 3/,
      'the prediction and the task',
    );
    const saved = JSON.parse(readFileSync(process.env.LAB_EXERCISES_FILE!, 'utf8'));
    assert.equal(saved['05-survive-growth'].result.pass, true, 'the kernel kept the pass for ./lab exercises too');
    assert.deepEqual(errors, []);
  } finally {
    await ctx.close();
    await live.stop();
    rmSync(dir, { recursive: true, force: true });
  }
});
