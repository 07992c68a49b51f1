// Ctrl-C (SIGINT to the foreground process group), SIGTERM, SIGHUP and even SIGKILL in the middle of
// a notebook run leave no Jupyter and no tslab kernel behind: the engine of `./lab notebooks` (runNotebooks,
// which the command calls once the lab is built) runs as a child, every process it starts carries a
// marker in its environment, and the process table is searched for that marker afterwards.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { readdirSync, readFileSync } from 'node:fs';
import { constants } from 'node:os';
import { at } from '../../core/paths.ts';
import { statOf } from '../../core/procfs.ts';
import { pids } from '../support/jupyter-support.ts';
import { within } from '../support/wait.ts';

const markerVar = 'LAB_SIGNAL_TEST';

/** Live processes whose environment carries the marker, with their command lines. */
function marked(marker: string): { pid: number; args: string }[] {
  return pids().flatMap((pid) => {
    try {
      if (!readFileSync(`/proc/${pid}/environ`, 'utf8').split('\0').includes(`${markerVar}=${marker}`)) return [];
      if (statOf(pid)?.state === 'Z') return []; // exited, not yet reaped
      return [{ pid, args: readFileSync(`/proc/${pid}/cmdline`, 'utf8').replace(/\0/g, ' ').trim() }];
    } catch {
      return [];
    }
  });
}

const isJupyter = (args: string) => args.includes('jupyter-lab');
const isKernel = (args: string) => args.includes('tslab') && args.includes('kernel');

async function until<T>(what: () => string, ms: number, probe: () => T | undefined): Promise<T> {
  const deadline = Date.now() + ms;
  for (;;) {
    const v = probe();
    if (v !== undefined) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what()}`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

const notebook = at(
  'notebooks',
  readdirSync(at('notebooks')).find((f) => f.startsWith('03-') && f.endsWith('.ipynb')) ?? 'missing-03.ipynb',
);
const engine = `import(${JSON.stringify(at('cli', 'commands', 'notebooks.ts'))}).then((m) => m.runNotebooks([${JSON.stringify(notebook)}]))`;

for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP', 'SIGKILL'] as const) {
  test(`${signal} mid-run leaves no Jupyter and no tslab kernel`, async () => {
    const marker = randomBytes(8).toString('hex');
    // Its own process group, as a shell gives a foreground job: Ctrl-C is SIGINT to that group.
    const child = spawn(process.execPath, ['--import', 'tsx', '--input-type=module', '--eval', engine], {
      cwd: at(),
      env: { ...process.env, [markerVar]: marker },
      stdio: ['ignore', 'pipe', 'pipe'],
      detached: true,
    });
    let output = '';
    child.stdout.on('data', (d) => (output += d));
    child.stderr.on('data', (d) => (output += d));
    const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
      child.once('exit', (code, sig) => resolve({ code, signal: sig })),
    );
    try {
      // Mid-run: Jupyter is up and the notebook's kernel runs cells.
      await until(
        () => `a tslab kernel (output: ${output.slice(-300)})`,
        90_000,
        () => (marked(marker).some((p) => isKernel(p.args)) && /cell \d+\//.test(output) ? true : undefined),
      );
      assert.ok(
        marked(marker).some((p) => isJupyter(p.args)),
        'no marked jupyter-lab process',
      );
      process.kill(signal === 'SIGINT' ? -child.pid! : child.pid!, signal);
      const end = await within(exited, 30_000, null);
      assert.ok(end, `the run did not end within 30 s of ${signal}`);
      // Whatever was asked to stop has a moment to finish; nothing may stay.
      const left = await until(
        () => 'the marked processes to end',
        10_000,
        () => (marked(marker).length === 0 ? [] : undefined),
      ).catch(() => marked(marker));
      assert.deepEqual(left, [], `left behind after ${signal}`);
      // SIGKILL leaves no handler a chance: Jupyter's parent-death signal cleans up (exit status: the signal's).
      if (signal === 'SIGKILL') assert.equal(end.signal, 'SIGKILL');
      else
        assert.equal(
          end.code,
          128 + constants.signals[signal],
          `exit status after ${signal}: ${JSON.stringify(end)}\n${output.slice(-500)}`,
        );
    } finally {
      for (const p of marked(marker)) {
        try {
          process.kill(p.pid, 'SIGKILL');
        } catch {
          // gone
        }
      }
      try {
        process.kill(-child.pid!, 'SIGKILL');
      } catch {
        // gone
      }
    }
  });
}
