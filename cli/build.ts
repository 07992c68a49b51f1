import { readdir, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { step } from './ui.ts';

/** Newest modification time under the given files/directories (0 when none exist). */
export async function newestMtime(paths: string[], include: (p: string) => boolean = () => true): Promise<number> {
  let newest = 0;
  for (const p of paths) {
    const s = await stat(p).catch(() => undefined);
    if (!s) continue;
    if (s.isDirectory()) {
      const entries = await readdir(p);
      const children = entries.filter((e) => !['node_modules', 'build', 'bin', '.git'].includes(e));
      newest = Math.max(newest, await newestMtime(children.map((e) => join(p, e)), include));
    } else if (include(p)) {
      newest = Math.max(newest, s.mtimeMs);
    }
  }
  return newest;
}

export interface BuildOptions {
  /** Go toolchain for the server (`--go=/path/to/go`). */
  go?: string;
}

export interface BuildTarget {
  name: string;
  build(opts: BuildOptions): Promise<void>;
}

/** Every build target in dependency order; `./lab build` runs them all (each is incremental). */
export const buildTargets: BuildTarget[] = [
  {
    name: 'Go server (server/server)',
    async build(opts) {
      const { buildDefaultServer } = await import('./go.ts');
      await buildDefaultServer(opts.go);
    },
  },
  { name: 'tslab kernelspec (.lab/jupyter)', build: async () => (await import('./jupyter.ts')).ensureKernelspec() },
  { name: 'bpf objects (bpf/build, bpf/ts/events.gen.ts)', build: async () => (await import('../bpf/codegen/build.ts')).buildBpfObjects() },
  { name: 'addon (bpf/addon, libbpf)', build: async () => (await import('../bpf/codegen/build.ts')).buildAddon() },
  { name: 'cilium/ebpf peer (bpf/cilium)', build: async () => (await import('../bpf/cilium/build.ts')).buildCiliumPeer() },
  { name: 'bench tools (bench/build)', build: async () => (await import('../bench/build.ts')).buildBenchTools() },
  { name: 'crash matrix data (docs/data/crash-matrix.json)', build: async () => (await import('./commands/crash-matrix.ts')).buildCrashMatrixData() },
  { name: 'site (build/, docusaurus)', build: async () => (await import('./site.ts')).buildSite() },
];

export async function buildAll(opts: BuildOptions = {}, only?: string[]): Promise<void> {
  for (const t of buildTargets) {
    if (only && !only.some((o) => t.name.toLowerCase().includes(o))) continue;
    await step(`build ${t.name}`, () => t.build(opts));
  }
}
