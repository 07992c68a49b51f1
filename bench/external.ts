/**
 * Wall-clock time of the other engineers' entry points: the Docusaurus production build (into a
 * temporary directory, so the served site is untouched), cold and warm, and the notebook suite
 * (`./lab notebooks`).
 * Each runs only when its entry point exists.
 */
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { at, root } from '../core/paths.ts';
import { run } from '../core/proc.ts';
import { withSiteBuildLock } from '../engines/services/site.ts';

export interface Timing {
  what: string;
  seconds: number | null;
  target_s: number;
  note: string;
}

async function timed(work: () => Promise<unknown>): Promise<{ seconds: number | null; error?: string }> {
  const t0 = performance.now();
  try {
    await work();
    return { seconds: (performance.now() - t0) / 1000 };
  } catch (e) {
    const lines = (e as Error).message
      .split('\n')
      .map((l) => l.trim())
      .filter(Boolean);
    return {
      seconds: null,
      error:
        `after ${((performance.now() - t0) / 1000).toFixed(0)} s: ` +
        [...new Set([lines[0], [...lines].reverse().find((l) => !l.startsWith('—')) ?? ''])].join(' … '),
    };
  }
}

/**
 * Cold: Docusaurus's caches (.docusaurus, node_modules/.cache) removed first, as on a fresh clone;
 * warm: straight after, with the caches the cold build left.
 */
export async function siteBuildTimes(): Promise<Timing[]> {
  const what = (kind: string) => `site build, ${kind} (docusaurus build)`;
  if (!existsSync(at('docusaurus.config.ts')))
    return [{ what: what('cold'), seconds: null, target_s: 90, note: 'no docusaurus.config.ts: not measured' }];
  const out = mkdtempSync(join(tmpdir(), 'lab-bench-site-'));
  const docusaurus = at('node_modules', '@docusaurus', 'core', 'bin', 'docusaurus.mjs');
  const build = () =>
    timed(() =>
      run(process.execPath, [docusaurus, 'build', '--out-dir', out], {
        cwd: root,
        capture: true,
        env: { ...process.env, NODE_ENV: 'production', DOCUSAURUS_TELEMETRY_DISABLED: '1' },
      }),
    );
  try {
    // Under the site's build lock: removing the caches under a build of build/ (./lab test's, say) breaks it.
    const { cold, warm } = await withSiteBuildLock(async () => {
      for (const cache of [at('.docusaurus'), at('node_modules', '.cache')])
        rmSync(cache, { recursive: true, force: true });
      return { cold: await build(), warm: await build() };
    });
    return [
      {
        what: what('cold'),
        seconds: cold.seconds,
        target_s: 90,
        note: cold.error ? `failed: ${cold.error}` : 'caches removed first; into a temporary --out-dir',
      },
      {
        what: what('warm'),
        seconds: warm.seconds,
        target_s: 90,
        note: warm.error ? `failed: ${warm.error}` : 'with the caches the cold build left',
      },
    ];
  } finally {
    rmSync(out, { recursive: true, force: true });
  }
}

export async function notebookSuiteTime(): Promise<Timing> {
  const what = 'notebook suite (./lab notebooks)';
  if (!existsSync(at('cli', 'commands', 'notebooks.ts')))
    return { what, seconds: null, target_s: 300, note: 'no ./lab notebooks: not measured' };
  const r = await timed(() => run(at('lab'), ['notebooks'], { cwd: root, capture: true }));
  return {
    what,
    seconds: r.seconds,
    target_s: 300,
    note: r.error ? `failed: ${r.error}` : 'every notebook executed headless',
  };
}
