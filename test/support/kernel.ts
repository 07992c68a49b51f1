/** Waiting for the kernel to release our programs, and child Node processes that trace: shared by the leak tests. */
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, readlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { at } from '../../core/paths.ts';
import { programsAndLinks, type Probe, type TraceEvent } from '../../bpf/ts/index.ts';

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Everything the probe received: closing drains what the kernel already sent. */
export async function closeAndCollect(probe: Probe): Promise<TraceEvent[]> {
  probe.close();
  const out: TraceEvent[] = [];
  for await (const e of probe) out.push(e);
  return out;
}

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
export async function tracerChild(
  script: string,
): Promise<{ child: ChildProcess; first: unknown; output: () => string }> {
  const file = join(mkdtempSync(join(tmpdir(), 'lab-child-')), 'child.mts');
  writeFileSync(file, script);
  const child = spawn(process.execPath, ['--import', 'tsx', file], { cwd: at(), stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  child.stderr!.on('data', (d) => (err += d));
  const first = await new Promise((resolve, reject) => {
    let reported = false;
    child.stdout!.on('data', (d) => {
      out += d;
      const nl = out.indexOf('\n');
      if (nl < 0 || reported) return;
      reported = true;
      try {
        resolve(JSON.parse(out.slice(0, nl)));
      } catch {
        reject(new Error(`the child's first line is not JSON: ${out.slice(0, nl)}`));
      }
    });
    child.once('exit', (code) => reject(new Error(`child exited (${code}) before reporting: ${err}`)));
  });
  return { child, first, output: () => out + err };
}

/** What the kernel counted in a tracing process's lab_drops map (events the ring buffer had no room for), by probe id, summed over CPUs. */
export function kernelDrops(pid: number): Map<number, number> {
  const mapIds = readdirSync(`/proc/${pid}/fd`).flatMap((fd) => {
    try {
      if (readlinkSync(`/proc/${pid}/fd/${fd}`) !== 'anon_inode:bpf-map') return [];
      const id = /^map_id:\s*(\d+)/m.exec(readFileSync(`/proc/${pid}/fdinfo/${fd}`, 'utf8'))?.[1];
      return id ? [id] : [];
    } catch {
      return [];
    }
  });
  const bpftool = (...args: string[]) => JSON.parse(execFileSync('bpftool', ['-j', ...args], { encoding: 'utf8' }));
  const drops = [...new Set(mapIds)].filter((id) => bpftool('map', 'show', 'id', id).name === 'lab_drops');
  if (drops.length !== 1) throw new Error(`process ${pid} holds ${drops.length} lab_drops maps`);
  type Entry = {
    key: string[];
    values: { value: string[] }[];
    formatted?: { key: number; values: { value: number }[] };
  };
  const bytes = (b: string[]) => Buffer.from(b.map((x) => Number(x)));
  const counts = new Map<number, number>();
  for (const e of bpftool('map', 'dump', 'id', drops[0]) as Entry[]) {
    const key = e.formatted?.key ?? bytes(e.key).readUInt32LE();
    const values =
      e.formatted?.values.map((v) => v.value) ?? e.values.map((v) => Number(bytes(v.value).readBigUInt64LE()));
    counts.set(
      key,
      values.reduce((a, b) => a + b, 0),
    );
  }
  return counts;
}
