import type { DropCounts, ProbeKind, TraceEvent } from '../../bpf/ts/index.ts';

/** What the user asked to trace. */
export interface TraceRequest {
  mode: ProbeKind;
  symbol: string;
  binary: string;
  pid?: number;
  /** Raw register overrides; without them the addon reads the function's typed values. */
  args?: number;
  rets?: number;
  stringArg?: number;
  /** Events held for a slow reader before they count as drops (the addon's probe queue). */
  queueLimit?: number;
  /** Typed values: bytes of strings and stack words an event may carry (the addon's value budget). */
  valueBytes?: number;
}

/** A running tracer: its events, and how to stop it. */
export interface TraceSession {
  events: AsyncIterable<TraceEvent>;
  /** Events lost so far, by reason; final once close() has resolved. */
  drops(): DropCounts;
  /** Stops tracing; resolves once everything is detached. */
  close(): Promise<void>;
}
