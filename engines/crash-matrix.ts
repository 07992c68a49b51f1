/**
 * The crash matrix: every trigger endpoint of the server under every probe
 * kind, for every Go toolchain, each on a fresh server process, classified by
 * comparing with the unprobed run of the same binary. Computed live, never
 * hard-coded.
 */
import { readFileSync } from 'node:fs';
import { release } from 'node:os';
import { ManagedServer } from './managed-server.ts';
import { inputsHash, recording } from './recordings.ts';
import { parseCrash, crashSignature, classifyDeath } from '../model/forensics.ts';
import { linksReleased, openExecutable, probeKindNames, type Probe } from '../bpf/ts/index.ts';
import { availableToolchains, buildServer, type GoToolchain } from '../core/go.ts';
import { LabError } from '../core/errors.ts';
import { alignTables } from '../model/markdown-table.ts';
import { serverListing, type Trigger } from './server-listing.ts';
import {
  matrixCellLabel,
  worstOutcome,
  type Cell as MatrixCell,
  type CrashMatrix as CrashMatrixData,
  type Outcome,
} from '../model/crash-matrix.ts';

export type { Trigger, Outcome };
/** The cells' labels, from their counts (for notebook cells, through kernel-helpers' crashMatrix). */
export { matrixCellLabel, worstOutcome } from '../model/crash-matrix.ts';

/** No probe, then every kind of the tracer's table. */
export const probeKinds = ['none', ...probeKindNames] as const;
export type ProbeKind = (typeof probeKinds)[number];

export type Cell = MatrixCell<ProbeKind>;
export type CrashMatrix = CrashMatrixData<ProbeKind>;

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function attach(
  exe: Awaited<ReturnType<typeof openExecutable>>,
  kind: ProbeKind,
  symbol: string,
  pid: number,
): Probe | undefined {
  return kind === 'none' ? undefined : exe.probe(kind, symbol, { pid });
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
  /** How it ended, when it died. */
  exit?: { code: number | null; signal: string | null };
}

async function runOnce(binary: string, trigger: Trigger, kind: ProbeKind): Promise<Run> {
  await using server = await ManagedServer.start({ binary });
  const exe = await openExecutable(binary);
  const probe = attach(exe, kind, trigger.symbol, server.pid);
  let events = 0;
  try {
    await probe?.ready; // through the probe service the attach is answered later: the request must meet the probe
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
    const exit = server.alive ? undefined : await server.exited;
    return { status: res.status, body: res.body, crashed: exit !== undefined, stderr: server.stderr, events, exit };
  } finally {
    probe?.close();
    await probe?.detached; // the next cell starts with nothing of this one attached
  }
}

export interface MatrixOptions {
  toolchains?: GoToolchain[];
  /** Trigger ids to run; default every trigger the server lists. */
  triggers?: readonly string[];
  probes?: readonly ProbeKind[];
  /**
   * Runs of each cell, each on a fresh server; above 1 the cell records how often each outcome
   * happened. A function decides per cell (the CLI keeps a recorded cell's number of runs).
   */
  repeat?: number | ((cell: { go: string; trigger: string; probe: ProbeKind }) => number);
  onCell?: (cell: Cell) => void;
}

/** The triggers a server binary lists (`server -list`), or the chosen ids of them. */
export function chooseTriggers(binary: string, ids?: readonly string[]): Trigger[] {
  const listed = serverListing(binary).triggers;
  if (!ids) return listed;
  const unknown = ids.filter((id) => !listed.some((t) => t.id === id));
  if (unknown.length) {
    const shown = unknown.map((id) => JSON.stringify(id.slice(0, 80))).join(', ');
    throw new LabError(`unknown trigger ${shown}`, `the server lists: ${listed.map((t) => t.id).join(', ')}`);
  }
  return listed.filter((t) => ids.includes(t.id));
}

/** The cells the matrix runs on one server binary, in order: each chosen trigger × each probe kind. */
export function matrixCells(
  binary: string,
  opts: Pick<MatrixOptions, 'triggers' | 'probes'> = {},
): { trigger: Trigger; probe: ProbeKind }[] {
  const probes = opts.probes ?? probeKinds;
  return chooseTriggers(binary, opts.triggers).flatMap((trigger) => probes.map((probe) => ({ trigger, probe })));
}

/** The body reduced to what must not change between healthy runs (the trigger's `varies` part masked). */
const comparable = (t: Trigger, body: string) => (t.varies ? body.replace(new RegExp(t.varies, 'g'), '?') : body);

