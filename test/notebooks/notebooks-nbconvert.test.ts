// lab-test: concurrent — its own nbconvert; probes only private server copies; checks only the processes and links it saw.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import { jupyterPath } from '../../engines/services/jupyter.ts';
import { notebookPaths } from '../../engines/notebook/io.ts';
import { kernelLinkIds, linksHeldBy } from '../../bpf/ts/index.ts';
import { alive, childrenOf } from '../support/jupyter-support.ts';

const nbconvert = '/usr/bin/python3';

// The story's two turns: the crash (03) and tracing safely (05). That every notebook runs top to bottom
// is notebooks.test.ts's; this file is about the kernelspec in a client that is not ours.
test("the crash and the safe tracing notebooks execute under Debian's nbconvert (an independent client) with the project tslab kernelspec", async () => {
  const out = mkdtempSync(join(tmpdir(), 'lab-nbconvert-'));
  try {
    const paths = notebookPaths(['03-', '05-']);
    assert.equal(paths.length, 2, `notebooks 03 and 05: ${paths}`);
    // Only JUPYTER_PATH, like an outside user: no lab environment.
    const child = spawn(
      nbconvert,
      [
        '-m',
        'nbconvert',
        '--to',
        'notebook',
        '--execute',
        '--ExecutePreprocessor.kernel_name=tslab',
        '--ExecutePreprocessor.timeout=300',
        '--output-dir',
        out,
        ...paths,
      ],
      {
        env: {
          PATH: process.env.PATH,
          HOME: process.env.HOME,
          JUPYTER_PATH: jupyterPath(),
          PYDEVD_DISABLE_FILE_VALIDATION: '1',
        },
        stdio: ['ignore', 'pipe', 'pipe'],
      },
    );
    let log = '';
    child.stdout.on('data', (d) => (log += d));
    child.stderr.on('data', (d) => (log += d));
    // Everything the client's kernels start, and the links they hold, seen while they run.
    const seen = new Set<number>();
    const links = new Set<number>();
    const watch = setInterval(() => {
      const walk = (p: number) => childrenOf(p).forEach((c) => (seen.add(c), walk(c)));
      walk(child.pid!);
      for (const p of seen) for (const l of linksHeldBy(p)) links.add(l.linkId!);
    }, 150);
    const code = await new Promise<number | null>((resolve) => child.on('exit', (c) => resolve(c)));
    clearInterval(watch);
    assert.equal(code, 0, `nbconvert failed:\n${log.slice(-3000)}`);

    const result = (name: string) => readFileSync(join(out, basename(notebookPaths([name])[0])), 'utf8');
    assert.match(result('03-'), /unexpected return pc for main\.demo called from 0x7fffffffe000/);
    assert.match(result('05-'), /server alive: true/);
    assert.match(result('05-'), /latency/);

    assert.ok(seen.size > 0 && links.size > 0, 'saw the kernels and their probes');
    for (const p of seen) assert.ok(!alive(p), `process ${p} started under nbconvert outlived it`);
    const left = [...links].filter((l) => kernelLinkIds().has(l));
    assert.deepEqual(left, [], 'links left attached after nbconvert');
  } finally {
    rmSync(out, { recursive: true, force: true });
  }
});
