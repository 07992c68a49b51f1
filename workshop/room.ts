// The room: where the instructor is, what every cell printed, timers, the run queue and resets.
// Plain state and rules, no sockets: every change is handed to `publish` as one message, which the
// transport (server.ts) sends to the views; tests drive a Room directly. Outputs live in an
// OutputStore (model/live-outputs.ts), the model the views keep too: the room forwards
// each kernel output message as it came (type, content, display id and all) and every copy applies it
// the same way, so a live table updates in place everywhere.
import type { Agenda, AgendaCell } from './agenda.ts';
import { OutputStore, type KernelOutput } from '../model/live-outputs.ts';
import type { CellResult, RoomRunner } from './runners.ts';
import type { ResetReport } from './reset.ts';

export interface Step {
  section: number;
  /** Key of the cell the instructor is on ("notebook#index"), or null for the section's page. */
  cell: string | null;
}

export type CellStatus = 'idle' | 'queued' | 'running' | 'ok' | 'error' | 'aborted';

export interface CellState {
  status: CellStatus;
  executionCount: number | null;
  /** Live run or a replay of the recording. */
  source?: 'live' | 'rehearsal';
}

export type RoomMessage = { type: string; [k: string]: unknown };
/** Who a message is for: both views, the instructor console only, or the attendee views only. */
export type Audience = 'all' | 'instructor' | 'attendees';

/** A request the room refuses: the status is the HTTP answer the transport gives. */
export class RoomError extends Error {
  constructor(
    readonly status: 400 | 404 | 409,
    message: string,
  ) {
    super(message);
  }
}

export interface RoomOptions {
  agenda: Agenda;
  runner: RoomRunner;
  /** Resets the lab (reset.ts resetLab, bound to this workshop's marker). */
  resetLab(log: (line: string) => void): Promise<ResetReport>;
  /** The site, as this machine reaches it (attendees get its port and path, on the host they used). */
  siteUrl?: string;
  /** Why there is no site (shown in both views instead of the page). */
  siteProblem?: string;
  /** Why this is a rehearsal (shown in both views). */
  rehearsalReason?: string;
}

export class Room {
  private step: Step = { section: 0, cell: null };
  private cells = new Map<string, CellState>();
  /** Cells that ran fine since the last kernel (re)start — "run to here" skips them. */
  private ranOk = new Set<string>();
  private readonly outputs = new OutputStore<string>();
  private queue: Promise<unknown> = Promise.resolve();
  private timers: { section: number; startedAt: number; spentMs: number[] };
  private lastReset?: ResetReport;
  private resetting = false;

  constructor(
    private readonly opts: RoomOptions,
    private readonly publish: (msg: RoomMessage, audience: Audience) => void,
  ) {
    this.timers = { section: 0, startedAt: Date.now(), spentMs: opts.agenda.sections.map(() => 0) };
  }

  get mode(): 'live' | 'rehearsal' {
    return this.opts.runner.mode;
  }

  private send(msg: RoomMessage, audience: Audience = 'all'): void {
    this.publish(msg, audience);
  }

  private cellState(key: string): CellState {
    let s = this.cells.get(key);
    if (!s) this.cells.set(key, (s = { status: 'idle', executionCount: null }));
    return s;
  }

  findCell(key: unknown): AgendaCell | undefined {
    if (typeof key !== 'string') return undefined;
    for (const cells of this.opts.agenda.notebookCells.values()) {
      const c = cells.find((x) => x.key === key);
      if (c) return c;
    }
    return undefined;
  }

  /** Everything a view needs to draw itself from scratch (late joiners get this first). */
  snapshot(instructor: boolean) {
    const { agenda, siteUrl, siteProblem, rehearsalReason } = this.opts;
    const site = siteUrl ? new URL(siteUrl) : undefined;
    return {
      title: agenda.title,
      mode: this.mode,
      rehearsalReason,
      kernel: this.opts.runner.describe(),
      site: site ? { port: Number(site.port), path: site.pathname } : null,
      siteProblem,
      step: this.step,
      timers: this.timers,
      now: Date.now(),
      sections: agenda.sections.map((s) => ({
        id: s.id,
        title: s.title,
        minutes: s.minutes,
        page: s.page,
        anchor: s.anchor,
        notebook: s.notebook,
        problems: s.problems,
        notes: instructor ? s.notes : undefined,
        cells: s.cells.map((c) => ({ key: c.key, notebook: c.notebook, index: c.index, id: c.id, source: c.source })),
      })),
      cells: Object.fromEntries([...this.cells].map(([key, c]) => [key, { ...c, outputs: this.outputs.outputs(key) }])),
      lastReset:
        this.lastReset && (instructor ? this.lastReset : { ok: this.lastReset.ok, steps: this.lastReset.steps }),
      resetting: this.resetting,
    };
  }

  /** The site came up (or failed) after the workshop started: every view switches its page frame. */
  setSite(siteUrl: string | undefined, siteProblem?: string): void {
    this.opts.siteUrl = siteUrl;
    this.opts.siteProblem = siteProblem;
    const { site, siteProblem: problem } = this.snapshot(false);
    this.send({ type: 'site', site, siteProblem: problem });
  }

