// lab-test: concurrent — its own site, Chromium, Jupyter and progress file; probes only private server copies; checks nothing machine-wide.
// Exercises on the built site in Chromium. Without Jupyter: a prediction locked in is judged only when
// the learner asks, retried alone; the evidence is judged on the recorded crash dump in every printed
// format; a pass stays through a wrong attempt and a reload; reset clears it.
// With a real Jupyter: a "do it" cell edited to the solution and run (its Check) passes on the kernel.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Page } from 'playwright-core';
import { siteServe } from '../../engines/services/site.ts';
import { parseCrash } from '../../model/forensics.ts';
import { exercise, type Prediction, type Task } from '../../model/exercises/catalog.ts';
import { attemptCell } from '../../model/exercises/card.ts';
import { startJupyter } from '../../engines/services/jupyter.ts';
import { notebookView } from '../../src/lib/notebook.ts';
import { at } from '../../core/paths.ts';
import { screenshots, siteInChromium } from '../support/site.ts';
import { patient } from '../../core/patience.ts';

const lab = siteInChromium();

async function open(page: Page, path: string): Promise<string[]> {
  const problems: string[] = [];
  page.on('console', (m) => m.type() === 'error' && problems.push(`console: ${m.text()}`));
  page.on('pageerror', (e) => problems.push(`exception: ${e.message}`));
  await page.goto(new URL(path, lab.site.url).href, { waitUntil: 'networkidle' });
  return problems;
}

