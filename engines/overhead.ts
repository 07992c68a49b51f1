/**
 * What a probe costs per call, measured so the numbers cannot contradict themselves: engines/goloop
 * calls main.work (a //go:noinline leaf) N times on request and reports the CPU time of its own
 * thread (user + kernel: where the traps and BPF programs run, so a neighbour's load on the machine
 * adds nothing). Rounds interleave every probe kind, so a burst of load spreads over all of them;
 * each kind reports the median of its runs with their spread. The benchmarks (bench/) drive the
 * same Go loop.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { createInterface } from 'node:readline';
import { at } from '../core/paths.ts';
import { LabError } from '../core/errors.ts';
import { buildGoProgram } from '../core/go.ts';
import { openExecutable, probeKinds as kindTable, type ProbeKind } from '../bpf/ts/index.ts';

export const goloopSource = at('engines', 'goloop');
export const goloopBinary = at('engines', 'build', 'goloop');

/** Builds engines/goloop into engines/build/goloop when its sources are newer; returns the binary. */
export const buildGoLoop = (): Promise<string> =>
  buildGoProgram({ dir: goloopSource, out: goloopBinary, fix: 'fix the Go error in engines/goloop shown above' });

/** A running engines/goloop: `run(n)` makes n calls of main.work and says what one cost. */
export class GoLoop implements AsyncDisposable {
  private readonly lines: string[] = [];
  private readonly waiters: ((line: string | undefined) => void)[] = [];
  private stderrText = '';
  private exitInfo: { code: number | null; signal: NodeJS.Signals | null } | undefined;
  private readonly exited: Promise<void>;

  private constructor(private readonly proc: ChildProcess) {
    this.exited = new Promise((resolve) =>
      proc.once('close', (code, signal) => {
        this.exitInfo = { code, signal };
        for (const w of this.waiters.splice(0)) w(undefined);
        resolve();
      }),
    );
    proc.stderr!.on('data', (d) => (this.stderrText += d));
    createInterface({ input: proc.stdout! }).on('line', (line) => {
      const w = this.waiters.shift();
      if (w) w(line);
      else this.lines.push(line);
    });
  }

  /** Starts the loop and waits for its "ready pid N", so start-up never lands in a measurement. */
  static async start(binary = goloopBinary): Promise<GoLoop> {
    if (!existsSync(binary)) throw new LabError(`${binary} is missing`, 'run ./lab build bench (or buildGoLoop())');
    const loop = new GoLoop(spawn(binary, [], { stdio: ['pipe', 'pipe', 'pipe'] }));
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(
        () => reject(new LabError(`${binary} did not get ready in 10 s: ${loop.stderrText.trim()}`, 'see its message')),
        10_000,
      );
      const check = () => {
        if (/ready pid/.test(loop.stderrText)) {
          clearTimeout(timer);
          resolve();
        }
      };
      loop.proc.stderr!.on('data', check);
      loop.proc.once(
        'error',
        (e) => (
          clearTimeout(timer), reject(new LabError(`cannot run ${binary}: ${e.message}`, 'run ./lab build bench'))
        ),
      );
      void loop.exited.then(
        () => (
          clearTimeout(timer),
          reject(new LabError(`${binary} exited before it was ready: ${loop.death()}`, 'see its message'))
        ),
      );
    }).catch(async (e) => {
      await loop.stop();
      throw e;
    });
    return loop;
  }

  get pid(): number {
    return this.proc.pid ?? -1;
  }

  alive(): boolean {
    return this.exitInfo === undefined;
  }

  /** Why it died, when it did: the Go runtime's first lines. */
  death(): string {
    return this.stderrText
      .split('\n')
      .filter((l) => l && !l.startsWith('ready'))
      .slice(0, 2)
      .join(' | ');
  }

  /** Runs `calls` calls of main.work: nanoseconds per call, wall clock and the loop thread's CPU time (undefined: the process died). */
  async run(calls: number): Promise<{ wall: number; cpu: number } | undefined> {
    if (!this.alive()) return undefined;
    this.proc.stdin!.write(`${calls}\n`);
    const line = await this.nextLine(120_000);
    if (line === undefined) return undefined;
    const r = JSON.parse(line) as { ns_per_op: number; cpu_ns_per_op: number };
    return { wall: r.ns_per_op, cpu: r.cpu_ns_per_op };
  }

  private nextLine(timeoutMs: number): Promise<string | undefined> {
    const queued = this.lines.shift();
    if (queued !== undefined) return Promise.resolve(queued);
    if (!this.alive()) return Promise.resolve(undefined);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(
        () => reject(new LabError(`goloop answered nothing for ${timeoutMs} ms`, 'see its stderr: ' + this.death())),
        timeoutMs,
      );
      this.waiters.push((line) => (clearTimeout(timer), resolve(line)));
    });
  }

  async stop(): Promise<void> {
    if (this.alive()) {
      this.proc.stdin!.end(); // it leaves at the end of its input
      const kill = setTimeout(() => this.proc.kill('SIGKILL'), 2000);
      await this.exited;
      clearTimeout(kill);
    }
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.stop();
  }
}

