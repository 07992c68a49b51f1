/**
 * The process-wide ring-buffer session: the BPF objects loaded once and shared by every probe of
 * this process, one ring buffer for all of them, each batch read in place and routed to the
 * probe whose id is in the event. The objects outlive their last probe by LINGER_MS, so closing
 * a probe and opening the next (a notebook re-run, the crash matrix) does not reload them.
 */
import { say } from '../../core/ui.ts';
import { loadAddon, type NativeTracer } from './addon.ts';
import { checkCanTrace, tracerObjects } from './capabilities.ts';
import { LabEventKind } from './constants.gen.ts';
import { LabEventReader } from './events.gen.ts';
import { EventBlock, I_AT, I_COUNTS, I_KIND, I_PROBE, recordSlots } from './event-block.ts';
import { compareIdentity, type FileIdentity } from './file-identity.ts';
import { translateLibbpfError } from './libbpf-errors.ts';
import { checkPid, processAlive } from './process-checks.ts';
import { LabError } from '../../core/errors.ts';
import { onSignalFallback, signalOwned } from '../../core/signals.ts';
import type { TraceEvent } from './trace-event.ts';

/** What the session needs of a probe. */
export interface SessionProbe {
  readonly id: number;
  readonly binary: string;
  readonly identity: FileIdentity;
  /**
   * The batch's records from `slot` on while they are this probe's (and not exits), up to `end`:
   * their copies in the batch's block, the records themselves in the ring (valid during the call).
   * Returns the slot after the last it took (at least one record's).
   */
  deliverFrom(r: LabEventReader, block: EventBlock, slot: number, end: number): number;
  deliverExit(event: TraceEvent): void;
  /** The file it was attached to changed: say so, and detach if its offsets are now wrong. */
  fileChanged(how: 'replaced' | 'modified' | 'gone'): void;
  close(): void;
  readonly detached: Promise<void>;
}

/** How long loaded objects wait for the next probe before they are unloaded. */
const LINGER_MS = 2000;
/** How often the files of attached probes are checked for replacement. */
const FILE_CHECK_MS = 1000;

export class Session {
  readonly native: NativeTracer;
  readonly probes = new Map<number, SessionProbe>();
  readonly exitWaiters = new Map<number, ((e: TraceEvent) => void)[]>();
  /** Ids whose links are still being detached: not reused until the kernel has let them go. */
  private readonly retiring = new Map<number, Promise<void>>();
  private nextId = 1;
  private reader: LabEventReader | undefined;
  private refs = 0;
  private linger: ReturnType<typeof setTimeout> | undefined;
  private fileCheck: ReturnType<typeof setInterval> | undefined;
  private released = false;
  /** The exit tracepoint's link, attached while a probe or an exit watcher needs it. */
  private exitLink: number | undefined;
  private exitDetaches = 0;
  /** Links are uprobe_multi links (one per program of a probe), unless the kernel lacks them or LAB_UPROBE_LINKS=perf asks for perf-event links. */
  readonly uprobeMulti: boolean;

  constructor() {
    checkCanTrace();
    const { Tracer } = loadAddon();
    try {
      this.native = new Tracer(tracerObjects(), (ring, start, end, block, slots) =>
        this.onBatch(ring, start, end, block, slots),
      );
    } catch (e) {
      throw translateLibbpfError(e, "cannot load the lab's BPF programs");
    }
    this.uprobeMulti = this.native.uprobeMulti && process.env.LAB_UPROBE_LINKS !== 'perf';
  }

  /** A free probe id (1..65534, the cookie's 16 bits less LAB_NO_RET_SITE's), its old drop count cleared. */
  allocateId(): number {
    for (let i = 0; i < 0xfffe; i++) {
      const id = this.nextId;
      this.nextId = (this.nextId % 0xfffe) + 1;
      if (this.probes.has(id) || this.retiring.has(id)) continue;
      this.native.clearDrops(id);
      return id;
    }
    throw new LabError('65534 probes are open in this process', 'close probes you no longer need');
  }

  /** Process exits are reported while someone needs them: a lingering session holds no link at all. */
  needExits(): void {
    clearTimeout(this.linger);
    this.linger = undefined;
    if (this.exitLink !== undefined) return;
    try {
      this.exitLink = this.native.attachTracing('lab_exit');
    } catch (e) {
      throw translateLibbpfError(e, "cannot attach the lab's process-exit tracepoint");
    }
  }

