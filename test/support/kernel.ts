/** Waiting for the kernel to release our programs, and child Node processes that trace: shared by the leak tests. */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { at } from '../../core/paths.ts';
import { programsAndLinks } from '../../bpf/ts/index.ts';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Program release after a process dies is asynchronous (RCU): poll briefly. */
export async function waitGone(progIds: number[]): Promise<{ progs: number[]; links: number[] }> {
  let left = programsAndLinks(progIds);
  for (let i = 0; i < 50 && (left.progs.length || left.links.length); i++) {
    await sleep(100);
    left = programsAndLinks(progIds);
  }
  return left;
}

/**
 * A separate Node process running `script` (TypeScript, top-level await). Its first stdout line
 * is parsed as JSON and returned as `first`.
 */
export async function tracerChild(script: string): Promise<{ child: ChildProcess; first: unknown; output: () => string }> {
  const file = join(mkdtempSync(join(tmpdir(), 'lab-child-')), 'child.mts');
  writeFileSync(file, script);
  const child = spawn(process.execPath, ['--import', 'tsx', file], { cwd: at(), stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  child.stderr!.on('data', (d) => (err += d));
  const first = await new Promise((resolve, reject) => {
    child.stdout!.on('data', (d) => {
      out += d;
      const nl = out.indexOf('\n');
      if (nl >= 0) resolve(JSON.parse(out.slice(0, nl)));
    });
    child.once('exit', (code) => reject(new Error(`child exited (${code}) before reporting: ${err}`)));
  });
  return { child, first, output: () => out + err };
}
