/** Can this process trace at all: capabilities, the kernel's uprobe PMU, the built BPF objects. */
import { existsSync, readFileSync } from 'node:fs';
import { LabError } from '../../core/errors.ts';
import { bpfObject, bpfPrograms } from './artifacts.ts';

const CAP_SYS_ADMIN = 21n;
const CAP_PERFMON = 38n;
const CAP_BPF = 39n;

/** Says which capabilities are missing to load BPF programs and open uprobes. */
export function missingCapabilities(): string[] {
  const status = readFileSync('/proc/self/status', 'utf8');
  const eff = BigInt('0x' + (/^CapEff:\s*([0-9a-f]+)/m.exec(status)?.[1] ?? '0'));
  const has = (cap: bigint) => (eff >> cap) & 1n;
  if (has(CAP_SYS_ADMIN)) return [];
  return [['CAP_BPF', CAP_BPF] as const, ['CAP_PERFMON', CAP_PERFMON] as const]
    .filter(([, c]) => !has(c))
    .map(([n]) => n);
}

/** Throws the LabError that says what is missing, before the addon gets an EPERM. */
export function checkCanTrace(): void {
  const missing = missingCapabilities();
  if (missing.length > 0) {
    throw new LabError(
      `tracing needs CAP_BPF and CAP_PERFMON (or CAP_SYS_ADMIN), and this process (uid ${process.getuid?.()}) lacks ${missing.join(' and ')}`,
      'run it as root, e.g. sudo ./lab run-tracer',
    );
  }
  if (!existsSync('/sys/bus/event_source/devices/uprobe')) {
    throw new LabError(
      'this kernel has no uprobe support (/sys/bus/event_source/devices/uprobe is missing)',
      'use a kernel built with CONFIG_UPROBE_EVENTS=y',
    );
  }
  for (const o of tracerObjects()) {
    if (!existsSync(o)) throw new LabError(`the BPF object ${o} is not built`, 'run ./lab build');
  }
}

/** The objects the tracer loads, one per bpf/*.bpf.c. */
export const tracerObjects = () => bpfPrograms().map(bpfObject);
