// lab-test: concurrent — its own site server and Chromium on a free port; checks nothing machine-wide.
// The site on a 390 px phone, in Chromium against the production build: the crash matrix as one card
// per trigger with every probe's outcome in view, diagrams that fit their column whole (the hijack
// diagram's every lane) with an "Expand diagram" control, and a live notebook's controls small and opaque.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Page } from 'playwright-core';
import { at } from '../../core/paths.ts';
import { matrixCellLabel } from '../../model/crash-matrix.ts';
import type { CrashMatrix } from '../../src/lib/data-types.ts';
import { fencesOf, openPage, renderedDiagrams, screenshots, siteInChromium } from '../support/site.ts';
import { patient } from '../../core/patience.ts';

const lab = siteInChromium();
const phone = { width: 390, height: 844 };

const open = async (path: string, colorScheme: 'light' | 'dark' = 'light'): Promise<Page> =>
  (await openPage(lab.browser, new URL(path, lab.site.url).href, { base: lab.site.url, viewport: phone, colorScheme }))
    .page;

test('on a 390 px phone the crash matrix shows each trigger’s uretprobe and RET-site outcomes, no sideways scrolling', async () => {
  const m = JSON.parse(readFileSync(at('docs', 'data', 'crash-matrix.json'), 'utf8')) as CrashMatrix;
  const page = await open('/docs/crash/matrix/');
  await page.getByTestId('crash-matrix').waitFor();
  const seen = await page.evaluate(() => {
    const out: { go: string; trigger: string; probe: string; text: string; left: number; right: number }[] = [];
    for (const table of Array.from(document.querySelectorAll('[data-testid="crash-matrix"] table'))) {
      const go = document.getElementById(table.getAttribute('aria-labelledby') ?? '')?.textContent ?? '';
      for (const td of Array.from(table.querySelectorAll<HTMLElement>('td[data-probe]'))) {
        const r = td.getBoundingClientRect();
        const label = td.querySelector('[class*="label"]')?.textContent ?? '';
        const trigger = td.closest('tr')?.getAttribute('data-trigger') ?? '';
        out.push({ go, trigger, probe: td.dataset.probe!, text: label, left: r.left, right: r.right });
      }
    }
    return { out, scrollWidth: document.documentElement.scrollWidth };
  });
  await page
    .getByTestId('crash-matrix')
    .locator('table')
    .first()
    .screenshot({ path: join(screenshots, 'phone-crash-matrix-cards.png') });
  await page.close();
  assert.ok(seen.scrollWidth <= phone.width, `the page is ${seen.scrollWidth} px wide`);
  const problems: string[] = [];
  for (const go of m.toolchains) {
    for (const t of m.triggers) {
      for (const probe of ['uretprobe', 'ret']) {
        const cell = m.cells.find((c) => c.go === go && c.trigger === t.id && c.probe === probe);
        const shown = seen.out.find((s) => s.go === go && s.trigger === t.id && s.probe === probe);
        const where = `${go} · ${t.id} · ${probe}`;
        if (!cell) continue;
        if (!shown) problems.push(`${where}: not on the page`);
        else if (shown.left < 0 || shown.right > phone.width)
          problems.push(`${where}: at ${shown.left}–${shown.right} px`);
        else if (shown.text !== matrixCellLabel(cell)) problems.push(`${where}: says "${shown.text}"`);
      }
    }
  }
  assert.deepEqual(problems, []);
});

