/** Builds the cilium/ebpf reference peer: bpf2go (go generate) from bpf/*.bpf.c, then go build. */
import { existsSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { at } from '../../core/paths.ts';
import { run } from '../../core/proc.ts';
import { newestMtime } from '../../core/files.ts';
import { LabError } from '../../core/errors.ts';
import { buildGoProgram } from '../../core/go.ts';

export const peerDir = at('bpf', 'cilium');
export const peerBinary = join(peerDir, 'cilium-tracer');

const mtime = (p: string) => (existsSync(p) ? statSync(p).mtimeMs : 0);

export async function buildCiliumPeer(): Promise<void> {
  const bpfDir = at('bpf');
  if (!existsSync(join(bpfDir, 'vmlinux.h'))) {
    throw new LabError(
      'bpf/vmlinux.h is missing, so the peer cannot compile bpf/*.bpf.c',
      'run ./lab build (the bpf objects target writes it)',
    );
  }
  // `go tool bpf2go` and cilium/ebpf come from the Go module proxy on first use; -mod=mod lets
  // go.sum gain what a fresh module cache needs.
  const env = { ...process.env, GOFLAGS: '-mod=mod', CGO_ENABLED: '0' };
  const cSources = readdirSync(bpfDir)
    .filter((f) => f.endsWith('.bpf.c') || f.endsWith('.h'))
    .map((f) => join(bpfDir, f));
  const generatedObjects = readdirSync(peerDir)
    .filter((f) => f.endsWith('_bpfel.o'))
    .map((f) => join(peerDir, f));
  const oldestGenerated = generatedObjects.length === 4 ? Math.min(...generatedObjects.map(mtime)) : 0;
  if (
    oldestGenerated <
    (await newestMtime([...cSources, join(peerDir, 'empty.bpf.c'), join(peerDir, 'gen.go'), join(peerDir, 'go.mod')]))
  ) {
    await run('go', ['generate', './...'], {
      cwd: peerDir,
      env,
      fix: 'fix the BPF compile error above (bpf2go runs clang on bpf/*.bpf.c)',
    });
  }
  await buildGoProgram({
    dir: peerDir,
    out: peerBinary,
    env: { GOFLAGS: '-mod=mod' },
    // The generated objects are embedded (go:embed), so they are sources too.
    isSource: (p) => /\.go$|\/go\.(mod|sum)$|_bpfel\.o$/.test(p),
    fix: 'fix the Go compile error in bpf/cilium shown above',
  });
}
