/**
 * The kernel side of the tracer API: one addon session per process (the BPF
 * objects loaded once, one ring buffer for every probe), probes as sets of
 * bpf_links told apart by their bpf_cookie, events read in place from each
 * batch and routed to the probe that asked for them.
 */
import { existsSync, readFileSync, readlinkSync, statSync, type Stats } from 'node:fs';
import { LabError } from '../../core/errors.ts';
import { at } from '../../core/paths.ts';
import { loadAddon, type NativeError, type NativeTracer } from './addon.ts';
import { LabEventKind, LabEventReader, LAB_EVENT_SIZE } from './events.gen.ts';

export type ProbeKind = 'uprobe' | 'uretprobe' | 'ret';

export interface ProbeOptions {
  /** Trace only this process (default: every process running the binary). */
  pid?: number;
  /** Integer arguments to read from the Go register ABI (default 4, at most 9). */
  args?: number;
  /** Register slot i holds a Go string: pointer in slot i, length in slot i + 1. */
  stringArg?: number;
  /** Result registers to read at return (default 2, at most 9). */
  rets?: number;
}

export type TraceEvent = {
  kind: 'entry' | 'return' | 'call' | 'exit';
  symbol: string;
  pid: number;
  tid: number;
  goroutine: string;
  ts_ns: number;
  args: number[];
  str?: string;
  ret: number[];
  latency_ns: number | null;
  ret_site?: number;
  /** The thread the paired entry ran on, when it differs from `tid`: the goroutine moved between threads. */
  entry_tid?: number;
  exit_code?: number;
  signal?: number;
};

export interface Probe extends Disposable, AsyncIterable<TraceEvent> {
  readonly symbol: string;
  readonly kind: ProbeKind;
  readonly closed: boolean;
  /** The same events, as arrays of whatever has arrived: for consumers of millions of events a second. */
  batches(): AsyncIterable<TraceEvent[]>;
  close(): void;
  drops(): number;
}

/** Where a probe's links go, in file offsets of the binary. */
export interface ProbePlan {
  binary: string;
  symbol: string;
  kind: ProbeKind;
  /** Entry program: after the stack check (see prologue.ts). */
  entryOffset: number;
  /** uretprobe: the function's first byte (the kernel hijacks the return address there). */
  functionOffset: number;
  /** ret mode: every RET instruction. */
  retOffsets: number[];
}

const objects = ['entry', 'ret', 'exit'].map((p) => at('bpf', 'build', `${p}.bpf.o`));
const MAX_REGS = 9;
const MODE = { uprobe: 1, uretprobe: 2, ret: 3 } as const; // enum lab_probe_mode in bpf/events.h
const NO_RET_SITE = 0xffff;
const kindNames: Record<number, TraceEvent['kind']> = {
  [LabEventKind.LAB_ENTRY]: 'entry',
  [LabEventKind.LAB_RETURN]: 'return',
  [LabEventKind.LAB_CALL]: 'call',
  [LabEventKind.LAB_EXIT]: 'exit',
};
/** Events a probe holds for a consumer that is not reading; beyond this they count as drops. */
const QUEUE_LIMIT = 1_000_000;

/** LAB_COOKIE in bpf/events.h. */
function cookie(probeId: number, retSite: number, mode: number, nargs: number, nrets: number, strSlot: number): bigint {
  return (
    BigInt(probeId & 0xffff) |
    (BigInt(retSite & 0xffff) << 16n) |
    (BigInt(mode & 0xff) << 32n) |
    (BigInt(nargs & 0xff) << 40n) |
    (BigInt(nrets & 0xff) << 48n) |
    (BigInt((strSlot + 1) & 0xff) << 56n)
  );
}

// ---------------------------------------------------------------- preflight

const CAP_SYS_ADMIN = 21n;
const CAP_PERFMON = 38n;
const CAP_BPF = 39n;

