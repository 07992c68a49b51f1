/** The compiled libbpf addon (bpf/addon), typed. Build it with ./lab build. */
import { createRequire } from 'node:module';
import { existsSync } from 'node:fs';
import { LabError } from '../../core/errors.ts';
import { addonPath } from './artifacts.ts';

export { addonPath };

/** An Error thrown by the addon: errno and libbpf's last messages attached. */
export interface NativeError extends Error {
  errno?: number;
  libbpfLog?: string;
}

export interface NativeTracer {
  /** Returns a link id. `funcName` null: attach at `offset` (a file offset) directly. */
  attachUprobe(
    program: string,
    binary: string,
    offset: number,
    funcName: string | null,
    pid: number,
    retprobe: boolean,
    cookie: bigint,
  ): number;
  attachTracing(program: string): number;
  /** One uprobe_multi link for every site (file offsets), each with its cookie; pid -1: every process. */
  attachUprobeMulti(
    program: string,
    binary: string,
    offsets: number[],
    cookies: bigint[],
    pid: number,
    retprobe: boolean,
  ): number;
  /** The kernel takes uprobe_multi links (Linux 6.6+) and the programs were loaded for them. */
  readonly uprobeMulti: boolean;
  detach(linkId: number): void;
  /** The links are no longer the tracer's at once; the promise settles once the kernel has released them (worker threads). */
  detachAsync(linkIds: number[]): Promise<void>;
  /** Zeroes a probe id's drop counter (ids are reused). */
  clearDrops(probeId: number): void;
  /** Consumes what the ring buffer holds now and delivers it to onEvents; returns the record count. */
  drain(): number;
  /** A per-CPU count by probe id: lab_drops (the ring buffer was full), or lab_lost (open frames the LRU dropped). */
  drops(probeId: number, counter?: 'lab_drops' | 'lab_lost'): number;
  watch(pid: number): void;
  /** Writes a probe id's struct lab_probe_config (bpf/events.h) into lab_config. */
  configure(probeId: number, config: Uint8Array): void;
  /** Keep Node alive while someone awaits events (true), or not (false, the default). */
  ref(on: boolean): void;
  programIds(): number[];
  close(): void;
}

interface AddonModule {
  /**
   * onEvents reads the ring buffer in place: `ring` is its data area (mapped twice in a row, so no
   * record wraps: offsets run to twice the ring's size), the same ArrayBuffer on every call, and
   * [start, end) whole records, each an 8-byte header (u32 length with the BUSY and DISCARD bits,
   * u32 page offset) then the sample, padded to 8 bytes. Valid during the call only: the kernel
   * reuses the space once it returns. Read-only: a write to it kills the process. `block` holds
   * the batch's events copied out of the ring (bpf/ts/event-block.ts), `slots` of its 8-byte slots
   * used (null: no event in the batch); it stays valid as long as JS holds it.
   */
  Tracer: new (
    objects: string[],
    onEvents: (ring: ArrayBuffer, start: number, end: number, block: ArrayBuffer | null, slots: number) => void,
  ) => NativeTracer;
}

let loaded: AddonModule | undefined;

export function loadAddon(): AddonModule {
  if (loaded) return loaded;
  if (!existsSync(addonPath)) throw new LabError('the tracer addon is not built (bpf/addon)', 'run ./lab build');
  loaded = createRequire(import.meta.url)(addonPath) as AddonModule;
  return loaded;
}
