/** The compiled libbpf addon (bpf/addon), typed. Build it with ./lab build. */
import { createRequire } from 'node:module';
import { existsSync } from 'node:fs';
import { LabError } from '../../core/errors.ts';
import { at } from '../../core/paths.ts';

export const addonPath = at('bpf', 'addon', 'build', 'Release', 'lab_tracer.node');

/** An Error thrown by the addon: errno and libbpf's last messages attached. */
export interface NativeError extends Error {
  errno?: number;
  libbpfLog?: string;
}

export interface NativeTracer {
  /** Returns a link id. `funcName` null: attach at `offset` (a file offset) directly. */
  attachUprobe(program: string, binary: string, offset: number, funcName: string | null, pid: number, retprobe: boolean, cookie: bigint): number;
  attachTracing(program: string): number;
  detach(linkId: number): void;
  /** Consumes what the ring buffer holds now and delivers it to onEvents; returns the record count. */
  drain(): number;
  drops(probeId: number): number;
  watch(pid: number): void;
  /** Keep Node alive while someone awaits events (true), or not (false, the default). */
  ref(on: boolean): void;
  programIds(): number[];
  close(): void;
}

interface AddonModule {
  /** onEvents reads batch[0, length) during the call only: the addon reuses the buffer for the next batch. */
  Tracer: new (objects: string[], onEvents: (batch: ArrayBuffer, length: number) => void) => NativeTracer;
}

let loaded: AddonModule | undefined;

export function loadAddon(): AddonModule {
  if (loaded) return loaded;
  if (!existsSync(addonPath)) throw new LabError('the tracer addon is not built (bpf/addon)', 'run ./lab build');
  loaded = createRequire(import.meta.url)(addonPath) as AddonModule;
  return loaded;
}