/** Says which capabilities are missing to load BPF programs and open uprobes. */
export function missingCapabilities(): string[] {
  const status = readFileSync('/proc/self/status', 'utf8');
  const eff = BigInt('0x' + (/^CapEff:\s*([0-9a-f]+)/m.exec(status)?.[1] ?? '0'));
  const has = (cap: bigint) => (eff >> cap) & 1n;
  if (has(CAP_SYS_ADMIN)) return [];
  return [['CAP_BPF', CAP_BPF] as const, ['CAP_PERFMON', CAP_PERFMON] as const].filter(([, c]) => !has(c)).map(([n]) => n);
}

function preflight(): void {
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
  for (const o of objects) {
    if (!existsSync(o)) throw new LabError(`the BPF object ${o} is not built`, 'run ./lab build');
  }
}

/** A process that has exited (or is a zombie waiting to be reaped) is dead. */
export function processAlive(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3) !== 'Z';
  } catch {
    return false;
  }
}

function checkPid(pid: number): void {
  if (!Number.isInteger(pid) || pid <= 0) throw new LabError(`pid ${pid} is not a process id`, 'pass the PID of a running process');
  if (!processAlive(pid)) throw new LabError(`no running process with pid ${pid} (it has exited or never existed)`, 'start the program first and pass its current PID');
}

/**
 * A uprobe lives on a file's inode: a process started from another copy, or
 * from a file since replaced (rebuilt), would never hit it.
 */
function checkRuns(pid: number, binary: string): void {
  const ino = statSync(binary).ino;
  let exe: Stats;
  try {
    exe = statSync(`/proc/${pid}/exe`);
  } catch {
    return; // cannot tell (another user's process); the attach will say more
  }
  if (exe.ino === ino) return;
  const maps = readFileSync(`/proc/${pid}/maps`, 'utf8');
  if (maps.split('\n').some((l) => l.split(/\s+/)[4] === String(ino))) return;
  let running = '?';
  try {
    running = readlinkSync(`/proc/${pid}/exe`);
  } catch {}
  throw new LabError(
    `process ${pid} does not run ${binary} (it runs ${running}), so probes on that file would never fire in it`,
    `pass the binary it runs (--binary /proc/${pid}/exe works even if the file was replaced) or drop --pid`,
  );
}

/** The addon's errors, in the lab's words. */
function labError(e: unknown, doing: string): Error {
  const err = e as NativeError;
  if (err instanceof LabError) return err;
  const why = (err.libbpfLog ?? '').trim().split('\n').filter(Boolean).slice(-1)[0];
  const detail = `${err.message}${why ? ` (${why.replace(/^libbpf: /, '')})` : ''}`;
  const log = err.libbpfLog ?? '';
  if (log.includes('PROG LOAD LOG')) {
    // EACCES/EINVAL with a verifier log: the program, not the privileges, is at fault.
    const lines = log.split('\n');
    const end = lines.findIndex((l) => l.startsWith('processed ') || l.includes('END PROG LOAD LOG'));
    const reason = lines.slice(0, end > 0 ? end : undefined).filter(Boolean).slice(-1)[0] ?? err.message;
    return new LabError(`${doing}: the kernel's verifier rejected a program: ${reason}`, 'fix the BPF C source (bpf/*.bpf.c) and run ./lab build', { cause: e });
  }
  switch (err.errno) {
    case 1: // EPERM
    case 13: // EACCES
      return new LabError(`${doing}: ${detail}`, 'tracing needs root or CAP_BPF + CAP_PERFMON (CAP_SYS_ADMIN on older kernels): run with sudo', { cause: e });
    case 3: // ESRCH
      return new LabError(`${doing}: the process is gone (${detail})`, 'pass the PID of a running process', { cause: e });
    case 2: // ENOENT
      return new LabError(`${doing}: ${detail}`, 'check the binary path and the symbol name', { cause: e });
    default:
      return new LabError(`${doing}: ${detail}`, 'see libbpf\'s reason in parentheses; run ./lab build if the BPF objects are stale', { cause: e });
  }
}

// ---------------------------------------------------------------- session

/** The process-wide addon session: loaded with the first probe, unloaded with the last. */
class Session {
  readonly native: NativeTracer;
  readonly probes = new Map<number, ProbeImpl>();
  readonly exitWaiters = new Map<number, ((e: TraceEvent) => void)[]>();
  private nextId = 1;
  private reader: LabEventReader | undefined;
  private refs = 0;

