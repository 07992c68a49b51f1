/** Builds the benchmarks' helpers into bench/build: the Go loop, the BPF burst producer, the C ring-buffer tool. */
import { existsSync, statSync } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { at } from '../core/paths.ts';
import { run } from '../core/proc.ts';
import { newestMtime } from '../core/files.ts';
import { LabError } from '../core/errors.ts';
import { buildGoLoop, goloopBinary } from '../engines/overhead.ts';

export { goloopBinary };

export const benchBuildDir = at('bench', 'build');
export const burstObject = join(benchBuildDir, 'burst.bpf.o');
export const ringbufTool = join(benchBuildDir, 'ringbuf-bench');

const mtime = (p: string) => (existsSync(p) ? statSync(p).mtimeMs : 0);

async function stale(output: string, inputs: string[]): Promise<boolean> {
  return mtime(output) < (await newestMtime(inputs));
}

export async function buildBenchTools(): Promise<void> {
  await mkdir(benchBuildDir, { recursive: true });
  await buildGoLoop();
  const bpfDir = at('bpf');
  if (!existsSync(join(bpfDir, 'vmlinux.h')))
    throw new LabError('bpf/vmlinux.h is missing', 'run ./lab build (the bpf objects target writes it)');
  const burstSrc = at('bench', 'bpf', 'burst.bpf.c');
  if (await stale(burstObject, [burstSrc, join(bpfDir, 'maps.h'), join(bpfDir, 'events.h')])) {
    await run(
      'clang',
      ['-O2', '-g', '-Wall', '-target', 'bpf', '-D__TARGET_ARCH_x86', '-I', bpfDir, '-c', burstSrc, '-o', burstObject],
      {
        fix: 'fix the BPF compile error in bench/bpf/burst.bpf.c shown above',
      },
    );
  }
  const toolSrc = at('bench', 'ringbuf', 'ringbuf-bench.c');
  if (await stale(ringbufTool, [toolSrc, join(bpfDir, 'events.h')])) {
    await run('cc', ['-O2', '-Wall', '-I', bpfDir, '-o', ringbufTool, toolSrc, '-lbpf'], {
      fix: 'install libbpf-dev and build-essential (./lab setup)',
    });
  }
}
