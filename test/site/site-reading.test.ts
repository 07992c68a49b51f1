// lab-test: concurrent — its own site server and Chromium on a free port; checks nothing machine-wide.
// The site as a reader sees it, in Debian's Chromium against the production build: offline search,
// every page on a 390 px phone, every diagram legible at 1280 px in both themes, the overhead page's
// chart, the BPF programs shown from their source. Screenshots go to test-results/screenshots/.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Page } from 'playwright-core';
import { at } from '../../core/paths.ts';
import { probeKinds } from '../../src/components/Overhead/model.ts';
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

/** Every page of the served build as a URL path ("/", "/docs/intro/", …), the search page aside. */
const pagesToRead = () => builtPages(lab.site, ['assets', 'search']);

async function open(
  path: string,
  viewport = { width: 1280, height: 900 },
  colorScheme: 'light' | 'dark' = 'light',
): Promise<Page> {
  return (await openPage(lab.browser, new URL(path, lab.site.url).href, { base: lab.site.url, viewport, colorScheme }))
    .page;
}

interface DiagramReading {
  smallestPx: number;
  overlaps: string[];
  /** Edge labels whose text does not stand out from what is behind it (contrast < 4.5). */
  faintLabels: string[];
}

/**
 * Per diagram: its smallest text as drawn on screen (font size × the SVG's scale, as
 * shared/checks/support/site-layout.mjs measures it), labels whose boxes overlap, and edge labels
 * whose text has too little contrast against the label's (or the page's) background.
 */
function readDiagrams(page: Page): Promise<DiagramReading[]> {
  return page.evaluate(() => {
    const rgb = (c: string) => (c.match(/[\d.]+/g) ?? []).map(Number);
    const luminance = ([r, g, b]: number[]) => {
      const f = (v: number) => ((v /= 255) <= 0.03928 ? v / 12.92 : ((v + 0.055) / 1.055) ** 2.4);
      return 0.2126 * f(r) + 0.7152 * f(g) + 0.0722 * f(b);
    };
    const contrast = (a: number[], b: number[]) => {
      const [x, y] = [luminance(a), luminance(b)].sort((p, q) => q - p);
      return (x + 0.05) / (y + 0.05);
    };
    const pageBg = rgb(getComputedStyle(document.body).backgroundColor);
    /** The nearest opaque background behind an element inside the label, else the page's. */
    const backgroundOf = (el: Element, stop: Element): number[] => {
      for (let e: Element | null = el; e && e !== stop.parentElement; e = e.parentElement) {
        const s = getComputedStyle(e);
        const c = e instanceof SVGElement && e.tagName !== 'foreignObject' ? s.fill : s.backgroundColor;
        const v = rgb(c);
        if (v.length >= 3 && (v.length < 4 || v[3] > 0.5) && c !== 'none') return v.slice(0, 3);
      }
      const rect = stop.querySelector('rect');
      if (rect) {
        const v = rgb(getComputedStyle(rect).fill);
        if (v.length >= 3 && (v.length < 4 || v[3] > 0.5)) return v.slice(0, 3);
      }
      return pageBg;
    };
    const sel = 'text, foreignObject div, foreignObject span, foreignObject p';
    return Array.from(document.querySelectorAll('svg[aria-roledescription]')).map((svg) => {
      const box = svg.getBoundingClientRect();
      const scale = box.width / ((svg as SVGSVGElement).viewBox?.baseVal?.width || box.width);
      const leaves = Array.from(svg.querySelectorAll(sel))
        .filter((t) => t.textContent!.trim() && !t.querySelector(sel))
        .map((t) => ({ t, r: t.getBoundingClientRect() }))
        .filter(({ r }) => r.width > 0 && r.height > 0);
      let smallestPx = Infinity;
      for (const { t } of leaves) smallestPx = Math.min(smallestPx, parseFloat(getComputedStyle(t).fontSize) * scale);
      const overlaps: string[] = [];
      for (let i = 0; i < leaves.length; i++) {
        for (let j = i + 1; j < leaves.length; j++) {
          const a = leaves[i].r;
          const b = leaves[j].r;
          const w = Math.min(a.right, b.right) - Math.max(a.left, b.left);
          const h = Math.min(a.bottom, b.bottom) - Math.max(a.top, b.top);
          if (w > 2 && h > 2 && w * h > 0.2 * Math.min(a.width * a.height, b.width * b.height)) {
            overlaps.push(
              `"${leaves[i].t.textContent!.trim().slice(0, 30)}" × "${leaves[j].t.textContent!.trim().slice(0, 30)}"`,
            );
          }
        }
      }
      const faintLabels: string[] = [];
      for (const label of Array.from(svg.querySelectorAll('.edgeLabel'))) {
        for (const t of Array.from(label.querySelectorAll('p, span, text'))) {
          if (!t.textContent!.trim() || t.querySelector('p, span, text')) continue;
          const c = contrast(rgb(getComputedStyle(t).color).slice(0, 3), backgroundOf(t, label));
          if (c < 4.5) faintLabels.push(`"${t.textContent!.trim().slice(0, 30)}" (contrast ${c.toFixed(1)})`);
        }
      }
      return { smallestPx, overlaps, faintLabels };
    });
  });
}

