/**
 * The page setup of the site tests (test/site/*): the production build (rebuilt only when stale),
 * served on loopback (optionally with a real Jupyter behind its proxy), one Chromium per file, and a
 * page opener that records what went wrong on the page.
 */
import { after, before } from 'node:test';
import { existsSync, mkdirSync, readdirSync, readFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import type { Browser, Page } from 'playwright-core';
import { buildSite, siteServe, type ServedSite } from '../../engines/services/site.ts';
import { startJupyter, type RunningJupyter } from '../../engines/services/jupyter.ts';
import { at } from '../../core/paths.ts';
import { launchChromium } from './browser.ts';
import { patient } from '../../core/patience.ts';

export { eachAtOnce } from './wait.ts';

/**
 * Opens a grant link as a script would (no page runs): the session cookie it sets and the key its
 * page leaves for the site's own scripts; `headers` carry both, as the lab's pages send them.
 */
export async function redeemGrant(
  grantUrl: string,
): Promise<{ cookie: string; key: string; headers: Record<string, string> }> {
  const res = await fetch(grantUrl, { redirect: 'manual' });
  const page = await res.text();
  if (res.status !== 200) throw new Error(`the grant link answered ${res.status}: ${page.slice(0, 200)}`);
  const cookie = res.headers.get('set-cookie')?.split(';')[0] ?? '';
  const key = /<meta name="lab-key" content="([^"]+)">/.exec(page)?.[1] ?? '';
  if (!cookie || !key) throw new Error(`the grant link set no cookie or left no key: ${page.slice(0, 200)}`);
  return { cookie, key, headers: { cookie, authorization: `token ${key}` } };
}

export const screenshots = at('test-results', 'screenshots');

/** How many pages a test visits at once (each in its own browser context). */
export const pagesAtOnce = 4;

export interface SiteInChromium {
  readonly site: ServedSite;
  readonly browser: Browser;
  /** Only with `{ jupyter: true }`: the Jupyter the site proxies. */
  readonly jupyter: RunningJupyter;
}

/**
 * Registers the file's before/after hooks: build the site if stale, serve it (with `jupyter`: start
 * one and proxy it), launch Chromium, then `ready` (the file's own setup: node:test does not wait for
 * one root before() hook to finish before the next starts); stop them all after the file.
 */
export function siteInChromium(
  opts: {
    jupyter?: boolean;
    /** With `jupyter`: the site answers `./lab open --site-port=<its port>` as ./lab start's does. */
    control?: boolean;
    ready?: (lab: SiteInChromium) => Promise<void>;
  } = {},
): SiteInChromium {
  const s = {} as { site: ServedSite; browser: Browser; jupyter: RunningJupyter };
  before(async () => {
    await buildSite();
    if (opts.jupyter) s.jupyter = await startJupyter();
    s.site = await siteServe(
      opts.jupyter ? { jupyter: { url: s.jupyter.url, token: s.jupyter.token }, control: opts.control } : {},
    );
    s.browser = await launchChromium();
    mkdirSync(screenshots, { recursive: true });
    await opts.ready?.(s);
  });
  after(async () => {
    await s.browser?.close();
    await s.site?.stop();
    await s.jupyter?.stop();
  });
  return s;
}

/** Every page of a served build (a snapshot of build/) as URL paths ("/", "/docs/intro/", …), `skip` folders aside. */
export function builtPages(site: ServedSite, skip: string[] = ['assets'], dir = site.dir): string[] {
  return readdirSync(dir, { withFileTypes: true })
    .flatMap((e) => {
      const p = join(dir, e.name);
      if (e.isDirectory()) return skip.includes(e.name) ? [] : builtPages(site, skip, p);
      return e.name === 'index.html' ? [`/${relative(site.dir, dir)}${dir === site.dir ? '' : '/'}`] : [];
    })
    .sort();
}

/** The mermaid fences of the page served at `path`: /docs/x/y/ is docs/x/y.mdx or docs/x/y/index.mdx; /notebooks/n/ is the markdown of notebooks/n.ipynb. */
export function fencesOf(path: string): number {
  const fences = (markdown: string) => (markdown.match(/^```mermaid\s*$/gm) ?? []).length;
  const notebook = /^\/notebooks\/([^/]+)\/$/.exec(path);
  if (notebook) {
    const file = at('notebooks', `${notebook[1]}.ipynb`);
    if (!existsSync(file)) return 0;
    const cells = (
      JSON.parse(readFileSync(file, 'utf8')) as { cells: { cell_type: string; source: string | string[] }[] }
    ).cells;
    return cells
      .filter((c) => c.cell_type === 'markdown')
      .reduce((n, c) => n + fences(Array.isArray(c.source) ? c.source.join('') : c.source), 0);
  }
  if (!path.startsWith('/docs/')) return 0;
  const rel = path.replace(/^\/docs\/|\/$/g, '');
  const file = [`${rel}.mdx`, `${rel}/index.mdx`, `${rel}.md`].map((f) => at('docs', f)).find((f) => existsSync(f));
  return file ? fences(readFileSync(file, 'utf8')) : 0;
}

/** The page's rendered mermaid diagrams, once it has at least `expected` of them (mermaid renders after hydration) or 20 s passed. */
export async function renderedDiagrams(page: Page, expected: number): Promise<number> {
  const svgs = page.locator('.docusaurus-mermaid-container svg[aria-roledescription]');
  for (let i = 0; i < 80 && (await svgs.count()) < expected; i++) await page.waitForTimeout(250);
  return svgs.count();
}

export interface OpenOptions {
  viewport?: { width: number; height: number };
  colorScheme?: 'light' | 'dark';
  /** The origin whose failed responses count as problems (the served site's). */
  base: string;
}

/**
 * Opens `url` in a fresh page (its own context) and waits for the network to go idle, recording
 * console errors, uncaught exceptions, failed same-origin responses, failed requests and any request
 * that leaves loopback (the site must work offline).
 */
export async function openPage(
  browser: Browser,
  url: string,
  opts: OpenOptions,
): Promise<{ page: Page; problems: string[] }> {
  const page = await browser.newPage({
    viewport: opts.viewport ?? { width: 1280, height: 900 },
    colorScheme: opts.colorScheme ?? 'light',
  });
  page.setDefaultTimeout(patient(30_000));
  // tsx names the functions it compiles with a __name() helper that the page doesn't have (page.evaluate).
  await page.addInitScript({ content: 'globalThis.__name = (f) => f;' });
  const problems: string[] = [];
  page.on('console', (m) => {
    if (m.type() === 'error') problems.push(`console: ${m.text()}`);
  });
  page.on('pageerror', (e) => problems.push(`exception: ${e.message}`));
  page.on('response', (r) => {
    if (r.url().startsWith(opts.base) && r.status() >= 400) problems.push(`HTTP ${r.status()} ${r.url()}`);
  });
  page.on('request', (r) => {
    const { protocol, hostname } = new URL(r.url());
    if (/^https?:$/.test(protocol) && !['127.0.0.1', 'localhost'].includes(hostname))
      problems.push(`external request ${r.url()}`);
  });
  page.on('requestfailed', (r) => {
    // A fetch cut short by navigating away is aborted, not failed.
    if (r.failure()?.errorText !== 'net::ERR_ABORTED')
      problems.push(`request failed ${r.method()} ${r.url()}: ${r.failure()?.errorText}`);
  });
  await page.goto(url, { waitUntil: 'networkidle' });
  return { page, problems };
}