export async function runCrashMatrix(opts: MatrixOptions = {}): Promise<CrashMatrix> {
  const toolchains = opts.toolchains ?? (await availableToolchains());
  const probes = opts.probes ?? probeKinds;
  const repeatFor = (cell: { go: string; trigger: string; probe: ProbeKind }): number => {
    const n = typeof opts.repeat === 'function' ? opts.repeat(cell) : (opts.repeat ?? 1);
    if (!Number.isInteger(n) || n < 1)
      throw new LabError(`repeat ${n} is not a whole number of runs`, 'repeat each cell 1 or more times');
    return n;
  };
  const cells: Cell[] = [];
  let chosen: Trigger[] = [];
  for (const tc of toolchains) {
    const binary = await buildServer(tc);
    chosen = chooseTriggers(binary, opts.triggers);
    const baselines = new Map<string, Run>();
    for (const { trigger, probe: kind } of matrixCells(binary, { triggers: opts.triggers, probes })) {
      let baseline = baselines.get(trigger.id);
      if (!baseline) baselines.set(trigger.id, (baseline = await runOnce(binary, trigger, 'none')));
      const repeat = repeatFor({ go: tc.version, trigger: trigger.id, probe: kind });
      const runs: Cell[] = [];
      for (let i = 0; i < repeat; i++) {
        const run = kind === 'none' && i === 0 ? baseline : await runOnce(binary, trigger, kind);
        runs.push(classify(tc.version, trigger, kind, run, baseline));
      }
      const cell = repeat > 1 ? summarize(runs) : runs[0];
      cells.push(cell);
      opts.onCell?.(cell);
    }
  }
  await linksReleased(); // the exit tracepoint's link too: nothing of the matrix is left attached
  return {
    recordedAt: new Date().toISOString(),
    inputsHash: matrixInputsHash(),
    kernel: release(),
    toolchains: toolchains.map((t) => t.version),
    triggers: chosen,
    probes,
    cells,
  };
}

/** One run of a cell, classified against the unprobed run of the same binary. */
function classify(go: string, trigger: Trigger, kind: ProbeKind, run: Run, baseline: Run): Cell {
  const normalize = (body: string) => comparable(trigger, body);
  const cell: Cell = {
    go,
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
    // Classified from what happened: a runtime throw or signal at the trampoline, or an exit of its own.
    const death = classifyDeath({ code: run.exit?.code, signal: run.exit?.signal, stderr: run.stderr });
    cell.probeCrash = death.probeCrash;
    cell.signature = f ? crashSignature(f) : death.summary;
  } else if (run.status !== baseline.status || normalize(run.body) !== normalize(baseline.body)) {
    cell.outcome = 'survive-but-wrong';
    cell.wrong =
      run.status !== baseline.status
        ? `HTTP ${run.status} instead of ${baseline.status}`
        : firstDifference(normalize(baseline.body), normalize(run.body));
  }
  return cell;
}

/**
 * Several runs of one cell as one record: the most frequent outcome (a tie goes to the crash, the
 * outcome a reader must not miss) with its first run's details, and how often each outcome happened.
 */
function summarize(runs: Cell[]): Cell {
  const outcomes: Partial<Record<Outcome, number>> = {};
  for (const r of runs) outcomes[r.outcome] = (outcomes[r.outcome] ?? 0) + 1;
  const severity: Outcome[] = ['crash', 'survive-but-wrong', 'survive'];
  const most = severity.reduce((best, o) => ((outcomes[o] ?? 0) > (outcomes[best] ?? 0) ? o : best));
  const first = runs.find((r) => r.outcome === most)!;
  const cell: Cell = { ...first, runs: runs.length, outcomes, rate: (outcomes.crash ?? 0) / runs.length };
  const kinds: Record<string, number> = {};
  for (const r of runs)
    if (r.outcome === 'crash') kinds[r.crashKind ?? 'unknown'] = (kinds[r.crashKind ?? 'unknown'] ?? 0) + 1;
  if (Object.keys(kinds).length > 1) cell.crashKinds = kinds;
  return cell;
}

/** What a cell that did not always survive said; a repeated cell's details are of its most frequent outcome's first run. */
function cellDetail(c: Cell): string {
  const said = c.signature ?? c.wrong;
  if (worstOutcome(c) === c.outcome && said) return said;
  const kept = c.outcome === 'survive' ? 'survived' : c.outcome === 'crash' ? 'crashed' : 'answered wrong';
  return `${matrixCellLabel(c).slice(2)}; the recording keeps the details of a run that ${kept}${said ? `: ${said}` : ''}`;
}

