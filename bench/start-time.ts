/**
 * How long a workshop room waits: `./lab start` until JupyterLab and the docs site both answer.
 *
 * cold: a fresh clone of HEAD, as a new machine gets it, with empty npm, pip and Go caches, so
 *   every npm package, Python wheel and Go module comes from its registry; Debian's packages are
 *   the one thing already installed (they cannot be removed from under the running lab).
 * warm: this checkout, everything installed and built.
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { root } from '../core/paths.ts';
import { run } from '../core/proc.ts';
import { answers } from '../core/http.ts';
import { say } from '../core/ui.ts';
import { sleep } from './child.ts';
import type { Timing } from './external.ts';

/** Runs `./lab start --no-app` in `dir` until both URLs it prints answer; stops it with Ctrl-C. */
async function timeStart(
  dir: string,
  env: NodeJS.ProcessEnv,
  limitMs: number,
): Promise<{ seconds: number | null; error?: string }> {
  const t0 = performance.now();
  const lab = spawn(join(dir, 'lab'), ['start', '--no-app'], {
    cwd: dir,
    env,
    stdio: ['ignore', 'pipe', 'pipe'],
    detached: true,
  });
  let out = '';
  let lastStep = '';
  const collect = (d: Buffer) => {
    out += d;
    const steps = out.match(/▸ [^\n…]+/g);
    if (steps && steps[steps.length - 1] !== lastStep) {
      lastStep = steps[steps.length - 1];
      say(`    ${((performance.now() - t0) / 1000).toFixed(0)} s: ${lastStep.slice(2)}`);
    }
  };
  lab.stdout.on('data', collect);
  lab.stderr.on('data', collect);
  let exited = false;
  const gone = new Promise<void>((resolve) => lab.once('close', () => ((exited = true), resolve())));
  try {
    while (performance.now() - t0 < limitMs && !exited) {
      const site = /Docs site\s+(http\S+)/.exec(out)?.[1];
      const jupyter = /JupyterLab\s+(http\S+)/.exec(out)?.[1];
      // The site URL carries a one-time grant: check the page without spending it.
      if (site && jupyter && (await answers(site.replace(/\?grant=.*$/, ''))) && (await answers(jupyter)))
        return { seconds: (performance.now() - t0) / 1000 };
      await sleep(250);
    }
    const tail = out.trim().split('\n').slice(-3).join(' … ');
    return {
      seconds: null,
      error: exited ? `./lab start exited: ${tail}` : `not up after ${limitMs / 1000} s: ${tail}`,
    };
  } finally {
    if (!exited) {
      lab.kill('SIGINT');
      const stopped = await Promise.race([gone.then(() => true), sleep(30000).then(() => false)]);
      if (!stopped) {
        process.kill(-lab.pid!, 'SIGKILL');
        await gone;
      }
    }
  }
}

export async function coldStartTime(): Promise<Timing> {
  const what = 'workshop room cold start (fresh clone → ./lab start answers)';
  const scratch = mkdtempSync(join(tmpdir(), 'lab-bench-cold-'));
  const clone = join(scratch, 'lab');
  try {
    await run('git', ['clone', '--quiet', '--no-hardlinks', root, clone], { capture: true });
    const env = {
      ...process.env,
      npm_config_cache: join(scratch, 'npm-cache'),
      PIP_NO_CACHE_DIR: '1',
      GOMODCACHE: join(scratch, 'go-mod'),
      GOCACHE: join(scratch, 'go-build'),
    };
    const r = await timeStart(clone, env, 15 * 60 * 1000);
    const head = (await run('git', ['rev-parse', '--short', 'HEAD'], { cwd: clone, capture: true })).trim();
    return {
      what,
      seconds: r.seconds,
      target_s: 300,
      note: r.error
        ? `failed: ${r.error}`
        : `clone of ${head}; npm, pip and Go caches empty; Debian packages already installed`,
    };
  } finally {
    rmSync(scratch, { recursive: true, force: true });
  }
}

export async function warmStartTime(): Promise<Timing> {
  const what = 'workshop room warm start (./lab start answers, all built)';
  const r = await timeStart(root, process.env, 120000);
  return {
    what,
    seconds: r.seconds,
    target_s: 15,
    note: r.error ? `failed: ${r.error}` : 'this checkout, nothing to install or build',
  };
}
