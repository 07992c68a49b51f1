// lab-test: concurrent — its own site server and Chromium on a free port; checks nothing machine-wide.
// The site for a keyboard, a screen reader and WCAG AA, in Chromium against the production build:
// crash-matrix cells reached by Tab with their details, every diagram named and told in words,
// headings in order, code comments and labels at 4.5:1, a live notebook's opaque controls that never
// hide the focus, and code cells where Tab indents and Esc then Tab moves on.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Page } from 'playwright-core';
import { at } from '../../core/paths.ts';
import { accDescrOf, accTitleOf, keepAuthorLineBreaks } from '../../src/theme/Mermaid/prepare.ts';
import { builtPages, openPage, renderedDiagrams, siteInChromium } from '../support/site.ts';
import { patient } from '../../core/patience.ts';

const lab = siteInChromium();
const desk = { width: 1366, height: 900 };
const phone = { width: 390, height: 844 };

const open = async (
  path: string,
  viewport = desk,
  colorScheme: 'light' | 'dark' = 'light',
  before?: (page: Page) => Promise<void>,
): Promise<Page> => {
  if (!before)
    return (
      await openPage(lab.browser, new URL(path, lab.site.url).href, { base: lab.site.url, viewport, colorScheme })
    ).page;
  const page = await lab.browser.newPage({ viewport, colorScheme });
  await page.addInitScript({ content: 'globalThis.__name = (f) => f;' });
  await before(page);
  await page.goto(new URL(path, lab.site.url).href, { waitUntil: 'networkidle' });
  return page;
};

/**
 * A notebook page in live mode with no Jupyter behind it: Playwright's routes tell the page the lab's
 * Jupyter is at /jupyter/, answers, and runs no session yet. That is what a reader sees before the
 * first Run (the live controls, code cells as editors); the tests that run cells use a real Jupyter.
 */
async function fakeLiveJupyter(page: Page): Promise<void> {
  await page.addInitScript({ content: "localStorage.setItem('go-uretprobe-lab.site-key', 'layout-test');" });
  await page.route('**/lab-config.json', (r) =>
    r.fulfill({ contentType: 'application/json', body: JSON.stringify({ jupyter: { url: '/jupyter/' } }) }),
  );
  await page.route('**/jupyter/api/status', (r) => r.fulfill({ contentType: 'application/json', body: '{}' }));
  await page.route('**/jupyter/api/sessions', (r) => r.fulfill({ contentType: 'application/json', body: '[]' }));
}

/** WCAG contrast of an element's text against the first opaque background behind it (page white/dark if none). */
function contrastIn(page: Page, selector: string): Promise<{ text: string; ratio: number }[]> {
  return page.evaluate((sel) => {
    const rgba = (c: string) => (c.match(/[\d.]+/g) ?? []).map(Number);
    const lum = ([r, g, b]: number[]) => {
      const f = (v: number) => ((v /= 255) <= 0.03928 ? v / 12.92 : ((v + 0.055) / 1.055) ** 2.4);
      return 0.2126 * f(r) + 0.7152 * f(g) + 0.0722 * f(b);
    };
    const dark = document.documentElement.dataset.theme === 'dark';
    const bgOf = (el: Element | null): number[] => {
      for (let e = el; e; e = e.parentElement) {
        const c = rgba(getComputedStyle(e).backgroundColor);
        if (c.length === 3 || (c[3] ?? 0) > 0.5) return c.slice(0, 3);
      }
      return dark ? [27, 27, 29] : [255, 255, 255];
    };
    return Array.from(document.querySelectorAll(sel))
      .filter((el) => el.textContent!.trim() && el.getBoundingClientRect().width > 0)
      .map((el) => {
        const [a, b] = [lum(rgba(getComputedStyle(el).color)), lum(bgOf(el))].sort((x, y) => y - x);
        return { text: el.textContent!.trim().slice(0, 30), ratio: (a + 0.05) / (b + 0.05) };
      });
  }, selector);
}

