/**
 * The probe service's protocol, one JSON object a line, between the client (probe-service-client.ts,
 * in an attendee's process) and the service (engines/services/probe-service.ts, root), through
 * probe-gate. Both import it: the messages, the limits, and how 64-bit values travel.
 */
import type { KernelSite } from './inspect.ts';
import type { ProbeKind } from './probe-kinds.ts';
import type { ProbeOptions } from './probes.ts';
import type { TraceEvent } from './trace-event.ts';
import type { GoValue, ValueInfo } from './values.ts';

/** What a probe may ask the service for besides its kind, symbol and pid (the rest of ProbeOptions is the client's). */
export type RemoteProbeOptions = Pick<ProbeOptions, 'pid' | 'args' | 'rets' | 'stringArg' | 'readThrough'>;

/** Client → service. The service treats every line as hostile input and checks each field itself. */
export type Request =
  | ({ op: 'attach'; id: number; kind: ProbeKind; symbol: string } & RemoteProbeOptions)
  | { op: 'detach'; id: number }
  | { op: 'sites'; id: number }
  | { op: 'held'; id: number };

/** A probe the service holds for a connection, open or still detaching, with the kernel's links for it. */
export interface HeldRemoteProbe {
  id: number;
  kind: ProbeKind;
  symbol: string;
  /** As the caller named it (in its PID namespace). */
  pid: number;
  /** Closed, and the kernel has not let go of all its links yet. */
  closing: boolean;
  linkIds: number[];
}

/** Service → client; `id` is the request's (an error without one is about the connection). */
export type Reply =
  | { op: 'attached'; id: number; kind: ProbeKind; symbol: string; pid: number }
  | { op: 'event'; id: number; event: TraceEvent }
  | { op: 'drops'; id: number; count: number; reason: string }
  /** Once the kernel has let go of the probe's links. */
  | { op: 'detached'; id: number; reason: string; kernelDrops: number }
  /** The kernel's fdinfo of that probe's links. */
  | { op: 'sites'; id?: number; sites: KernelSite[] }
  | { op: 'held'; id?: number; probes: HeldRemoteProbe[] }
  | { op: 'error'; id?: number; error: string };

export interface ProbeServiceLimits {
  /** Probes one attendee (uid) may hold at once, over all their connections. */
  maxProbes: number;
  /** Events per second one attendee (uid) receives, over all their connections; the rest are dropped and counted. */
  maxEventsPerSecond: number;
  /** Connections one attendee (uid) may have open at once (each notebook kernel holds one). */
  maxConnections?: number;
}

export const defaultLimits = {
  maxProbes: 8,
  maxEventsPerSecond: 2000,
  maxConnections: 32,
} satisfies ProbeServiceLimits;

/** The longest request line; a longer one closes the connection. */
export const maxLineBytes = 4096;

/** One line of the protocol. JSON has no 64-bit integers: a BigInt travels as its decimal string. */
export const encodeLine = (m: Request | Reply): string =>
  `${JSON.stringify(m, (_k, v) => (typeof v === 'bigint' ? v.toString() : v))}\n`;

const integerType = /^(u?int(8|16|32|64)?|uintptr)$/;
const revive = (values: GoValue[], info?: ValueInfo[]) =>
  values.map((v, i) =>
    typeof v === 'string' && info?.[i] && integerType.test(info[i].type) && /^-?\d+$/.test(v) ? BigInt(v) : v,
  );

/** An event as encodeLine sent it, with the types a direct probe delivers: integers and registers BigInts again. */
export function decodeEvent(e: TraceEvent): TraceEvent {
  if (e.params) e.args = revive(e.args, e.params);
  if (e.results) e.ret = revive(e.ret, e.results);
  if (e.regs) e.regs = { args: e.regs.args.map((x) => BigInt(x)), ret: e.regs.ret.map((x) => BigInt(x)) };
  return e;
}
