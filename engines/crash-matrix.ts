/**
 * The crash matrix: every trigger endpoint of the server under every probe
 * kind, for every Go toolchain, each on a fresh server process, classified by
 * comparing with the unprobed run of the same binary. Computed live, never
 * hard-coded.
 */
import { readFileSync, readdirSync } from 'node:fs';
import { createHash } from 'node:crypto';
import { join } from 'node:path';
import { at } from '../core/paths.ts';
import { release } from 'node:os';
import { ManagedServer } from './managed-server.ts';
import { parseCrash, crashSignature, type CrashKind } from './forensics.ts';
import { openExecutable, type Probe } from '../bpf/ts/index.ts';
import { availableToolchains, buildServer, type GoToolchain } from '../core/go.ts';

export interface Trigger {
  id: string;
  title: string;
  path: string;
  symbol: string;
  /** Reduces the body to what must not change between runs. */
  normalize?: (body: string) => string;
}

export const triggers: Trigger[] = [
  { id: 'plain', title: 'plain call', path: '/?arg=3', symbol: 'main.demo' },
  { id: 'stack-growth', title: 'stack growth (copystack)', path: '/?arg=2000', symbol: 'main.demo' },
  { id: 'gc', title: 'runtime.GC() stack scan', path: '/gc?arg=100', symbol: 'main.scanDuringGC' },
  { id: 'panic-through', title: 'panic unwinding through the frame', path: '/panic?arg=1', symbol: 'main.panicThrough' },
  { id: 'recover-inside', title: 'panic recovered inside the frame', path: '/recover?arg=4', symbol: 'main.recoverInside' },
  { id: 'callers', title: 'runtime.Callers', path: '/callers?arg=1', symbol: 'main.countCallers' },
  { id: 'debug-stack', title: 'debug.Stack', path: '/stack?arg=1', symbol: 'main.stackTrace' },
  {
    id: 'thread-hop',
    title: 'return on another OS thread',
    path: '/hop?arg=100',
    symbol: 'main.hopThreads',
    normalize: (b) => b.replace(/moved threads: \w+/, 'moved threads: ?'),
  },
];

export const probeKinds = ['none', 'uprobe', 'uretprobe', 'ret'] as const;
export type ProbeKind = (typeof probeKinds)[number];
export type Outcome = 'survive' | 'crash' | 'survive-but-wrong';

export interface Cell {
  go: string;
  trigger: string;
  probe: ProbeKind;
  outcome: Outcome;
  status: number;
  /** Runtime throw vs kernel signal, for crashes. */
  crashKind?: CrashKind;
  signature?: string;
  /** What differs from the unprobed run, for survive-but-wrong. */
  wrong?: string;
  events: number;
  body: string;
}