test('search finds "morestack" in the pages that explain it, offline', async () => {
  const page = await open('/docs/intro/');
  const box = page.locator('input.navbar__search-input');
  await box.fill('morestack');
  const suggestions = page.getByRole('listbox');
  await suggestions
    .filter({ hasText: /morestack/i })
    .first()
    .waitFor({ timeout: patient(15_000) });
  await page.close();

  const results = await open('/search/?q=morestack');
  await results
    .locator('article h2 a')
    .first()
    .waitFor({ timeout: patient(15_000) });
  const found = (
    await results.locator('article h2 a').evaluateAll((as) => as.map((a) => a.getAttribute('href') ?? ''))
  ).map((h) => h.replace(/[?#].*$/, ''));
  for (const page of ['/docs/go-stacks/growth/', '/docs/go-stacks/unwinding/', '/notebooks/04-why-go-stacks/']) {
    assert.ok(found.includes(page), `${page} not among the results for "morestack": ${found.join(' ')}`);
  }
  await results.close();
});

test('no page scrolls sideways on a 390 px phone (wide tables and diagrams scroll in their own box)', async () => {
  const pages = pagesToRead();
  assert.ok(pages.length >= 20, `only ${pages.length} pages built`);
  const wide = await eachAtOnce(pages, pagesAtOnce, async (path) => {
    const page = await open(path, { width: 390, height: 844 });
    await page.waitForTimeout(300);
    const width = await page.evaluate(() => document.documentElement.scrollWidth);
    if (path === '/docs/crash/matrix/') await page.screenshot({ path: join(screenshots, 'phone-crash-matrix.png') });
    await page.close();
    return width > 390 ? [`${path}: ${width} px`] : [];
  });
  assert.deepEqual(wide.flat(), []);
});

test('every mermaid diagram reads at 1280 px: text >= 12 px, no overlapping labels, edge labels legible in both themes', async () => {
  // The pages with a mermaid block, in docs/ or in a notebook's markdown.
  const paths = pagesToRead().filter((p) => fencesOf(p) > 0);
  const written = paths.reduce((n, path) => n + fencesOf(path), 0);
  const visits = paths.flatMap((path) => (['light', 'dark'] as const).map((scheme) => ({ path, scheme })));
  const read = await eachAtOnce(visits, pagesAtOnce, async ({ path, scheme }) => {
    const problems: string[] = [];
    const expected = fencesOf(path);
    const page = await open(path, { width: 1280, height: 900 }, scheme);
    const rendered = await renderedDiagrams(page, expected);
    if (rendered < expected) problems.push(`${path} (${scheme}): ${rendered} of ${expected} diagrams rendered`);
    const readings = await readDiagrams(page);
    readings.forEach((r, i) => {
      const where = `${path} diagram ${i + 1} (${scheme})`;
      if (r.smallestPx < 12) problems.push(`${where}: text at ${r.smallestPx.toFixed(1)} px`);
      if (r.overlaps.length) problems.push(`${where}: overlapping labels ${r.overlaps.join(', ')}`);
      if (r.faintLabels.length) problems.push(`${where}: faint edge labels ${r.faintLabels.join(', ')}`);
    });
    await page.close();
    return { problems, diagrams: scheme === 'light' ? readings.length : 0 };
  });
  const problems = read.flatMap((r) => r.problems);
  const diagrams = read.reduce((n, r) => n + r.diagrams, 0);
  assert.deepEqual(problems, []);
  assert.ok(written >= 20, `only ${written} mermaid blocks in docs/ and the notebooks`);
  assert.equal(diagrams, written, `${diagrams} diagrams measured, ${written} written`);
});

test('the overhead page tells its story: chart from bench/results.json, a takeaway, no developer figures', async () => {
  const bench = JSON.parse(readFileSync(at('bench', 'results.json'), 'utf8'));
  const kinds = probeKinds(bench);
  assert.ok(kinds, 'bench/results.json has no probe_cost table (./lab bench writes it)');
  const page = await open('/docs/safe-tracing/overhead/');
  const chart = page.getByTestId('overhead-chart');
  await chart.waitFor();
  const bars = await chart
    .locator('[data-probe]')
    .evaluateAll((gs) => gs.map((g) => [g.getAttribute('data-probe'), Number(g.getAttribute('data-ns'))]));
  assert.deepEqual(
    bars,
    kinds.map((k) => [k.id, k.nsPerCall]),
  );
  const ns = Object.fromEntries(bars) as Record<string, number>;
  assert.ok(
    ns.none < ns.uprobe && ns.uprobe <= ns.ret,
    `per call: none ${ns.none}, uprobe ${ns.uprobe}, ret ${ns.ret}`,
  );
  assert.match((await page.getByTestId('overhead-takeaway').textContent()) ?? '', /probe hit costs about [\d.]+ µs/);
  const text = (await page.locator('main').textContent()) ?? '';
  assert.doesNotMatch(text, /cold start|site build|docusaurus build|_ns|_ms|timeline_mb|snake/i);
  const headers = await page.locator('main th').allTextContents();
  assert.deepEqual(
    headers.filter((h) => /_/.test(h)),
    [],
    'snake_case column names',
  );
  assert.equal(
    await page.evaluate(() => document.documentElement.scrollWidth),
    1280,
    'the page is wider than the window',
  );
  await page.screenshot({ path: join(screenshots, 'overhead.png'), fullPage: true });
  assert.ok(existsSync(join(screenshots, 'overhead.png')));
  await page.close();
});

test('the BPF page shows bpf/*.bpf.c as they are in the repository, and the recorded bpftrace crash', async () => {
  const page = await open('/docs/safe-tracing/bpf-programs/');
  for (const file of ['bpf/entry.bpf.c', 'bpf/ret.bpf.c']) {
    const lines = readFileSync(at(file), 'utf8').split('\n');
    const first = lines.findIndex((l) => l.startsWith('SEC("uprobe")'));
    const last = lines.findIndex((l, i) => i > first && l.startsWith('}'));
    const block = page.locator(`[data-source-file="${file}"][data-source-lines="${first + 1}-${last + 1}"]`);
    assert.equal(await block.count(), 1, `${file} lines ${first + 1}-${last + 1} (its program) are not on the page`);
    const shown = ((await block.locator('code').textContent()) ?? '').replace(/\s+/g, '');
    assert.equal(
      shown,
      lines
        .slice(first, last + 1)
        .join('')
        .replace(/\s+/g, ''),
      `${file}: the page differs from the file`,
    );
  }
  const rec = JSON.parse(readFileSync(at('docs', 'data', 'bpftrace-crash.json'), 'utf8'));
  assert.match(rec.command, /^bpftrace -e 'uretprobe:server\/server:main\.demo \{/);
  const shown = (await page.getByTestId('bpftrace-crash').textContent()) ?? '';
  assert.ok(shown.includes(rec.command), 'the one-liner is not shown');
  assert.match(
    rec.serverStderr,
    /unexpected return pc for main\.demo called from 0x7fffffffe000/,
    'the recording shows no uretprobe crash',
  );
  assert.match(shown, /unexpected return pc for main\.demo/);
  assert.match(shown, /main\.demo returned 3/);
  await page.close();
});

test('recorded outputs on the site show no absolute paths of the recording machine', () => {
  const absolute = new RegExp(
    `${at().replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}/|/usr/local/go/src/|/usr/lib/go-1\\.\\d+/src/|/tmp/lab-[\\w-]+/`,
  );
  const found = pagesToRead()
    .filter((p) => p.startsWith('/docs/'))
    .flatMap((p) => {
      const m = absolute.exec(readFileSync(join(lab.site.dir, p, 'index.html'), 'utf8'));
      return m ? [`${p}: ${m[0]}`] : [];
    });
  assert.deepEqual(found, []);
});
