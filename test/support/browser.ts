import { existsSync } from 'node:fs';
import assert from 'node:assert/strict';
import { chromium, type Browser } from 'playwright-core';

/**
 * The Chromium every browser test uses (Debian's, no downloads). Its environment drops the workshop's
 * process marker: the browser plays an attendee's machine, not something the lab started, so
 * "Reset lab" has no business with it (Chromium's crash handler would otherwise count as our orphan).
 */
export const chromiumOptions = {
  executablePath: '/usr/bin/chromium',
  args: [
    '--no-sandbox',
    '--disable-gpu',
    '--disable-background-networking',
    '--disable-component-update',
    '--disable-sync',
    '--no-first-run',
  ],
  get env() {
    return Object.fromEntries(
      Object.entries(process.env).filter(([k, v]) => k !== 'LAB_WORKSHOP_ID' && v !== undefined),
    ) as Record<string, string>;
  },
};

/** Debian's Chromium, or a failure that says how to get it. */
export async function launchChromium(): Promise<Browser> {
  assert.ok(existsSync(chromiumOptions.executablePath), 'Debian chromium is missing: ./lab setup installs it');
  return chromium.launch(chromiumOptions);
}

/**
 * `visit` on every item, `width` at a time, results in the items' order. Pages spend most of their
 * time waiting (network idle, hydration, diagrams), so a few at once overlap those waits.
 */
export async function eachAtOnce<T, R>(
  items: readonly T[],
  width: number,
  visit: (item: T, index: number) => Promise<R>,
): Promise<R[]> {
  const out: R[] = new Array(items.length);
  let next = 0;
  const worker = async () => {
    for (let i = next++; i < items.length; i = next++) out[i] = await visit(items[i], i);
  };
  await Promise.all(Array.from({ length: Math.min(width, items.length) }, worker));
  return out;
}