  constructor() {
    preflight();
    const { Tracer } = loadAddon();
    try {
      this.native = new Tracer(objects, (batch, length) => this.onBatch(batch, length));
      this.native.attachTracing('lab_exit');
    } catch (e) {
      throw labError(e, 'cannot load the lab\'s BPF programs');
    }
  }

  allocateId(): number {
    for (let i = 0; i < 0xfffe; i++) {
      const id = this.nextId;
      this.nextId = (this.nextId % 0xfffe) + 1;
      if (!this.probes.has(id)) return id;
    }
    throw new LabError('65534 probes are open in this process', 'close probes you no longer need');
  }

  drain(): void {
    this.native.drain();
  }

  /** Someone awaits events: keep Node alive until they have them. */
  hold(on: boolean): void {
    this.refs += on ? 1 : -1;
    this.native.ref(this.refs > 0);
  }

  /** The addon's batch buffer is the same for the session's life, and only valid during this call. */
  private onBatch(batch: ArrayBuffer, length: number): void {
    if (this.reader?.buffer !== batch) this.reader = new LabEventReader(batch);
    const r = this.reader;
    let probe: ProbeImpl | undefined;
    for (let at = 0; at + LAB_EVENT_SIZE <= length; at += LAB_EVENT_SIZE) {
      if (r.kind(at) === LabEventKind.LAB_EXIT) {
        this.onExit(r, at);
        continue;
      }
      const id = r.probe_id(at);
      if (probe?.id !== id) probe = this.probes.get(id);
      probe?.deliver(r, at);
    }
  }

  private onExit(r: LabEventReader, at: number): void {
    const pid = r.pid(at);
    const event: TraceEvent = {
      kind: 'exit', symbol: '', pid, tid: r.tid(at), goroutine: '0x0', ts_ns: r.ts_ns(at),
      args: [], ret: [], latency_ns: null, exit_code: r.exit_code(at), signal: r.signal(at),
    };
    for (const p of this.probes.values()) p.deliverExit(event);
    const waiters = this.exitWaiters.get(pid);
    this.exitWaiters.delete(pid);
    for (const w of waiters ?? []) w(event);
    this.releaseIfIdle();
  }

  releaseIfIdle(): void {
    if (this.probes.size > 0 || this.exitWaiters.size > 0) return;
    this.native.close();
    if (session === this) session = undefined;
  }
}

let session: Session | undefined;
let exitHooksInstalled = false;

function currentSession(): Session {
  if (!exitHooksInstalled) {
    exitHooksInstalled = true;
    process.once('exit', closeAllProbes);
    for (const sig of ['SIGINT', 'SIGTERM'] as const) {
      const onSignal = () => {
        closeAllProbes();
        // Nobody else handles it: die of the signal as we would have.
        if (process.listenerCount(sig) === 0) process.kill(process.pid, sig);
      };
      process.once(sig, onSignal);
    }
  }
  return (session ??= new Session());
}

// ---------------------------------------------------------------- probes

/** Goroutines are few and reused (g structs are pooled): name each once, not once per event. */
const goroutineNames = new Map<number, string>();
function goroutineName(g: number): string {
  let name = goroutineNames.get(g);
  if (name === undefined) {
    if (goroutineNames.size >= 65536) goroutineNames.clear();
    name = '0x' + g.toString(16);
    goroutineNames.set(g, name);
  }
  return name;
}

class ProbeImpl implements Probe {
  readonly symbol: string;
  readonly kind: ProbeKind;
  private readonly links: number[] = [];
  /** Events not yet read; a reader takes the whole array (no copy) and the probe starts a new one. */
  private queue: TraceEvent[] = [];
  /** Readers waiting for the next event (or the close). */
  private readonly waiting: (() => void)[] = [];
  private readonly seenPids = new Set<number>();
  private lastPid = -1;
  private lastGoroutine = -1;
  private lastGoroutineName = '';
  private overflow = 0;
  /** The kernel's drop count, kept when the maps go away with the last probe. */
  private finalDrops = 0;
  private isClosed = false;
  private constructor(
    private readonly session: Session,
    readonly id: number,
    plan: ProbePlan,
    private readonly pid: number | undefined,
  ) {
    this.symbol = plan.symbol;
    this.kind = plan.kind;
  }

