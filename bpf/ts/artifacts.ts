/** Where the build puts what the tracer loads: one BPF object per bpf/*.bpf.c, and the addon. */
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { at } from '../../core/paths.ts';

export const bpfDir = at('bpf');
export const bpfBuildDir = at('bpf', 'build');
export const addonDir = at('bpf', 'addon');
export const addonPath = at('bpf', 'addon', 'build', 'Release', 'lab_tracer.node');

/** One object per bpf/*.bpf.c ("entry", "exit", "ret"). */
export function bpfPrograms(): string[] {
  return readdirSync(bpfDir)
    .filter((f) => f.endsWith('.bpf.c'))
    .map((f) => f.slice(0, -'.bpf.c'.length))
    .sort();
}

export const bpfObject = (program: string) => join(bpfBuildDir, `${program}.bpf.o`);
