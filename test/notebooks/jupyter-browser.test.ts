import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { startJupyter } from '../../engines/services/jupyter.ts';
import { notebookPaths, notebooksDir } from '../../engines/notebook/io.ts';
import type { Notebook } from '../../model/notebook-format.ts';
import { launchChromium } from '../support/browser.ts';

test('a notebook opens in JupyterLab in Chromium, runs on tslab and shows its output', async () => {
  // A throw-away copy without outputs: JupyterLab saves what it runs, and the recorded notebook must stay as recorded.
  const nb = JSON.parse(readFileSync(notebookPaths(['00-'])[0], 'utf8')) as Notebook;
  for (const c of nb.cells) if (c.cell_type === 'code') Object.assign(c, { outputs: [], execution_count: null });
  const name = `browser-check-${process.pid}.ipynb`;
  const copy = join(notebooksDir, name);
  const checkpoints = join(notebooksDir, '.ipynb_checkpoints');
  const hadCheckpoints = existsSync(checkpoints);
  writeFileSync(copy, JSON.stringify(nb));
  const j = await startJupyter();
  const browser = await launchChromium();
  try {
    const page = await browser.newPage();
    await page.goto(`${j.url}lab/tree/notebooks/${name}?token=${j.token}`);
    await page.locator('.jp-NotebookPanel .jp-CodeCell').first().waitFor({ timeout: 60000 });
    // The kernel the notebook asks for (tslab, "TypeScript") starts by itself and goes idle.
    await page.getByText('TypeScript | Idle').first().waitFor({ timeout: 60000 });

    // Run the first code cells with Shift+Enter, as a reader would.
    await page.locator('.jp-NotebookPanel .jp-CodeCell').first().locator('.jp-InputArea-editor').click();
    for (let i = 0; i < 3; i++) await page.keyboard.press('Shift+Enter');
    const output = page.locator('.jp-OutputArea-output').filter({ hasText: 'uprobes PMU' });
    await output.first().waitFor({ timeout: 90000 });
    const text = await output.first().innerText();
    assert.match(text, /BTF/);
    assert.match(text, /Linux \d+\.\d+/);
  } finally {
    await browser.close();
    await j.stop();
    rmSync(copy, { force: true });
    if (!hadCheckpoints) rmSync(checkpoints, { recursive: true, force: true });
    else rmSync(join(checkpoints, name.replace('.ipynb', '-checkpoint.ipynb')), { force: true });
  }
});