  setStep(section: unknown, cell: unknown): Step {
    const sections = this.opts.agenda.sections;
    if (typeof section !== 'number' || !Number.isInteger(section) || section < 0 || section >= sections.length) {
      throw new RoomError(400, `no section ${JSON.stringify(section)}`);
    }
    if (cell !== null && !sections[section].cells.some((c) => c.key === cell)) {
      throw new RoomError(400, `section ${sections[section].id} has no cell ${JSON.stringify(cell)}`);
    }
    if (section !== this.timers.section) {
      const now = Date.now();
      this.timers.spentMs[this.timers.section] += now - this.timers.startedAt;
      this.timers = { ...this.timers, section, startedAt: now };
    }
    this.step = { section, cell: cell as string | null };
    this.send({ type: 'step', step: this.step, timers: this.timers, now: Date.now() });
    return this.step;
  }

  /** Zeroes every section's timer (the server usually starts well before the room does). */
  restartTimers(): typeof this.timers {
    this.timers = { section: this.step.section, startedAt: Date.now(), spentMs: this.timers.spentMs.map(() => 0) };
    this.send({ type: 'step', step: this.step, timers: this.timers, now: Date.now() });
    return this.timers;
  }

  /** One output message of a cell's run: kept, and sent on as it came. */
  private output(key: string, msgType: string, content: object): void {
    this.outputs.apply(key, msgType, content);
    this.send({ type: 'output', key, msgType, content });
  }

  /** A cell's outputs, e.g. for tests and the console: what the views show. */
  outputsOf(key: string): readonly KernelOutput[] {
    return this.outputs.outputs(key);
  }

  /** Queues a cell; outputs stream to every view as they arrive. */
  runCell(cell: AgendaCell, batch?: { failed: boolean }): Promise<CellResult> {
    const state = this.cellState(cell.key);
    state.status = 'queued';
    this.send({ type: 'cell', key: cell.key, status: 'queued', executionCount: state.executionCount });
    const job = this.queue.then(async (): Promise<CellResult> => {
      if (state.status !== 'queued') return { status: 'aborted', executionCount: null };
      if (batch?.failed) {
        // "Run to here" stops at the first failing cell, like Jupyter's run-all.
        state.status = 'aborted';
        this.send({ type: 'cell', key: cell.key, status: 'aborted', executionCount: state.executionCount });
        return { status: 'aborted', executionCount: null };
      }
      Object.assign(state, { status: 'running', source: this.mode });
      this.outputs.reset(cell.key);
      this.send({
        type: 'cell',
        key: cell.key,
        status: 'running',
        executionCount: null,
        clear: true,
        source: this.mode,
      });
      let result: CellResult;
      try {
        result = await this.opts.runner.execute(cell, (msgType, content) => this.output(cell.key, msgType, content));
      } catch (e) {
        this.output(cell.key, 'error', { ename: 'WorkshopError', evalue: (e as Error).message, traceback: [] });
        result = { status: 'error', executionCount: null };
      }
      state.status = result.status;
      state.executionCount = result.executionCount;
      if (result.status === 'ok') this.ranOk.add(cell.key);
      else if (batch) batch.failed = true;
      this.send({ type: 'cell', key: cell.key, status: state.status, executionCount: state.executionCount });
      this.send({ type: 'kernel', kernel: this.opts.runner.describe() });
      return result;
    });
    this.queue = job.catch(() => undefined);
    return job;
  }

  /** Every code cell of the notebook up to and including this one that has not run fine since the kernel started. */
  runToHere(cell: AgendaCell): Promise<CellResult>[] {
    const all = this.opts.agenda.notebookCells.get(cell.notebook) ?? [];
    const batch = { failed: false };
    return all
      .filter((c) => c.index <= cell.index && (c.key === cell.key || !this.ranOk.has(c.key)))
      .map((c) => this.runCell(c, batch));
  }

  async interrupt(): Promise<void> {
    for (const [key, s] of this.cells) {
      if (s.status === 'queued') {
        s.status = 'aborted';
        this.send({ type: 'cell', key, status: 'aborted', executionCount: s.executionCount });
      }
    }
    await this.opts.runner.interrupt();
  }

  async reset(): Promise<ResetReport> {
    if (this.resetting) throw new RoomError(409, 'a reset is already running');
    this.resetting = true;
    this.send({ type: 'resetting' });
    try {
      await this.interrupt();
      const report = await this.opts.resetLab((line) => this.send({ type: 'reset-step', line }, 'instructor'));
      this.ranOk.clear();
      this.cells.clear();
      this.outputs.resetAll();
      this.lastReset = report;
      this.send({ type: 'reset', report }, 'instructor');
      this.send({ type: 'reset', report: { ok: report.ok, steps: report.steps } }, 'attendees');
      return report;
    } finally {
      this.resetting = false;
      this.send({ type: 'kernel', kernel: this.opts.runner.describe() });
    }
  }
}
