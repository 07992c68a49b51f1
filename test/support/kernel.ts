/** What the kernel holds of ours, and child Node processes that trace: shared by the leak tests. */
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { at } from '../../cli/paths.ts';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const bpftoolJson = (...args: string[]) =>
  JSON.parse(execFileSync('bpftool', [...args, '-j'], { encoding: 'utf8' }) || '[]') as { id: number; prog_id?: number }[];

/** Our programs and the links that run them, as the kernel lists them. */
export function kernelObjects(progIds: number[]): { progs: number[]; links: number[] } {
  return {
    progs: bpftoolJson('prog', 'list').filter((p) => progIds.includes(p.id)).map((p) => p.id),
    links: bpftoolJson('link', 'list').filter((l) => progIds.includes(l.prog_id!)).map((l) => l.id),
  };
}

/** Program release after a process dies is asynchronous (RCU): poll briefly. */
export async function waitGone(progIds: number[]): Promise<{ progs: number[]; links: number[] }> {
  let left = kernelObjects(progIds);
  for (let i = 0; i < 50 && (left.progs.length || left.links.length); i++) {
    await sleep(100);
    left = kernelObjects(progIds);
  }
  return left;
}

/** Legacy tracefs uprobes (the kind that outlive a process); mounts tracefs to look. */
export function tracefsUprobes(): string[] {
  if (!existsSync('/sys/kernel/tracing/uprobe_events')) {
    execFileSync('mount', ['-t', 'tracefs', 'nodev', '/sys/kernel/tracing']);
  }
  return readFileSync('/sys/kernel/tracing/uprobe_events', 'utf8').split('\n').filter(Boolean);
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