export interface CrashMatrix {
  recordedAt: string;
  /** Hash of what decides the result (server, BPF programs, this module): the build re-runs the matrix when it changes. */
  inputsHash?: string;
  kernel: string;
  toolchains: string[];
  triggers: Pick<Trigger, 'id' | 'title' | 'path' | 'symbol'>[];
  probes: readonly ProbeKind[];
  cells: Cell[];
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function attach(exe: Awaited<ReturnType<typeof openExecutable>>, kind: ProbeKind, symbol: string, pid: number): Probe | undefined {
  switch (kind) {
    case 'none':
      return undefined;
    case 'uprobe':
      return exe.uprobe(symbol, { pid });
    case 'uretprobe':
      return exe.uretprobe(symbol, { pid });
    case 'ret':
      return exe.returnProbes(symbol, { pid });
  }
}

/** The first line that differs between two bodies, and how long each is, for the table. */
function firstDifference(expected: string, got: string): string {
  const e = expected.split('\n');
  const g = got.split('\n');
  const i = e.findIndex((line, k) => line !== g[k]);
  const counts = e.length !== g.length ? ` (${g.length} lines instead of ${e.length})` : '';
  return `${JSON.stringify((g[i] ?? '').slice(0, 100))} instead of ${JSON.stringify((e[i] ?? '').slice(0, 100))}${counts}`;
}

interface Run {
  status: number;
  body: string;
  crashed: boolean;
  stderr: string;
  events: number;
}

async function runOnce(binary: string, trigger: Trigger, kind: ProbeKind): Promise<Run> {
  await using server = await ManagedServer.start({ binary });
  const exe = await openExecutable(binary);
  const probe = attach(exe, kind, trigger.symbol, server.pid);
  let events = 0;
  try {
    const counting = probe
      ? (async () => {
          for await (const _ of probe) events++;
        })()
      : undefined;
    const res = await server.get(trigger.path, 10000);
    // Some crashes (a return on another thread) happen just after the response.
    await Promise.race([server.exited, sleep(400)]);
    probe?.close();
    await counting;
    return { status: res.status, body: res.body, crashed: !server.alive, stderr: server.stderr, events };
  } finally {
    probe?.close();
  }
}

export interface MatrixOptions {
  toolchains?: GoToolchain[];
  triggers?: Trigger[];
  probes?: readonly ProbeKind[];
  onCell?: (cell: Cell) => void;
}

export async function runCrashMatrix(opts: MatrixOptions = {}): Promise<CrashMatrix> {
  const toolchains = opts.toolchains ?? (await availableToolchains());
  const chosen = opts.triggers ?? triggers;
  const probes = opts.probes ?? probeKinds;
  const cells: Cell[] = [];
  for (const tc of toolchains) {
    const binary = await buildServer(tc);
    for (const trigger of chosen) {
      const normalize = trigger.normalize ?? ((b: string) => b);
      const baseline = await runOnce(binary, trigger, 'none');
      for (const kind of probes) {
        const run = kind === 'none' ? baseline : await runOnce(binary, trigger, kind);
        const cell: Cell = {
          go: tc.version,
          trigger: trigger.id,
          probe: kind,
          outcome: 'survive',
          status: run.status,
          events: run.events,
          body: run.body.slice(0, 2000),
        };
        if (run.crashed) {
          const f = parseCrash(run.stderr);
          cell.outcome = 'crash';
          cell.crashKind = f?.kind;
          cell.signature = f ? crashSignature(f) : `died without a Go crash message: ${run.stderr.trim().split('\n').pop()}`;
        } else if (run.status !== baseline.status || normalize(run.body) !== normalize(baseline.body)) {
          cell.outcome = 'survive-but-wrong';
          cell.wrong = run.status !== baseline.status ? `HTTP ${run.status} instead of ${baseline.status}` : firstDifference(normalize(baseline.body), normalize(run.body));
        }
        cells.push(cell);
        opts.onCell?.(cell);
      }
    }
  }
  return {
    recordedAt: new Date().toISOString(),
    inputsHash: matrixInputsHash(),
    kernel: release(),
    toolchains: toolchains.map((t) => t.version),
    triggers: chosen.map(({ id, title, path, symbol }) => ({ id, title, path, symbol })),
    probes,
    cells,
  };
}

const mark: Record<Outcome, string> = { survive: '✓ survive', crash: '✗ CRASH', 'survive-but-wrong': '⚠ WRONG' };

/** The matrix as text tables, one per toolchain. */
export function renderMatrixText(m: CrashMatrix): string {
  const out: string[] = [];
  for (const go of m.toolchains) {
    out.push(`\n${go} (kernel ${m.kernel})`);
    const w = Math.max(...m.triggers.map((t) => t.title.length));
    out.push(`${'trigger'.padEnd(w)}  ${m.probes.map((p) => p.padEnd(12)).join(' ')}`);
    for (const t of m.triggers) {
      const row = m.probes.map((p) => {
        const c = m.cells.find((c) => c.go === go && c.trigger === t.id && c.probe === p);
        return (c ? mark[c.outcome] : '-').padEnd(12);
      });
      out.push(`${t.title.padEnd(w)}  ${row.join(' ')}`);
    }
  }
  const notes = m.cells.filter((c) => c.outcome !== 'survive');
  if (notes.length) {
    out.push('\nDetails:');
    for (const c of notes) out.push(`  ${c.go} ${c.trigger} × ${c.probe}: ${c.signature ?? c.wrong}`);
  }
  return out.join('\n');
}

const emoji: Record<Outcome, string> = { survive: '✅ survive', crash: '💥 crash', 'survive-but-wrong': '⚠️ wrong' };

/** The matrix as Markdown: one table, triggers × (toolchain, probe kind), then the signatures. */
export function renderMatrixMarkdown(m: CrashMatrix): string {
  const kinds = m.probes.filter((p) => p !== 'none');
  const cols = m.toolchains.flatMap((go) => kinds.map((p) => ({ go, p })));
  const out = [
    `Recorded ${m.recordedAt.slice(0, 10)} on Linux ${m.kernel}; every cell compared with the unprobed run of the same binary.`,
    '',
    `| trigger | ${cols.map((c) => `${c.go} ${c.p}`).join(' | ')} |`,
    `|---|${cols.map(() => '---').join('|')}|`,
  ];
  for (const t of m.triggers) {
    const cells = cols.map(({ go, p }) => {
      const c = m.cells.find((c) => c.go === go && c.trigger === t.id && c.probe === p);
      return c ? emoji[c.outcome] : '–';
    });
    out.push(`| ${t.title} (\`${t.path}\`) | ${cells.join(' | ')} |`);
  }
  const bad = m.cells.filter((c) => c.outcome !== 'survive');
  if (bad.length) {
    out.push('', 'What happened in each red or yellow cell:', '');
    for (const c of bad) out.push(`- ${c.go}, ${c.trigger} × ${c.probe}: \`${(c.signature ?? c.wrong ?? '').replace(/`/g, "'")}\``);
  }
  return out.join('\n');
}

/** What the matrix depends on: the server's sources, the BPF programs, the classification code. */
export function matrixInputsHash(): string {
  const files = [
    ...readdirSync(at('server')).filter((f) => f.endsWith('.go') || f === 'go.mod').map((f) => join('server', f)),
    ...readdirSync(at('bpf')).filter((f) => f.endsWith('.bpf.c') || f.endsWith('.h')).filter((f) => f !== 'vmlinux.h').map((f) => join('bpf', f)),
    'engines/crash-matrix.ts',
    'engines/forensics.ts',
  ].sort();
  const h = createHash('sha256');
  for (const f of files) h.update(f).update(readFileSync(at(f)));
  return h.digest('hex').slice(0, 16);
}

/** Reads a recorded matrix (docs/data/crash-matrix.json). */
export function readMatrix(path: string): CrashMatrix {
  return JSON.parse(readFileSync(path, 'utf8')) as CrashMatrix;
}