  static open(plan: ProbePlan, opts: ProbeOptions = {}): ProbeImpl {
    const nargs = opts.args ?? 4;
    const nrets = opts.rets ?? 2;
    const strSlot = opts.stringArg ?? -1;
    for (const [name, v] of [['args', nargs], ['rets', nrets]] as const) {
      if (!Number.isInteger(v) || v < 0 || v > MAX_REGS) throw new LabError(`${name}: ${v} is not between 0 and ${MAX_REGS}`, `Go passes at most ${MAX_REGS} integers in registers`);
    }
    if (opts.stringArg !== undefined && (!Number.isInteger(strSlot) || strSlot < 0 || strSlot > MAX_REGS - 2)) {
      throw new LabError(`stringArg: ${strSlot} is not a register slot from 0 to ${MAX_REGS - 2}`, 'pass the slot of the string\'s pointer (its length is in the next slot)');
    }
    if (opts.pid !== undefined) {
      checkPid(opts.pid);
      checkRuns(opts.pid, plan.binary);
    }
    if (plan.kind === 'ret' && plan.retOffsets.length === 0) {
      throw new LabError(`${plan.symbol} has no RET instruction to probe`, 'trace its entry with a uprobe instead');
    }

    const s = currentSession();
    const probe = new ProbeImpl(s, s.allocateId(), plan, opts.pid);
    const mode = MODE[plan.kind];
    const attach = (program: string, offset: number, retprobe: boolean, site: number) =>
      probe.links.push(s.native.attachUprobe(program, plan.binary, offset, null, opts.pid ?? -1, retprobe, cookie(probe.id, site, mode, nargs, nrets, strSlot)));
    s.probes.set(probe.id, probe);
    try {
      attach('lab_entry', plan.entryOffset, false, NO_RET_SITE);
      if (plan.kind === 'uretprobe') attach('lab_ret', plan.functionOffset, true, NO_RET_SITE);
      if (plan.kind === 'ret') plan.retOffsets.forEach((off, i) => attach('lab_ret', off, false, i));
      if (opts.pid !== undefined) s.native.watch(opts.pid);
    } catch (e) {
      probe.close();
      throw labError(e, `cannot attach ${plan.kind} to ${plan.symbol} in ${plan.binary}`);
    }
    return probe;
  }

  get closed(): boolean {
    return this.isClosed;
  }

  deliver(r: LabEventReader, at: number): void {
    if (this.isClosed) return;
    const pid = r.pid(at);
    if (pid !== this.lastPid) {
      this.seenPids.add(pid);
      this.lastPid = pid;
    }
    const kind = kindNames[r.kind(at)];
    const nargs = r.nargs(at);
    const args: number[] = new Array(nargs);
    for (let i = 0; i < nargs; i++) args[i] = r.args(at, i);
    const nrets = kind === 'entry' ? 0 : r.nrets(at);
    const ret: number[] = new Array(nrets);
    for (let i = 0; i < nrets; i++) ret[i] = r.ret(at, i);
    const tid = r.tid(at);
    const g = r.goroutine(at);
    if (g !== this.lastGoroutine) {
      this.lastGoroutine = g;
      this.lastGoroutineName = goroutineName(g);
    }
    const goroutine = this.lastGoroutineName;
    const ts_ns = r.ts_ns(at);
    const latency_ns = r.has_latency(at) ? r.latency_ns(at) : null;
    const retSite = r.ret_site(at);
    // Two literals rather than adding ret_site afterwards: a property added later costs an allocation per event.
    const event: TraceEvent =
      retSite >= 0
        ? { kind, symbol: this.symbol, pid, tid, goroutine, ts_ns, args, ret, latency_ns, ret_site: retSite }
        : { kind, symbol: this.symbol, pid, tid, goroutine, ts_ns, args, ret, latency_ns };
    if (r.has_str(at)) event.str = r.str(at, r.str_len(at));
    const entryTid = r.entry_tid(at);
    if (entryTid && entryTid !== tid) event.entry_tid = entryTid;
    this.push(event);
  }