test('fair exercises on the recorded page: the evidence in every printed format, a pass kept through a wrong attempt and a reload; a prediction judged only when asked, retried alone', async () => {
  const nb = JSON.parse(readFileSync(at('notebooks', '04-why-go-stacks.ipynb'), 'utf8'));
  const dump = nb.cells.find((c: { id: string }) => c.id === '04-ex-hijacked-slot-dump');
  const f = parseCrash(dump.outputs.map((o: { text: string[] }) => o.text.join('')).join(''))!;
  assert.ok(f?.slot && f.victim, 'the recorded dump holds the slot');
  const ctx = await lab.browser.newContext();
  const page = await ctx.newPage();
  const problems = await open(page, '/notebooks/04-why-go-stacks/');
  const evidence = page.locator('[data-exercise="04-hijacked-slot"]');
  const check = async (slot: string, frame: string) => {
    await evidence.getByLabel("the hijacked slot's address").fill(slot);
    await evidence.getByLabel('whose return address it held').fill(frame);
    await evidence.getByTestId('exercise-check').click();
    const v = evidence.getByTestId('exercise-verdict');
    return { pass: await v.getAttribute('data-pass'), text: (await v.textContent()) ?? '' };
  };
  // The address as the Go 1.26 dump prints addresses (16 digits, no 0x), and as a learner retypes it.
  const digits = BigInt(f.slot.address).toString(16).padStart(16, '0');
  for (const typed of [digits, `0x${digits}`, digits.toUpperCase(), f.slot.address]) {
    const v = await check(typed, f.victim);
    assert.equal(v.pass, 'true', `${typed}: ${v.text}`);
  }
  assert.match((await check(digits, f.victim)).text, new RegExp(`${f.slot.address} held 0x7fffffffe000`));
  assert.equal(
    (await evidence.locator('[data-testid="exercise-verdict"] code').count()) > 0,
    true,
    'markdown rendered',
  );
  const wrong = await check(digits, 'main.growStack');
  assert.equal(wrong.pass, 'false');
  assert.match(wrong.text, /the slot is right, the frame is wrong/);
  assert.doesNotMatch(wrong.text, /`/, 'no raw markdown');
  assert.equal(await evidence.getByTestId('exercise-attempts').getAttribute('data-passed'), 'true', 'the pass stays');
  assert.match(
    (await evidence.getByTestId('exercise-attempts').textContent()) ?? '',
    /Passed before: the pass is kept/,
  );

  const ex = exercise('04-what-walked-the-stack') as Prediction;
  const card = page.locator(`[data-exercise="${ex.name}"]`);
  const choice = (id: string) => card.getByLabel(`${id}) ${ex.choices.find((c) => c.id === id)!.text}`);
  const other = ex.choices.find((c) => c.id !== ex.answer)!.id;
  await choice(other).check();
  await card.getByTestId('exercise-lock-in').click();
  await card.getByTestId('exercise-locked').waitFor();
  assert.equal(await card.getByTestId('exercise-verdict').count(), 0, 'locked in: no verdict yet');
  assert.equal(await card.getByTestId('exercise-why').count(), 0, 'and no explanation');
  assert.ok(await choice(ex.answer).isDisabled(), 'the answer is locked in');
  await card.getByTestId('exercise-show-answer').click();
  const verdict = card.getByTestId('exercise-verdict');
  assert.equal(await verdict.getAttribute('data-pass'), 'false');
  const said = (await verdict.textContent()) ?? '';
  assert.match(said, new RegExp(`you said ${other}\\).*; the recorded run shows ${ex.answer}\\)`));
  assert.doesNotMatch(said, /\*\*|`/, 'the verdict renders its markdown');
  assert.match((await card.getByTestId('exercise-why').textContent()) ?? '', /copystack/, 'the reason, once judged');
  await page.screenshot({ path: join(screenshots, 'exercise-predict.png'), fullPage: false });

  await card.getByTestId('exercise-retry').click();
  assert.ok(!(await choice(ex.answer).isDisabled()), 'Try again opens this exercise');
  assert.equal(await card.getByTestId('exercise-verdict').count(), 0);
  assert.equal(
    await evidence.getByTestId('exercise-attempts').getAttribute('data-passed'),
    'true',
    'the other exercise keeps its state',
  );
  await choice(ex.answer).check();
  await card.getByTestId('exercise-lock-in').click();
  assert.equal(await card.getByTestId('exercise-verdict').count(), 0);
  await card.getByTestId('exercise-show-answer').click();
  assert.equal(await card.getByTestId('exercise-verdict').getAttribute('data-pass'), 'true');
  assert.match((await card.getByTestId('exercise-progress').textContent()) ?? '', /^2 of 2 exercises/);

  await page.reload({ waitUntil: 'networkidle' });
  const after = page.locator(`[data-exercise="${ex.name}"]`);
  await after.getByTestId('exercise-verdict').waitFor();
  assert.equal(await after.getByTestId('exercise-verdict').getAttribute('data-pass'), 'true');
  assert.match(
    (await after.getByTestId('exercise-attempts').textContent()) ?? '',
    new RegExp(`1\\. ${other} ✗ · 2\\. ${ex.answer} ✓`),
    'the first answer is recorded',
  );
  assert.equal(
    await page
      .locator('[data-exercise="04-hijacked-slot"] [data-testid="exercise-attempts"]')
      .getAttribute('data-passed'),
    'true',
    'pass, wrong attempt, reload: still passed',
  );
  assert.match((await after.getByTestId('exercise-progress').textContent()) ?? '', /^2 of 2 exercises/);
  await after.getByTestId('exercise-reset').click();
  assert.match((await after.getByTestId('exercise-progress').textContent()) ?? '', /^0 of 2 exercises/);

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
    await page.locator('[data-testid="live-bar"][data-live="ready"]').waitFor({ timeout: patient(20_000) });
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
        { timeout: patient(120_000) },
      );
      const out = page.locator(`[data-cell="${k}"] [data-output="live"]`);
      return (await out.count()) > 0 ? out.first().textContent() : '';
    };
    // Predict, then run: the answer is locked in, Run it runs the notebook down to the cell that shows the truth.
    const predict = page.locator('[data-exercise="05-demo-ret-count"]');
    await predict.getByLabel('1) 1').check();
    await predict.getByTestId('exercise-lock-in').click();
    await predict.getByTestId('exercise-locked').waitFor();
    assert.equal(await predict.getByTestId('exercise-verdict').count(), 0, 'no verdict before its cell ran');
    const reveal = code.findIndex((c) => c.exercise?.name === '05-demo-ret-count' && c.exercise.part === 'check');
    await predict.getByTestId('exercise-run-reveal').click();
    await page.waitForFunction(
      (x) => document.querySelector(`[data-cell="${x}"]`)?.getAttribute('data-run') === 'ok',
      reveal,
      { timeout: patient(120_000) },
    );
    assert.match(
      (await page.locator(`[data-cell="${reveal}"] [data-output="live"]`).textContent()) ?? '',
      /ret/i,
      'the RET table ran live',
    );
    await predict.locator('[data-testid="exercise-verdict"][data-pass="true"]').waitFor();
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

    // Errors in the cell's own words, as the live page shows them: the message, then the cell's line.
    await page.locator('[data-testid="live-bar"][data-live="ready"]').waitFor({ timeout: patient(20_000) });
    const replace = async (code: string) => {
      await editor.click();
      await page.keyboard.press('Control+A');
      await page.keyboard.insertText(code);
    };
    await replace('const a = 1;\nconst b: number = a + 1;\nthrow new Error(`boom at ${b + 1}`);');
    const thrown = (await run(n)) ?? '';
    assert.match(thrown, /Error: boom at 3\s+at line 3, column 7 of this cell/);
    assert.doesNotMatch(thrown, /evalmachine|tslab|jupyter|node:vm/);
    await page.screenshot({ path: join(screenshots, 'cell-error-live.png'), fullPage: false });
    // Interrupt: the cell says so and what it released, without a stack.
    await replace(
      'await lab.keep("held", { close() {} });\nconsole.log("waiting");\nawait new Promise((r) => setTimeout(r, 600_000));',
    );
    await page.getByRole('button', { name: `Run cell ${n}`, exact: true }).click();
    await page
      .locator(`[data-cell="${n}"] [data-output="live"]`)
      .getByText('waiting')
      .waitFor({ timeout: patient(60_000) });
    await page.getByRole('button', { name: 'Interrupt the notebook kernel' }).click();
    const stopped = page.locator(`[data-cell="${n}"] [data-kind="error"]`);
    await stopped.waitFor({ timeout: patient(30_000) });
    const said = (await stopped.textContent()) ?? '';
    assert.match(said, /^Interrupted: this cell was interrupted — released what it had kept: held$/);
    await page
      .getByTestId('live-notice')
      .filter({ hasText: /released .*held/ })
      .waitFor({ timeout: patient(20_000) });
    assert.deepEqual(errors, []);
  } finally {
    await ctx.close();
    await live.stop();
    rmSync(dir, { recursive: true, force: true });
  }
});
