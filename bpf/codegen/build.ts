/** Build steps for bpf/: BPF objects + generated event types, and the Node addon. */
import { existsSync, statSync } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { at } from '../../core/paths.ts';
import { run } from '../../core/proc.ts';
import { newestMtime, writeFileAtomicSync } from '../../core/files.ts';
import { LabError } from '../../core/errors.ts';
import { generate } from './gen-events.ts';
import { addonDir, addonPath as addonBinary, bpfBuildDir, bpfDir, bpfObject, bpfPrograms } from '../ts/artifacts.ts';
import { constantsGenGo, constantsGenTs, eventsHeader, generateConstants } from './gen-constants.ts';

const vmlinuxH = at('bpf', 'vmlinux.h');
const eventsGenTs = at('bpf', 'ts', 'events.gen.ts');

const mtime = (p: string) => (existsSync(p) ? statSync(p).mtimeMs : 0);

export async function buildBpfObjects(): Promise<void> {
  if (!existsSync(vmlinuxH)) {
    if (!existsSync('/sys/kernel/btf/vmlinux')) {
      throw new LabError(
        'this kernel has no BTF (/sys/kernel/btf/vmlinux)',
        'use a kernel built with CONFIG_DEBUG_INFO_BTF=y',
      );
    }
    const header = await run('bpftool', ['btf', 'dump', 'file', '/sys/kernel/btf/vmlinux', 'format', 'c'], {
      capture: true,
      fix: 'install bpftool (./lab setup)',
    });
    writeFileAtomicSync(vmlinuxH, header);
  }
  await mkdir(bpfBuildDir, { recursive: true });
  const headers = await newestMtime([bpfDir], (p) => p.endsWith('.h') && !p.includes('/node_modules/'));
  for (const prog of bpfPrograms()) {
    const src = join(bpfDir, `${prog}.bpf.c`);
    const obj = bpfObject(prog);
    if (mtime(obj) >= Math.max(headers, mtime(src))) continue;
    await run(
      'clang',
      ['-O2', '-g', '-Wall', '-target', 'bpf', '-D__TARGET_ARCH_x86', '-I', bpfDir, '-c', src, '-o', obj],
      {
        fix: `fix the BPF compile error in bpf/${prog}.bpf.c shown above`,
      },
    );
  }
  const source = bpfObject('entry');
  const generator = at('bpf', 'codegen', 'gen-events.ts');
  if (mtime(eventsGenTs) < Math.max(mtime(source), mtime(generator))) {
    writeFileAtomicSync(eventsGenTs, generate(source, ['lab_event']));
  }
  const constantsInputs = Math.max(mtime(eventsHeader), mtime(at('bpf', 'codegen', 'gen-constants.ts')));
  if (Math.min(mtime(constantsGenTs), mtime(constantsGenGo)) < constantsInputs) {
    const { ts, go } = generateConstants();
    writeFileAtomicSync(constantsGenTs, ts);
    writeFileAtomicSync(constantsGenGo, go);
  }
}

export async function buildAddon(): Promise<void> {
  // tracer.cc copies each record's fields out of struct lab_event (bpf/events.h).
  const inputs = await newestMtime([join(addonDir, 'tracer.cc'), join(addonDir, 'binding.gyp'), eventsHeader]);
  if (mtime(addonBinary) >= inputs) return;
  await run(at('node_modules', '.bin', 'node-gyp'), ['rebuild', '--nodedir=/usr'], {
    cwd: addonDir,
    capture: true,
    fix: 'the addon needs build-essential, libbpf-dev, libelf-dev, zlib1g-dev and Node headers in /usr/include/node (./lab setup)',
  });
}