  add(probe: SessionProbe): void {
    this.needExits();
    this.probes.set(probe.id, probe);
    this.fileCheck ??= setInterval(() => this.checkFiles(), FILE_CHECK_MS).unref();
  }

  /** The probe is closed: its links go in worker threads; the id is free once they are gone. */
  retire(id: number, links: number[]): Promise<void> {
    this.probes.delete(id);
    const done = links.length === 0 ? Promise.resolve() : this.native.detachAsync(links);
    const settled = done
      .catch(() => {})
      .then(() => {
        this.retiring.delete(id);
        this.releaseIfIdle();
      });
    this.retiring.set(id, settled);
    this.releaseIfIdle();
    return settled;
  }

  drain(): void {
    if (!this.released) this.native.drain();
  }

  drops(id: number): number {
    return this.released ? 0 : this.native.drops(id);
  }

  /** Someone awaits events: keep Node alive until they have them. */
  hold(on: boolean): void {
    this.refs += on ? 1 : -1;
    if (!this.released) this.native.ref(this.refs > 0);
  }

  /**
   * The records in [start, end) of the ring buffer's data area, read in place: the same buffer for
   * the session's life, its bytes valid only during this call (the kernel reuses them after). The
   * addon has copied their events into `block` (`slots` used; null: none): each record is routed
   * from there.
   */
  private onBatch(ring: ArrayBuffer, _start: number, _end: number, block: ArrayBuffer | null, slots: number): void {
    if (this.reader?.buffer !== ring) this.reader = new LabEventReader(ring);
    if (block === null) return;
    const r = this.reader;
    const b = new EventBlock(block);
    const i32 = b.i32;
    let probe: SessionProbe | undefined;
    for (let slot = 0; slot < slots && !this.released; ) {
      const i = slot * 2;
      if (i32[i + I_KIND] === LabEventKind.LAB_EXIT) {
        this.onExit(r, i32[i + I_AT]);
        slot += recordSlots(i32[i + I_COUNTS]);
        continue;
      }
      const id = i32[i + I_PROBE];
      if (probe?.id !== id) probe = this.probes.get(id);
      if (probe === undefined) slot += recordSlots(i32[i + I_COUNTS]);
      else slot = probe.deliverFrom(r, b, slot, slots);
    }
  }

  private onExit(r: LabEventReader, at: number): void {
    const pid = r.pid(at);
    const event: TraceEvent = {
      kind: 'exit',
      symbol: '',
      pid,
      tid: r.tid(at),
      goroutine: '0x0',
      ts_ns: r.ts_ns(at),
      args: [],
      ret: [],
      latency_ns: null,
      exit_code: r.exit_code(at),
      signal: r.signal(at),
    };
    for (const p of this.probes.values()) p.deliverExit(event);
    const waiters = this.exitWaiters.get(pid);
    this.exitWaiters.delete(pid);
    for (const w of waiters ?? []) w(event);
    this.releaseIfIdle();
  }

  /** A periodic stat of each attached file (cheaper than watching every exec). */
  private checkFiles(): void {
    const verdicts = new Map<string, ReturnType<typeof compareIdentity>>();
    for (const p of [...this.probes.values()]) {
      const key = `${p.binary}\0${p.identity.ino}`;
      let how = verdicts.get(key);
      if (how === undefined) verdicts.set(key, (how = compareIdentity(p.binary, p.identity)));
      if (how !== 'same') p.fileChanged(how);
    }
  }

  releaseIfIdle(): void {
    if (this.released || this.probes.size > 0 || this.exitWaiters.size > 0) return;
    clearInterval(this.fileCheck);
    this.fileCheck = undefined;
    if (this.exitLink !== undefined) {
      const link = this.exitLink;
      this.exitLink = undefined;
      const key = -++this.exitDetaches; // never a probe id
      this.retiring.set(
        key,
        this.native
          .detachAsync([link])
          .catch(() => {})
          .then(() => {
            this.retiring.delete(key);
            this.releaseIfIdle();
          }),
      );
    }
    if (this.linger || this.retiring.size > 0) return;
    this.linger = setTimeout(() => {
      this.linger = undefined;
      if (this.probes.size === 0 && this.exitWaiters.size === 0 && this.retiring.size === 0) this.release();
    }, LINGER_MS).unref();
  }