test('on a phone the hijack diagram shows every lane in its column, and "Expand diagram" shows it at full size', async () => {
  const page = await open('/docs/uprobes/uretprobes/');
  assert.ok((await renderedDiagrams(page, 2)) >= 2, 'the diagrams did not render');
  const hijack = page.locator('.docusaurus-mermaid-container svg[aria-roledescription="sequence"]').first();
  await hijack.scrollIntoViewIfNeeded();
  const fit = await hijack.evaluate((svg) => {
    const column = svg.closest('article')!.getBoundingClientRect();
    const lanes = Array.from(svg.querySelectorAll('rect.actor, rect[class*="actor"]'))
      .map((r) => r.getBoundingClientRect())
      .filter((r) => r.width > 0);
    return {
      lanes: lanes.length,
      outside: lanes.filter((r) => r.left < column.left - 1 || r.right > column.right + 1).length,
      width: svg.getBoundingClientRect().width,
      column: column.width,
      natural: Number(svg.getAttribute('width')),
    };
  });
  await page.screenshot({ path: join(screenshots, 'phone-hijack-diagram.png') });
  assert.ok(fit.lanes >= 4, `only ${fit.lanes} lane boxes drawn`);
  assert.equal(fit.outside, 0, `${fit.outside} of ${fit.lanes} lane boxes outside the ${fit.column} px column`);
  assert.ok(fit.width <= fit.column + 1, `the diagram is ${fit.width} px in a ${fit.column} px column`);

  const expand = page.getByRole('button', { name: /^Expand diagram: How a uretprobe hijacks/ });
  await expand.click();
  const dialog = page.getByRole('dialog');
  await dialog.waitFor();
  const zoomed = await dialog.locator('svg').evaluate((svg) => svg.getBoundingClientRect().width);
  assert.ok(Math.abs(zoomed - fit.natural) < 2, `expanded to ${zoomed} px, its natural size is ${fit.natural} px`);
  await page.keyboard.press('Escape');
  await dialog.waitFor({ state: 'detached' });
  assert.ok(
    await expand.evaluate((b) => b === document.activeElement),
    'the focus did not come back to "Expand diagram"',
  );
  await page.close();
});

test('on a phone every diagram fits its column or has an Expand control beside it', async () => {
  const problems: string[] = [];
  for (const path of ['/docs/workshop/', '/docs/go-stacks/growth/', '/docs/crash/signatures/']) {
    const page = await open(path);
    const expected = fencesOf(path);
    assert.equal(await renderedDiagrams(page, expected), expected, `${path}: not every diagram rendered`);
    // Each wrapper measures its diagram once it is drawn: a few moments for the last one.
    const measure = () =>
      page.evaluate(() =>
        Array.from(document.querySelectorAll('.docusaurus-mermaid-container svg[aria-roledescription]')).flatMap(
          (svg) => {
            const column = svg.closest('article')!.getBoundingClientRect().width;
            const w = svg.getBoundingClientRect().width;
            const natural = Number(svg.getAttribute('width'));
            const control = svg.closest('[data-lab-diagram]')?.querySelector('button[aria-label^="Expand diagram"]');
            if (w > column + 1) return [`${Math.round(w)} px in a ${Math.round(column)} px column`];
            if (natural > column + 1 && !control) return [`scaled from ${natural} px with no Expand control`];
            return [];
          },
        ),
      );
    let wide = await measure();
    for (let i = 0; i < 40 && wide.length; i++) {
      await page.waitForTimeout(250);
      wide = await measure();
    }
    problems.push(...wide.map((w) => `${path}: ${w}`));
    await page.close();
  }
  assert.deepEqual(problems, []);
});

test('on a phone a wide left-to-right flowchart is drawn top to bottom, its text readable in the column', async () => {
  const page = await open('/docs/workshop/');
  assert.ok((await renderedDiagrams(page, 1)) >= 1, 'the diagram did not render');
  const box = page.locator('[data-lab-diagram]').first();
  // Drawn as written first, then (on a phone) tried top to bottom: the vertical drawing settles in a moment.
  await page
    .waitForFunction(
      () => document.querySelector('[data-lab-diagram]')?.getAttribute('data-lab-variant') === 'vertical',
      undefined,
      { timeout: patient(10_000) },
    )
    .catch(() => {});
  const drawn = await box.evaluate((el) => {
    const svg = el.querySelector('.docusaurus-mermaid-container svg') as SVGSVGElement;
    const r = svg.getBoundingClientRect();
    const scale = r.width / (svg.viewBox.baseVal.width || r.width);
    const sizes = Array.from(svg.querySelectorAll('foreignObject span, foreignObject p, text'))
      .filter((t) => t.textContent!.trim())
      .map((t) => parseFloat(getComputedStyle(t).fontSize) * scale);
    return {
      variant: el.getAttribute('data-lab-variant'),
      smallest: Math.min(...sizes),
      width: r.width,
      column: el.getBoundingClientRect().width,
    };
  });
  await box.screenshot({ path: join(screenshots, 'phone-workshop-diagram.png') });
  await page.close();
  assert.equal(drawn.variant, 'vertical');
  assert.ok(drawn.width <= drawn.column + 1, `${drawn.width} px in a ${drawn.column} px column`);
  assert.ok(drawn.smallest >= 11.5, `its smallest text is drawn at ${drawn.smallest.toFixed(1)} px`);
});