test('keyboard only: Tab reaches a crash-matrix cell and shows what its runs said; the arrow keys move between cells', async () => {
  const page = await open('/docs/crash/matrix/');
  await page.getByTestId('crash-matrix').waitFor();
  let presses = 0;
  const inMatrix = () => page.evaluate(() => !!document.activeElement?.closest('[data-testid="crash-matrix"] td'));
  while (!(await inMatrix())) {
    assert.ok(++presses < 120, 'Tab never reached a cell of the crash matrix');
    await page.keyboard.press('Tab');
  }
  const details = () =>
    page.evaluate(() => {
      const cell = document.activeElement as HTMLElement;
      const tip = document.getElementById(cell.getAttribute('aria-describedby') ?? '');
      const r = tip?.getBoundingClientRect();
      return {
        at: cell.dataset.at,
        tip: tip?.textContent ?? '',
        shown: !!r && r.width > 20 && r.height > 10 && getComputedStyle(tip!).opacity === '1',
        onScreen: !!r && r.left >= 0 && r.right <= innerWidth,
      };
    });
  const first = await details();
  assert.equal(first.at, '0-0', 'Tab enters a table at its first cell');
  assert.ok(first.shown && first.onScreen, `the focused cell's details are not shown: ${JSON.stringify(first)}`);
  // Down to the GC trigger's row, right to the uretprobe column: a crash, told by its signature.
  const m = JSON.parse(readFileSync(at('docs', 'data', 'crash-matrix.json'), 'utf8'));
  const row = m.triggers.findIndex((t: { id: string }) => t.id === 'gc');
  for (let i = 0; i < row; i++) await page.keyboard.press('ArrowDown');
  for (let i = 0; i < m.probes.indexOf('uretprobe'); i++) await page.keyboard.press('ArrowRight');
  const gc = await details();
  const cell = m.cells.find(
    (c: { go: string; trigger: string; probe: string }) =>
      c.go === m.toolchains[0] && c.trigger === 'gc' && c.probe === 'uretprobe',
  );
  assert.equal(gc.at, `${row}-${m.probes.indexOf('uretprobe')}`);
  assert.ok(gc.shown, 'the details of the cell reached by the arrow keys are not shown');
  assert.ok(gc.tip.includes(cell.signature ?? cell.wrong ?? ''), `details: ${gc.tip}`);
  await page.keyboard.press('Escape');
  assert.equal((await details()).shown, false, 'Esc did not hide the details');
  await page.keyboard.press('ArrowLeft');
  assert.ok((await details()).shown, 'the next cell focused shows its details again');
  await page.close();
});

test('every diagram is named and told in words: accTitle and accDescr in each mermaid block, drawn as the SVG’s title and description', async () => {
  const blocks: { file: string; source: string }[] = [];
  const walk = (dir: string) => {
    for (const e of readdirSync(dir, { withFileTypes: true })) {
      const p = join(dir, e.name);
      if (e.isDirectory()) walk(p);
      else if (/\.mdx?$/.test(e.name))
        for (const b of readFileSync(p, 'utf8').matchAll(/^```mermaid\s*\n([\s\S]*?)^```\s*$/gm))
          blocks.push({ file: p, source: b[1] });
    }
  };
  walk(at('docs'));
  assert.ok(blocks.length >= 20, `only ${blocks.length} mermaid blocks in docs/`);
  const unnamed = blocks
    .filter((b) => !accTitleOf(b.source) || !accDescrOf(b.source))
    .map((b) => `${b.file}: ${b.source.split('\n')[0]}…`);
  assert.deepEqual(unnamed, [], 'mermaid blocks without accTitle or accDescr');

  const page = await open('/docs/uprobes/uretprobes/');
  assert.ok((await renderedDiagrams(page, 2)) >= 2);
  const drawn = await page.evaluate(() =>
    Array.from(document.querySelectorAll('.docusaurus-mermaid-container svg[aria-roledescription]')).map((svg) => ({
      name: document.getElementById(svg.getAttribute('aria-labelledby') ?? '')?.textContent ?? '',
      description: document.getElementById(svg.getAttribute('aria-describedby') ?? '')?.textContent ?? '',
      inWords: svg.closest('[data-lab-diagram]')?.querySelector('details')?.textContent ?? '',
    })),
  );
  await page.close();
  const written = blocks.filter((b) => b.file.endsWith(join('uprobes', 'uretprobes.mdx')));
  assert.deepEqual(
    drawn.map((d) => d.name),
    written.map((b) => accTitleOf(b.source)),
  );
  drawn.forEach((d, i) => {
    assert.equal(d.description, accDescrOf(written[i].source));
    assert.ok(d.inWords.includes(d.description), 'the description is not readable under the diagram');
  });
});

test('a sequence diagram keeps its author’s line breaks (no cut note), nothing else changes', () => {
  const source = [
    'sequenceDiagram',
    '  accTitle: a: b<br/>c',
    '  participant F as probed<br/>function',
    '  K->>F: [RSP] := 0x7fffffffe000<br/>resume F',
    '  Note over F: runs with a forged<br/>return address',
    '  F->>K: int3 at entry',
    '  K->>K: nowrap:already<br/>said',
  ].join('\n');
  assert.deepEqual(keepAuthorLineBreaks(source).split('\n'), [
    'sequenceDiagram',
    '  accTitle: a: b<br/>c',
    '  participant F as probed<br/>function',
    '  K->>F: nowrap:[RSP] := 0x7fffffffe000<br/>resume F',
    '  Note over F: nowrap:runs with a forged<br/>return address',
    '  F->>K: int3 at entry',
    '  K->>K: nowrap:already<br/>said',
  ]);
  const flowchart = 'flowchart TB\n  A["x:<br/>y"] --> B';
  assert.equal(keepAuthorLineBreaks(flowchart), flowchart);
});

