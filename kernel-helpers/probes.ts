/**
 * Probes as a cell sees them: attached through the tracer API (bpf/ts), kept in
 * the registry under a name (a re-run detaches the previous run's probe), and
 * shown as a live table that grows while events arrive.
 */
import { describeDrops, openExecutable, type Probe, type TraceEvent, type TracedExecutable } from '../bpf/ts/index.ts';
import { LabError } from '../core/errors.ts';
import { patient } from '../core/patience.ts';
import { keep } from './registry.ts';
import { liveOutput, tableHtml, escapeHtml, eventColumns as columns, eventRow, type LiveOutput } from './display.ts';

export type { Probe, TraceEvent, TracedExecutable };

/** Opens the binary a server runs (its private copy) for tracing. */
export async function traced(server: { binary: string }): Promise<TracedExecutable> {
  return openExecutable(server.binary);
}

/** Attaches a probe and keeps it under `name`; running the cell again detaches the old one first. */
export async function attach(name: string, open: () => Probe): Promise<Probe> {
  const probe = open();
  // Through the probe service the attach is confirmed (or refused) asynchronously.
  await probe.ready.catch((e: Error) => (probe.close(), Promise.reject(e)));
  await keep(name, probe);
  console.log(`attached ${probe.kind} on ${probe.symbol} (kept as "${name}")`);
  return probe;
}

/** A table of a probe's events that grows in place as they arrive (update_display_data). */
export class EventTable {
  readonly events: TraceEvent[] = [];
  private readonly out: LiveOutput;
  private waiters: { pred: (e: TraceEvent) => boolean; resolve: (e: TraceEvent) => void }[] = [];
  private timer?: Parameters<typeof clearTimeout>[0];
  private done = false;

  constructor(
    readonly probe: Probe,
    private readonly maxRows = 20,
  ) {
    this.out = liveOutput();
    this.render();
    void this.consume();
  }

  private async consume(): Promise<void> {
    for await (const batch of this.probe.batches()) {
      for (const e of batch) {
        this.events.push(e);
        this.waiters = this.waiters.filter((w) => (w.pred(e) ? (this.render(), w.resolve(e), false) : true));
      }
      this.timer ??= setTimeout(() => this.render(), 100);
    }
    this.done = true;
    this.render();
  }

  private render(): void {
    clearTimeout(this.timer);
    this.timer = undefined;
    const shown = this.events.slice(-this.maxRows);
    const hidden = this.events.length - shown.length;
    const state = this.done || this.probe.closed ? 'probe closed' : 'live';
    const drops = this.probe.drops();
    const lost = drops ? `, ${drops} dropped (${describeDrops(this.probe.dropCounts())})` : ', 0 dropped';
    const caption = `${this.probe.kind} ${this.probe.symbol}: ${this.events.length} event(s)${lost}, ${state}${hidden ? `, showing the last ${shown.length}` : ''}`;
    this.out.html(tableHtml(columns, shown.map(eventRow), caption));
  }

  /** The first event (already seen or still to come) that matches; throws after `timeoutMs` (10 s on an idle machine). */
  waitFor(pred: (e: TraceEvent) => boolean, timeoutMs = patient(10000)): Promise<TraceEvent> {
    const seen = this.events.find(pred);
    if (seen) return Promise.resolve(seen);
    return new Promise((resolve, reject) => {
      const w = {
        pred,
        resolve: (e: TraceEvent) => {
          clearTimeout(t);
          resolve(e);
        },
      };
      const t = setTimeout(() => {
        this.waiters = this.waiters.filter((x) => x !== w);
        this.render();
        reject(
          new LabError(
            `no matching ${this.probe.symbol} event within ${Math.round(timeoutMs / 1000)} s`,
            'is the probe attached to the right PID, and did the request reach the function?',
          ),
        );
      }, timeoutMs);
      this.waiters.push(w);
    });
  }

  /** Renders the final state now (a cell's output is recorded when the cell ends). */
  flush(): void {
    this.render();
  }
}

/** A live table of `probe`'s events. */
export function eventTable(probe: Probe, maxRows = 20): EventTable {
  return new EventTable(probe, maxRows);
}

/** Latency statistics of completed calls, in microseconds. */
export function latencyStats(events: TraceEvent[]): { calls: number; minUs: number; medianUs: number; maxUs: number } {
  const l = events.flatMap((e) => (e.latency_ns === null ? [] : [e.latency_ns / 1000])).sort((a, b) => a - b);
  if (l.length === 0)
    throw new LabError('no event carries a latency', 'trace returns (returnProbes) and send a request first');
  return { calls: l.length, minUs: l[0], medianUs: l[Math.floor(l.length / 2)], maxUs: l[l.length - 1] };
}

export const describeEvent = (e: TraceEvent) =>
  escapeHtml(
    eventRow(e)
      .filter((c) => c !== '')
      .join(' · '),
  );