  /** Unloads everything now (links still attached are destroyed first). */
  release(): void {
    if (this.released) return;
    clearTimeout(this.linger);
    clearInterval(this.fileCheck);
    this.released = true;
    this.native.close();
    if (session === this) session = undefined;
  }

  /** Whether the detach thread is unregistering links now. */
  get detaching(): boolean {
    return this.retiring.size > 0;
  }

  /** Resolves when every link being detached is gone. */
  async settled(): Promise<void> {
    while (this.retiring.size > 0) await Promise.all(this.retiring.values());
  }
}

let session: Session | undefined;
let exitHooksInstalled = false;

export function currentSession(): Session {
  if (!exitHooksInstalled) {
    exitHooksInstalled = true;
    // At exit the kernel closes whatever is left, but a process that dies while its detach thread is
    // unregistering kills that thread mid-way: the kernel gives up on those uprobes ("uprobe: node:TID
    // failed to unregister, leaking uprobe") and their int3s stay in the traced processes' text.
    for (const sig of ['SIGINT', 'SIGTERM'] as const) {
      const onSignal = () => {
        // A SIGINT someone else handles is theirs (a tslab kernel's is "interrupt this cell": the
        // helpers release that cell's probes, not every probe of the kernel).
        // Asked now: an owner listening with once() is gone by the time the probes are closed.
        const owned = signalOwned(sig);
        if (sig === 'SIGINT' && owned) return;
        process.off(sig, onSignal);
        // Nobody else handles it: end as we would have (by the signal, or the CLI's own ending), once
        // the kernel has let go.
        void closeAllProbes().finally(() => {
          if (owned) return;
          // Another fallback (the CLI's) ends the process now, before the loop can drain and exit 0.
          if (process.listenerCount(sig) > 0) process.emit(sig, sig);
          else process.kill(process.pid, sig);
        });
      };
      onSignalFallback(sig, onSignal);
    }
    // process.exit() during a detach: finish it (the native close waits for the detach thread) first.
    process.once('exit', () => {
      if (session?.detaching) session.release();
    });
  }
  return (session ??= new Session());
}

/** The session if one is loaded (nothing is loaded to ask). */
export const existingSession = (): Session | undefined => session;

export function sessionProbes(): SessionProbe[] {
  return session ? [...session.probes.values()] : [];
}

/** Closes every probe and unloads the BPF objects; resolves once the kernel has released the links. */
export async function closeAllProbes(): Promise<void> {
  const s = session;
  if (!s) return;
  for (const p of [...s.probes.values()]) p.close();
  await s.settled();
  if (s.probes.size === 0 && s.exitWaiters.size === 0) s.release();
}

/** Resolves once every link this process let go of is released by the kernel (close() does not wait for it). */
export async function linksReleased(): Promise<void> {
  await session?.settled();
}

/** Ids of the BPF programs this process has loaded (empty when none), for leak checks. */
export function loadedProgramIds(): number[] {
  return session ? session.native.programIds() : [];
}

/** Resolves when the process exits, with its exit code or the signal that killed it. */
export async function watchExit(pid: number): Promise<{ pid: number; code: number; signal: number }> {
  checkPid(pid);
  const s = currentSession();
  const exited = new Promise<TraceEvent>((resolve) => {
    const list = s.exitWaiters.get(pid) ?? [];
    list.push(resolve);
    s.exitWaiters.set(pid, list);
  });
  s.hold(true);
  try {
    try {
      s.needExits();
      s.native.watch(pid);
    } catch (e) {
      s.exitWaiters.delete(pid);
      s.releaseIfIdle();
      throw translateLibbpfError(e, `cannot watch process ${pid}`);
    }
    if (!processAlive(pid)) {
      // It may have died between the check and the watch: its exit event may or may not come.
      await new Promise((r) => setTimeout(r, 50));
      s.drain();
      if (s.exitWaiters.has(pid)) {
        s.exitWaiters.delete(pid);
        s.releaseIfIdle();
        throw new LabError(`process ${pid} exited before it could be watched`, 'watch it while it is still running');
      }
    }
    const e = await exited;
    return { pid, code: e.exit_code ?? 0, signal: e.signal ?? 0 };
  } finally {
    s.hold(false);
  }
}

/** For messages a probe cannot return to anyone (its file changed while attached). */
export const notice = (message: string) => say(`warning: ${message}`);