test('headings never skip a level on a built page (home, live mode, docs, notebooks)', () => {
  const problems: string[] = [];
  const pages = builtPages(lab.site).filter((p) => /^\/((docs|notebooks|live)\/)?$|^\/(docs|notebooks)\//.test(p));
  assert.ok(pages.length >= 20, `only ${pages.length} pages built`);
  for (const path of pages) {
    const html = readFileSync(join(lab.site.dir, path, 'index.html'), 'utf8');
    const body = html.slice(html.indexOf('<body'));
    let previous = 0;
    for (const h of body.matchAll(/<h([1-6])\b[^>]*>([\s\S]*?)<\/h\1>/g)) {
      const level = Number(h[1]);
      if (previous && level > previous + 1)
        problems.push(`${path}: h${previous} → h${level} "${h[2].replace(/<[^>]+>/g, '').slice(0, 40)}"`);
      previous = level;
    }
  }
  assert.deepEqual(problems, []);
});

test('code comments, "recorded output" labels and the crash forensics reach 4.5:1 in both themes', async () => {
  const problems: string[] = [];
  for (const scheme of ['light', 'dark'] as const) {
    for (const [path, selector] of [
      ['/docs/go-stacks/growth/', '.token.comment'],
      ['/notebooks/03-uretprobe-crash/', '[class*="outputLabel"], .token.comment'],
      ['/notebooks/04-why-go-stacks/', '.lab-forensics code'],
    ]) {
      const page = await open(path, desk, scheme);
      const read = await contrastIn(page, selector);
      if (read.length === 0) problems.push(`${path} (${scheme}): nothing matches ${selector}`);
      for (const r of read.filter((r) => r.ratio < 4.5))
        problems.push(`${path} (${scheme}): "${r.text}" ${r.ratio.toFixed(2)}:1`);
      await page.close();
    }
  }
  assert.deepEqual(problems, []);
});

test('a live notebook’s controls are opaque in both themes, small on a phone, and never hide what the keyboard focuses', async () => {
  for (const [viewport, scheme] of [
    [phone, 'light'],
    [desk, 'dark'],
  ] as const) {
    const page = await open('/notebooks/02-first-uprobe/', viewport, scheme, fakeLiveJupyter);
    const bar = page.getByTestId('live-controls');
    await bar.waitFor({ timeout: patient(20_000) });
    const look = await bar.evaluate((el) => {
      const s = getComputedStyle(el);
      const alpha = (s.backgroundColor.match(/[\d.]+/g) ?? []).map(Number)[3] ?? 1;
      return { position: s.position, alpha, height: el.getBoundingClientRect().height };
    });
    const where = `${viewport.width} px, ${scheme}`;
    assert.equal(look.position, 'sticky', where);
    assert.equal(look.alpha, 1, `${where}: the bar's background is see-through`);
    if (viewport === phone) assert.ok(look.height <= 80, `${where}: the bar is ${look.height} px tall`);
    // Tab down the page: every Run button the focus lands on is in view below the bar, not under it.
    const covered: string[] = [];
    let reached = 0;
    for (let i = 0; i < 60; i++) {
      // A code cell keeps Tab for indenting: Esc first lets it move the focus on.
      if (await page.evaluate(() => !!document.activeElement?.closest('.cm-editor')))
        await page.keyboard.press('Escape');
      await page.keyboard.press('Tab');
      const hit = await page.evaluate(() => {
        const a = document.activeElement as HTMLElement;
        if (!a?.matches('[data-cell] button')) return null;
        const bar = document.querySelector('[data-testid="live-controls"]')!.getBoundingClientRect();
        const r = a.getBoundingClientRect();
        return r.top < bar.bottom && r.bottom > bar.top ? a.getAttribute('aria-label') : '';
      });
      if (hit !== null) reached++;
      if (hit) covered.push(hit);
    }
    assert.ok(reached >= 3, `${where}: Tab reached only ${reached} of the cells' buttons`);
    assert.deepEqual(covered, [], `${where}: focused buttons under the bar`);
    await page.close();
  }
});

test('in a code cell Tab indents; Esc then Tab moves the focus on, as the page says', async () => {
  const page = await open('/notebooks/02-first-uprobe/', desk, 'light', fakeLiveJupyter);
  const editor = page.locator('[data-editor="ready"] .cm-content').first();
  await editor.waitFor({ timeout: patient(20_000) });
  await editor.click();
  await page.keyboard.press('Home');
  const before = await editor.textContent();
  await page.keyboard.press('Tab');
  assert.notEqual(await editor.textContent(), before, 'Tab did not indent');
  assert.ok(await editor.evaluate((el) => el.contains(document.activeElement)), 'Tab left the cell');
  const hint = page.locator('[data-editor="ready"]').first().locator('[class*="editorHint"]');
  assert.ok(await hint.isVisible(), 'no hint under the focused cell');
  assert.match((await hint.textContent()) ?? '', /Esc then Tab/);
  assert.match((await page.getByTestId('live-bar').textContent()) ?? '', /Esc then Tab/);
  await page.keyboard.press('Escape');
  await page.keyboard.press('Tab');
  assert.ok(
    await editor.evaluate((el) => !el.contains(document.activeElement)),
    'Esc then Tab kept the focus in the cell',
  );
  await page.close();
});
