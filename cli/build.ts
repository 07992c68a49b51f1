import { LabError } from '../core/errors.ts';
import { withLock } from '../core/lock.ts';
import { say, step } from '../core/ui.ts';
import { describeStale, staleRecordings } from '../engines/recordings.ts';

export interface BuildOptions {
  /** Go toolchain for the server (`--go=/path/to/go`). */
  go?: string;
}

/** The build's targets by id; each build is incremental. Only the CLI starts a build. */
export const targetIds = ['server', 'kernelspec', 'bpf', 'addon', 'cilium', 'bench', 'probe-gate', 'site'] as const;
export type TargetId = (typeof targetIds)[number];

interface BuildTarget {
  title: string;
  needs: TargetId[];
  build(opts: BuildOptions): Promise<void>;
}

const targets: Record<TargetId, BuildTarget> = {
  server: {
    title: 'Go server (server/server)',
    needs: [],
    build: async (o) => void (await (await import('../core/go.ts')).buildDefaultServer(o.go)),
  },
  kernelspec: {
    title: 'tslab kernelspec (.lab/jupyter)',
    needs: [],
    build: async () => (await import('../engines/services/jupyter.ts')).ensureKernelspec(),
  },
  bpf: {
    title: 'bpf objects (bpf/build, bpf/ts/events.gen.ts)',
    needs: [],
    build: async () => (await import('../bpf/codegen/build.ts')).buildBpfObjects(),
  },
  addon: {
    title: 'addon (bpf/addon, libbpf)',
    needs: ['bpf'],
    build: async () => (await import('../bpf/codegen/build.ts')).buildAddon(),
  },
  cilium: {
    title: 'cilium/ebpf peer (bpf/cilium)',
    needs: ['bpf'],
    build: async () => (await import('../bpf/cilium/build.ts')).buildCiliumPeer(),
  },
  bench: {
    title: 'bench tools (bench/build)',
    needs: ['bpf'],
    build: async () => (await import('../bench/build.ts')).buildBenchTools(),
  },
  'probe-gate': {
    title: 'probe gate (engines/services/probe-gate, SO_PEERCRED front door)',
    needs: [],
    build: async () => (await import('../engines/services/probe-gate.ts')).buildProbeGate(),
  },
  site: {
    title: 'site (build/, docusaurus)',
    needs: [],
    build: async () => (await import('../engines/services/site.ts')).buildSite(),
  },
};

export function isTargetId(name: string): name is TargetId {
  return (targetIds as readonly string[]).includes(name);
}

/** The targets to build for `wanted`, dependencies first, each once. */
export function buildOrder(wanted: readonly TargetId[]): TargetId[] {
  const order: TargetId[] = [];
  const visit = (id: TargetId) => {
    if (order.includes(id)) return;
    targets[id].needs.forEach(visit);
    order.push(id);
  };
  wanted.forEach(visit);
  return order;
}

/** Builds the given targets (and what they need); every target when none are given. */
export async function buildAll(opts: BuildOptions = {}, wanted: readonly string[] = targetIds): Promise<void> {
  const unknown = wanted.filter((w) => !isTargetId(w));
  if (unknown.length)
    throw new LabError(
      `unknown build target ${JSON.stringify(unknown[0]).slice(0, 80)}`,
      `pick from: ${targetIds.join(', ')}`,
    );
  await withLock('build', 'build', async () => {
    for (const id of buildOrder(wanted as TargetId[]))
      await step(`build ${targets[id].title}`, () => targets[id].build(opts));
  });
  if (wanted === targetIds) for (const s of staleRecordings()) say(`note: ${describeStale(s)}`);
}
