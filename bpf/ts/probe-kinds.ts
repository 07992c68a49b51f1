/**
 * The kinds of probe, one table: what each attaches, the TracedExecutable method that opens it,
 * and what it is for. run-tracer, the crash matrix and bench read it; adding a row reaches them
 * all (a kind's links are attached from `returns`, not by a switch on its name).
 */
import { LabProbeMode } from './constants.gen.ts';

export interface ProbeKindInfo {
  /** The TracedExecutable method that opens this kind (exe.probe(kind, …) does the same). */
  method: 'uprobe' | 'uretprobe' | 'returnProbes';
  /** enum lab_probe_mode, carried in the cookie. */
  mode: number;
  /** How returns are seen: not at all, by a uretprobe at the function's entry, or by a uprobe on every RET. */
  returns: 'none' | 'uretprobe' | 'ret-sites';
  /** Events one completed call produces. */
  eventsPerCall: number;
  /** It hijacks return addresses, so Go programs whose stacks move crash under it. */
  crashesGo: boolean;
  /** A few words, for lists: "safe returns". */
  summary: string;
  description: string;
}

export const probeKinds = {
  uprobe: {
    method: 'uprobe',
    mode: LabProbeMode.LAB_MODE_UPROBE,
    returns: 'none',
    eventsPerCall: 1,
    crashesGo: false,
    summary: 'entries',
    description: 'entries: one event per call, with its arguments',
  },
  uretprobe: {
    method: 'uretprobe',
    mode: LabProbeMode.LAB_MODE_URETPROBE,
    returns: 'uretprobe',
    eventsPerCall: 2,
    crashesGo: true,
    summary: 'returns; crashes Go',
    description: "entries and returns through the kernel's uretprobe (crashes Go)",
  },
  ret: {
    method: 'returnProbes',
    mode: LabProbeMode.LAB_MODE_RET,
    returns: 'ret-sites',
    eventsPerCall: 1,
    crashesGo: false,
    summary: 'safe returns',
    description: 'safe returns: a uprobe on every RET, one call event with arguments, results and latency',
  },
} as const satisfies Record<string, ProbeKindInfo>;

export type ProbeKind = keyof typeof probeKinds;

export const probeKindNames = Object.keys(probeKinds) as ProbeKind[];

export function isProbeKind(name: string): name is ProbeKind {
  return Object.hasOwn(probeKinds, name);
}