  deliverExit(event: TraceEvent): void {
    if (this.isClosed) return;
    if (this.pid === event.pid || (this.pid === undefined && this.seenPids.has(event.pid))) {
      this.push({ ...event, symbol: this.symbol });
    }
  }

  private push(event: TraceEvent): void {
    if (this.queue.length < QUEUE_LIMIT) this.queue.push(event);
    else this.overflow++;
    if (this.waiting.length > 0) this.wakeReaders();
  }

  private wakeReaders(): void {
    for (const wake of this.waiting.splice(0)) {
      this.session.hold(false);
      wake();
    }
  }

  /** Resolves when an event arrives or the probe closes. */
  private arrival(): Promise<void> {
    this.session.hold(true);
    return new Promise((resolve) => this.waiting.push(resolve));
  }

  drops(): number {
    return this.overflow + (this.isClosed ? this.finalDrops : this.session.native.drops(this.id));
  }

  close(): void {
    if (this.isClosed) return;
    const s = this.session;
    for (const l of this.links.splice(0)) s.native.detach(l);
    s.drain(); // what the kernel sent before the links went away still belongs to us
    this.finalDrops = s.native.drops(this.id);
    this.isClosed = true;
    s.probes.delete(this.id);
    this.wakeReaders();
    s.releaseIfIdle();
  }

  [Symbol.dispose](): void {
    this.close();
  }

  /** One event at a time, read from batches(): the same events, one more await each. */
  [Symbol.asyncIterator](): AsyncIterator<TraceEvent> {
    const batches = this.batches()[Symbol.asyncIterator]();
    let batch: TraceEvent[] = [];
    let i = 0;
    const next = (): Promise<IteratorResult<TraceEvent>> => {
      if (i < batch.length) {
        const value = batch[i];
        batch[i++] = undefined as unknown as TraceEvent; // read: let it die young
        return Promise.resolve({ value, done: false });
      }
      return batches.next().then((r) => {
        if (r.done) return r;
        batch = r.value;
        i = 0;
        return next();
      });
    };
    // A reader that stops early leaves what it did not read for the next reader or take().
    const stop = (): Promise<IteratorResult<TraceEvent>> => {
      if (i < batch.length) this.queue = batch.slice(i).concat(this.queue);
      batch = [];
      return Promise.resolve({ value: undefined, done: true });
    };
    return { next, return: stop };
  }

  batches(): AsyncIterable<TraceEvent[]> {
    const next = (): Promise<IteratorResult<TraceEvent[]>> => {
      if (this.queue.length > 0) return Promise.resolve({ value: this.takeQueued(), done: false });
      if (this.isClosed) return Promise.resolve({ value: undefined, done: true });
      return this.arrival().then(next);
    };
    return { [Symbol.asyncIterator]: () => ({ next, return: () => Promise.resolve({ value: undefined, done: true }) }) };
  }

  private takeQueued(): TraceEvent[] {
    const all = this.queue;
    this.queue = [];
    return all;
  }

  /** Events already received and not yet read (without waiting). */
  take(): TraceEvent[] {
    if (!this.isClosed) this.session.drain();
    return this.takeQueued();
  }
}

export function openProbe(plan: ProbePlan, opts?: ProbeOptions): Probe & { take(): TraceEvent[] } {
  return ProbeImpl.open(plan, opts);
}

export function openProbes(): Probe[] {
  return session ? [...session.probes.values()] : [];
}

export function closeAllProbes(): void {
  for (const p of openProbes()) p.close();
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
      s.native.watch(pid);
    } catch (e) {
      s.exitWaiters.delete(pid);
      s.releaseIfIdle();
      throw labError(e, `cannot watch process ${pid}`);
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

/** Ids of the BPF programs this process has loaded (empty when none), for leak checks. */
export function loadedProgramIds(): number[] {
  return session ? session.native.programIds() : [];
}
