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