export type OverheadProbe = 'none' | ProbeKind;
export const overheadProbes: readonly OverheadProbe[] = ['none', 'uprobe', 'uretprobe', 'ret'];

const labels: Record<OverheadProbe, string> = {
  none: 'no probe',
  uprobe: 'uprobe (entry)',
  uretprobe: 'uretprobe',
  ret: 'RET-site probes',
};

export interface OverheadRow {
  probe: OverheadProbe;
  label: string;
  /** CPU nanoseconds per call of the loop's thread: median, and the fastest and slowest run. */
  medianNs: number;
  minNs: number;
  maxNs: number;
  /** Every run's ns per call, in the order measured. */
  samples: number[];
  /** Events that reached this process against what the calls should have produced (none: 0 of 0). */
  events: number;
  expectedEvents: number;
  drops: number;
  /** How the loop died, when this probe killed it. */
  crashed?: string;
}

export interface Overhead {
  calls: number;
  reps: number;
  rounds: number;
  rows: OverheadRow[];
}

export interface OverheadOptions {
  /** Calls of main.work per run (a uprobe hit costs microseconds: 20 000 calls ≈ 0.2 s under one). */
  calls?: number;
  /** Runs per probe kind in each round. */
  reps?: number;
  /** Rounds over every probe kind. */
  rounds?: number;
  probes?: readonly OverheadProbe[];
  onRun?: (probe: OverheadProbe, nsPerCall: number) => void;
}

export const median = (xs: number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  const mid = s.length >> 1;
  return s.length % 2 ? s[mid] : (s[mid - 1] + s[mid]) / 2;
};

/** Per-call cost of each probe kind on main.work, in interleaved rounds on one Go loop (restarted if a probe kills it). */
export async function measureOverhead(opts: OverheadOptions = {}): Promise<Overhead> {
  const calls = opts.calls ?? 20_000;
  const reps = opts.reps ?? 3;
  const rounds = opts.rounds ?? 5;
  const probes = opts.probes ?? overheadProbes;
  const warmup = Math.min(1000, calls);
  const binary = await buildGoLoop();
  const exe = await openExecutable(binary);
  const rows = new Map<OverheadProbe, OverheadRow>(
    probes.map((p) => [
      p,
      {
        probe: p,
        label: labels[p],
        medianNs: NaN,
        minNs: NaN,
        maxNs: NaN,
        samples: [],
        events: 0,
        expectedEvents: 0,
        drops: 0,
      },
    ]),
  );
  let loop = await GoLoop.start(binary);
  try {
    for (let round = 0; round < rounds; round++) {
      for (const kind of probes) {
        const row = rows.get(kind)!;
        if (row.crashed) continue;
        if (!loop.alive()) loop = await GoLoop.start(binary);
        const probe = kind === 'none' ? undefined : exe.probe(kind, 'main.work', { pid: loop.pid, args: 1, rets: 1 });
        let events = 0;
        const reading = probe
          ? (async () => {
              for await (const e of probe) if (e.kind !== 'exit') events++;
            })()
          : undefined;
        const runs: number[] = [];
        try {
          if ((await loop.run(warmup)) !== undefined) {
            for (let i = 0; i < reps; i++) {
              const r = await loop.run(calls);
              if (r === undefined) break;
              runs.push(r.cpu);
              opts.onRun?.(kind, r.cpu);
            }
          }
        } finally {
          probe?.close();
          await reading;
          await probe?.detached;
        }
        if (runs.length < reps) {
          row.crashed = loop.death() || 'the loop exited';
          continue;
        }
        row.samples.push(...runs);
        if (probe && kind !== 'none') {
          row.events += events;
          row.drops += probe.drops();
          row.expectedEvents += (warmup + reps * calls) * kindTable[kind].eventsPerCall;
        }
      }
    }
  } finally {
    await loop.stop();
  }
  for (const row of rows.values()) {
    if (!row.samples.length) continue;
    row.medianNs = median(row.samples);
    row.minNs = Math.min(...row.samples);
    row.maxNs = Math.max(...row.samples);
  }
  return { calls, reps, rounds, rows: [...rows.values()] };
}
