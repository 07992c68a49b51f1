import type { ProbeKind, TraceEvent } from '../../bpf/ts/index.ts';

/** What the user asked to trace. */
export interface TraceRequest {
  mode: ProbeKind;
  symbol: string;
  binary: string;
  pid?: number;
  args: number;
  rets: number;
  stringArg?: number;
}

/** A running tracer: its events, and how to stop it. */
export interface TraceSession {
  events: AsyncIterable<TraceEvent>;
  close(): void;
}