/** The matrix as text tables, one per toolchain. */
export function renderMatrixText(m: CrashMatrix): string {
  const out: string[] = [];
  const labels = m.cells.map(matrixCellLabel);
  const width = Math.max(12, ...labels.map((l) => l.length));
  for (const go of m.toolchains) {
    out.push(`\n${go} (kernel ${m.kernel})`);
    const w = Math.max(...m.triggers.map((t) => t.title.length));
    out.push(`${'trigger'.padEnd(w)}  ${m.probes.map((p) => p.padEnd(width)).join(' ')}`);
    for (const t of m.triggers) {
      const row = m.probes.map((p) => {
        const c = m.cells.find((c) => c.go === go && c.trigger === t.id && c.probe === p);
        return (c ? matrixCellLabel(c) : '-').padEnd(width);
      });
      out.push(`${t.title.padEnd(w)}  ${row.join(' ')}`);
    }
  }
  const notes = m.cells.filter((c) => worstOutcome(c) !== 'survive');
  if (notes.length) {
    out.push('\nDetails:');
    for (const c of notes) out.push(`  ${c.go} ${c.trigger} × ${c.probe}: ${cellDetail(c)}`);
  }
  return out.join('\n');
}

/** The matrix as Markdown: one table, triggers × (toolchain, probe kind), then the signatures. */
export function renderMatrixMarkdown(m: CrashMatrix): string {
  const kinds = m.probes.filter((p) => p !== 'none');
  const cols = m.toolchains.flatMap((go) => kinds.map((p) => ({ go, p })));
  const out = [
    `Recorded ${m.recordedAt.slice(0, 10)} on Linux ${m.kernel}; every cell compared with the unprobed run of the same binary.`,
    'A cell run several times says how many of its runs crashed: one crash in any run makes it a crash.',
    '',
    `| trigger | ${cols.map((c) => `${c.go} ${c.p}`).join(' | ')} |`,
    `|---|${cols.map(() => '---').join('|')}|`,
  ];
  for (const t of m.triggers) {
    const cells = cols.map(({ go, p }) => {
      const c = m.cells.find((c) => c.go === go && c.trigger === t.id && c.probe === p);
      return c ? matrixCellLabel(c) : '–';
    });
    out.push(`| ${t.title} (\`${t.path}\`) | ${cells.join(' | ')} |`);
  }
  const bad = m.cells.filter((c) => worstOutcome(c) !== 'survive');
  if (bad.length) {
    out.push('', 'What happened in each cell marked ✗ or ⚠:', '');
    for (const c of bad) out.push(`- ${c.go}, ${c.trigger} × ${c.probe}: \`${cellDetail(c).replace(/`/g, "'")}\``);
  }
  return alignTables(out.join('\n'));
}

/** What the matrix depends on: the server's sources, the BPF programs, the classification code. */
export const matrixInputsHash = (): string => inputsHash(recording('crash matrix'));

/**
 * A partial run laid over the recorded matrix: its cells replace the same (go, trigger, probe)
 * cells and every other recorded cell stays. Triggers keep the recorded order (updated from the
 * run), a trigger new to the run comes last. The merged file takes the run's inputs hash when it
 * holds only the run's cells or the recorded ones were made from the same sources; otherwise it
 * stays stale, as it is.
 */
export function mergeMatrix(recorded: CrashMatrix, run: CrashMatrix): CrashMatrix {
  const key = (c: Cell) => `${c.go}\0${c.trigger}\0${c.probe}`;
  const fresh = new Set(run.cells.map(key));
  const cells = [...recorded.cells.filter((c) => !fresh.has(key(c))), ...run.cells];
  const fromRun = (t: Trigger) => run.triggers.find((r) => r.id === t.id) ?? t;
  const triggers = [
    ...recorded.triggers.map(fromRun),
    ...run.triggers.filter((r) => !recorded.triggers.some((t) => t.id === r.id)),
  ];
  const union = <T>(a: readonly T[], b: readonly T[]) => [...a, ...b.filter((x) => !a.includes(x))];
  const probes = probeKinds.filter((p) => recorded.probes.includes(p) || run.probes.includes(p));
  const toolchains = union(recorded.toolchains, run.toolchains);
  const order = (c: Cell) => [
    toolchains.indexOf(c.go),
    triggers.findIndex((t) => t.id === c.trigger),
    probes.indexOf(c.probe),
  ];
  cells.sort((a, b) => {
    const [x, y] = [order(a), order(b)];
    return x[0] - y[0] || x[1] - y[1] || x[2] - y[2];
  });
  return {
    ...run,
    // Fresh when every cell is the run's, or the recorded ones came from the same sources.
    inputsHash:
      cells.every((c) => fresh.has(key(c))) || recorded.inputsHash === run.inputsHash
        ? run.inputsHash
        : recorded.inputsHash,
    toolchains,
    triggers,
    probes,
    cells,
  };
}

/** Reads a recorded matrix (docs/data/crash-matrix.json). */
export function readMatrix(path: string): CrashMatrix {
  return JSON.parse(readFileSync(path, 'utf8')) as CrashMatrix;
}
