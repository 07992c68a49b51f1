/**
 * Probes: sets of bpf_links on one function, told apart in the shared ring buffer by the probe
 * id in their bpf_cookie. Each keeps a bounded queue of decoded events for its reader; what does
 * not fit is counted as a drop, as the kernel counts what does not fit in the ring buffer.
 */
import { LabError } from '../../core/errors.ts';
import { LAB_MAX_REGS, LAB_NO_RET_SITE, LabEventKind, labCookie } from './constants.gen.ts';
import type { LabEventReader } from './events.gen.ts';
import {
  EventBlock,
  FIXED_SLOTS,
  HAS_LATENCY,
  HAS_STR,
  HAS_WORD,
  I_COUNTS,
  I_DEREF,
  I_ENTRY_TID,
  I_KIND,
  I_AT,
  I_PID,
  I_PROBE,
  I_RET_SITE,
  I_TID,
  recordSlots,
} from './event-block.ts';
import { checkSameFile, type FileIdentity } from './file-identity.ts';
import { translateLibbpfError } from './libbpf-errors.ts';
import { checkPid, checkRuns } from './process-checks.ts';
import { probeKinds, type ProbeKind } from './probe-kinds.ts';
import { currentSession, notice, sessionProbes, type Session, type SessionProbe } from './session.ts';
import type { DropCounts, TraceEvent } from './trace-event.ts';
import { withBudget } from './values.ts';
import { uprobeSitesHeldBy, type KernelSite } from './inspect.ts';
import {
  probeConfig,
  TypedEvent,
  typedCounts,
  type ProbeSites,
  type ReadThrough,
  type TypedValues,
} from './values-probe.ts';

export interface ProbeOptions {
  /** Trace only this process (default: every process running the binary). */
  pid?: number;
  /**
   * Overrides for a raw probe: integer argument registers to read (at most 9). Without args, rets
   * and stringArg, a probe reads the function's own parameters and results, typed, from DWARF.
   */
  args?: number;
  /** Raw probe: register slot i holds a Go string: pointer in slot i, length in slot i + 1. */
  stringArg?: number;
  /** Raw probe: result registers to read at return (at most 9). */
  rets?: number;
  /** Events held for a reader that is behind (default DEFAULT_QUEUE_LIMIT); beyond it they count as drops. */
  queueLimit?: number;
  /** Read one word through a pointer argument at entry (register slot, word index), into each entry event's `word`. */
  readThrough?: ReadThrough;
  /** Typed probe: bytes of strings and stack words an event may carry (default VALUE_BUDGET_DEFAULT, at most VALUE_BUDGET_MAX). */
  valueBytes?: number;
  /**
   * Typed probe: decode every event's values as it arrives, not when first read (a consumer that
   * reads every value anyway pays the same; values that come from the traced process's memory, an
   * interface's dynamic type, are always decoded on arrival).
   */
  decodeOnArrival?: boolean;
  /** Told when the probed file changes while attached (default: a warning on stderr). */
  onNotice?: (message: string) => void;
}

export interface Probe extends Disposable, AsyncDisposable, AsyncIterable<TraceEvent> {
  readonly symbol: string;
  readonly kind: ProbeKind;
  readonly closed: boolean;
  /** Resolves once the kernel has let go of every link (close() returns before that). */
  readonly detached: Promise<void>;
  /**
   * Resolves once every link is attached; rejects with the refusal. A local probe is attached when
   * probe() returns; through the probe service the answer comes later.
   */
  readonly ready: Promise<void>;
  /**
   * The uprobe sites the kernel has attached for this probe, read from the fdinfo of the links that
   * hold them (through the probe service: the links it holds for this probe, and only those).
   */
  kernelSites(): Promise<KernelSite[]>;
  /** The same events, as arrays of whatever has arrived: for consumers of millions of events a second. */
  batches(): AsyncIterable<TraceEvent[]>;
  /** Starts detaching (in worker threads: the event loop never waits for the kernel) and ends the readers. */
  close(): void;
  /** Events lost so far, all reasons. */
  drops(): number;
  /** Events lost so far, by reason. */
  dropCounts(): DropCounts;
  /**
   * ret/uretprobe: open calls whose entries the bounded maps had to drop (their returns then carry no
   * entry). Calls a panic unwound are not lost: they arrive as 'unwound' events. (Local probes; the
   * probe service's do not say.)
   */
  framesLost?(): number;
}

/** Where a probe's links go, in file offsets of the binary. */
export interface ProbePlan {
  binary: string;
  /** The file the offsets were read from: attaching refuses another. */
  identity: FileIdentity;
  symbol: string;
  kind: ProbeKind;
  /** Entry program: after the stack check (see prologue.ts). */
  entryOffset: number;
  /** uretprobe: the function's first byte (the kernel hijacks the return address there). */
  functionOffset: number;
  /** ret mode: every RET instruction. */
  retOffsets: number[];
  /** The function's typed values (DWARF); absent: events carry raw registers. */
  typed?: TypedValues;
  /** ret mode, by RET-site index: the function a tail jump goes to (undefined: a RET). */
  tailCalls?: (string | undefined)[];
  /** Where runtime.g keeps the goroutine id and the stack's top (DWARF), for probes without typed values too. */
  layout?: { goid?: number; stackHi?: number };
  /** uprobe: the entries of the function's inlined copies (DW_TAG_inlined_subroutine), and the function each sits in. */
  inlinedCopies?: { caller: string; fileOffset: number }[];
}

const kindNames: Record<number, TraceEvent['kind']> = {
  [LabEventKind.LAB_ENTRY]: 'entry',
  [LabEventKind.LAB_RETURN]: 'return',
  [LabEventKind.LAB_CALL]: 'call',
  [LabEventKind.LAB_EXIT]: 'exit',
  [LabEventKind.LAB_UNWOUND]: 'unwound',
};

/** A batch's block as a probe's raw events see it: with the probe's symbol. */
class RawView {
  readonly f64: Float64Array;
  readonly i32: Int32Array;
  constructor(
    readonly block: EventBlock,
    readonly symbol: string,
  ) {
    this.f64 = block.f64;
    this.i32 = block.i32;
  }
}

const kindCodes: TraceEvent['kind'][] = [];
for (const [code, name] of Object.entries(kindNames)) kindCodes[Number(code)] = name;

/**
 * An event of a raw probe (registers as numbers): a small object over its record's slots in its
 * batch's block (event-block.ts: the addon copied them out of the ring buffer, whose space the
 * kernel reuses once the batch is read), its fields read from there when asked (getters), `args`
 * and `ret` arrays made when first read. It keeps its batch's block alive (64 KiB for a full batch,
 * the batch's own size for a small one), nothing else.
 * JSON and util.inspect show it as the plain object it stands for (toJSON).
 */
export class RawEvent implements TraceEvent {
  /** Raw probes with stringArg: the string argument's first bytes. */
  declare str?: string;
  /** An entry of an inlined copy: the function whose code holds it. */
  declare inlined_into?: string;
  #view: RawView;
  /** Its record's first slot. */
  #slot: number;
  /** args once read (the array itself: what most consumers read), or both sides once ret was. */
  #regs: number[] | MadeRegisters | undefined;

  constructor(view: RawView, slot: number) {
    this.#view = view;
    this.#slot = slot;
    this.#regs = undefined;
  }

  get kind(): TraceEvent['kind'] {
    return kindCodes[this.#view.i32[this.#slot * 2 + I_KIND]];
  }
  get symbol(): string {
    return this.#view.symbol;
  }
  get pid(): number {
    return this.#view.i32[this.#slot * 2 + I_PID];
  }
  get tid(): number {
    return this.#view.i32[this.#slot * 2 + I_TID];
  }
  get goroutine(): string {
    return goroutineName(this.#view.f64[this.#slot + 2]);
  }
  get goid(): string | undefined {
    const goid = this.#view.f64[this.#slot + 3];
    return goid === 0 ? undefined : goidName(goid);
  }
  get ts_ns(): number {
    return this.#view.f64[this.#slot];
  }
  get latency_ns(): number | null {
    const v = this.#view;
    return v.i32[this.#slot * 2 + I_COUNTS] & HAS_LATENCY ? v.f64[this.#slot + 1] : null;
  }
  get ret_site(): number | undefined {
    const site = this.#view.i32[this.#slot * 2 + I_RET_SITE];
    return site >= 0 ? site : undefined;
  }
  get entry_tid(): number | undefined {
    const i32 = this.#view.i32;
    const i = this.#slot * 2;
    const entry = i32[i + I_ENTRY_TID];
    return entry !== 0 && entry !== i32[i + I_TID] ? entry : undefined;
  }
  get word(): bigint | undefined {
    const i32 = this.#view.i32;
    const i = this.#slot * 2;
    if (!(i32[i + I_COUNTS] & HAS_WORD)) return undefined;
    return (BigInt(i32[i + I_DEREF + 1] >>> 0) << 32n) | BigInt(i32[i + I_DEREF] >>> 0);
  }

  get args(): number[] {
    const regs = this.#regs;
    if (Array.isArray(regs)) return regs;
    if (regs?.args !== undefined) return regs.args;
    const v = this.#view;
    const n = v.i32[this.#slot * 2 + I_COUNTS] & 0xff;
    const from = this.#slot + FIXED_SLOTS;
    const made: number[] = n === 1 ? [v.f64[from]] : registers(v.f64, from, n);
    if (regs === undefined) this.#regs = made;
    else regs.args = made;
    return made;
  }
  get ret(): number[] {
    const regs = this.#regs;
    if (regs !== undefined && !Array.isArray(regs)) return regs.ret;
    const v = this.#view;
    const counts = v.i32[this.#slot * 2 + I_COUNTS];
    const n = (counts >> 8) & 0xff;
    const from = this.#slot + FIXED_SLOTS + (counts & 0xff);
    const made: number[] = n === 1 ? [v.f64[from]] : registers(v.f64, from, n);
    this.#regs = new MadeRegisters(regs, made);
    return made;
  }

  /** The event as a plain object, its fields in a plain event's order (what JSON.stringify and eventJson write). */
  toJSON(): TraceEvent {
    const e: TraceEvent = {
      kind: this.kind,
      symbol: this.symbol,
      pid: this.pid,
      tid: this.tid,
      goroutine: this.goroutine,
      ts_ns: this.ts_ns,
      args: this.args,
      ret: this.ret,
      latency_ns: this.latency_ns,
    };
    if (this.inlined_into !== undefined) e.inlined_into = this.inlined_into;
    else {
      const site = this.ret_site;
      if (site !== undefined) e.ret_site = site;
      if (this.str !== undefined) e.str = this.str;
    }
    const entryTid = this.entry_tid;
    if (entryTid !== undefined) e.entry_tid = entryTid;
    const goid = this.goid;
    if (goid !== undefined) e.goid = goid;
    const word = this.word;
    if (word !== undefined) e.word = word;
    return e;
  }

  [Symbol.for('nodejs.util.inspect.custom')](
    _depth: number,
    options: object,
    inspect: (v: unknown, o: object) => string,
  ) {
    return inspect(this.toJSON(), options);
  }
}

/** A raw event's args (once read) and ret (read). */
class MadeRegisters {
  constructor(
    public args: number[] | undefined,
    readonly ret: number[],
  ) {}
}

function registers(f64: Float64Array, from: number, n: number): number[] {
  const all: number[] = new Array(n);
  for (let i = 0; i < n; i++) all[i] = f64[from + i];
  return all;
}

/**
 * ~9 MB of decoded events (65536 measured 34 MB behind a stalled pipe). A reader that keeps up
 * takes each batch (~650 events) before the next is decoded, so only a stalled one reaches it.
 */
export const DEFAULT_QUEUE_LIMIT = 16384;
/** A probe's next queue is made at the size its last one reached, within these bounds (then grown as needed). */
const QUEUE_START = 16;
const QUEUE_MAX_START = 1024;
/** A queue of `n` slots to fill from the start (the one place queues are made: one array kind for the stores). */
const newQueue = (n: number): TraceEvent[] => new Array(n);

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

/** goids repeat across events of a goroutine: one string each. */
const goidNames = new Map<number, string>();
function goidName(goid: number): string {
  let name = goidNames.get(goid);
  if (name === undefined) {
    if (goidNames.size >= 65536) goidNames.clear();
    name = String(goid);
    goidNames.set(goid, name);
  }
  return name;
}

function checkOptions(
  plan: ProbePlan,
  opts: ProbeOptions,
): { nargs: number; nrets: number; strSlot: number; queueLimit: number; typed?: TypedValues } {
  const raw = opts.args !== undefined || opts.rets !== undefined || opts.stringArg !== undefined;
  let typed = raw ? undefined : plan.typed;
  if (typed && opts.valueBytes !== undefined) typed = { ...typed, values: withBudget(typed.values, opts.valueBytes) };
  const counts = typed ? typedCounts(typed) : undefined;
  const nargs = opts.args ?? counts?.nargs ?? 4;
  const nrets = opts.rets ?? counts?.nrets ?? 2;
  const strSlot = opts.stringArg ?? counts?.strSlot ?? -1;
  const queueLimit = opts.queueLimit ?? DEFAULT_QUEUE_LIMIT;
  for (const [name, v] of [
    ['args', nargs],
    ['rets', nrets],
  ] as const) {
    if (!Number.isInteger(v) || v < 0 || v > LAB_MAX_REGS)
      throw new LabError(
        `${name}: ${v} is not between 0 and ${LAB_MAX_REGS}`,
        `Go passes at most ${LAB_MAX_REGS} integers in registers`,
      );
  }
  if (opts.stringArg !== undefined && (!Number.isInteger(strSlot) || strSlot < 0 || strSlot > LAB_MAX_REGS - 2)) {
    throw new LabError(
      `stringArg: ${strSlot} is not a register slot from 0 to ${LAB_MAX_REGS - 2}`,
      "pass the slot of the string's pointer (its length is in the next slot)",
    );
  }
  if (!Number.isSafeInteger(queueLimit) || queueLimit < 1)
    throw new LabError(
      `queueLimit: ${queueLimit} is not a positive whole number`,
      `pass how many events a probe may hold for its reader, e.g. ${DEFAULT_QUEUE_LIMIT}`,
    );
  if (opts.pid !== undefined) {
    checkPid(opts.pid);
    checkRuns(opts.pid, plan.binary);
  }
  if (probeKinds[plan.kind].returns === 'ret-sites' && plan.retOffsets.length === 0) {
    throw new LabError(`${plan.symbol} has no RET instruction to probe`, 'trace its entry with a uprobe instead');
  }
  checkSameFile(plan.binary, plan.identity);
  return { nargs, nrets, strSlot, queueLimit, typed };
}

class ProbeImpl implements Probe, SessionProbe {
  readonly symbol: string;
  readonly kind: ProbeKind;
  readonly binary: string;
  readonly identity: FileIdentity;
  detached: Promise<void> = Promise.resolve();
  readonly ready: Promise<void> = Promise.resolve();
  private readonly links: number[] = [];
  /**
   * Events not yet read: the first `queued` of `queue`. A reader takes the whole array (no copy)
   * and the probe starts a new one, made at the size the last one reached: grown a store at a
   * time, a batch's array was reallocated ~10 times (~25 B an event). Every queue is made by
   * newQueue(), so stores into it see one kind of array.
   */
  private queue: TraceEvent[] = newQueue(QUEUE_START);
  private queued = 0;
  /** Readers waiting for the next event (or the close). */
  private readonly waiting: (() => void)[] = [];
  private readonly seenPids = new Set<number>();
  private lastPid = -1;
  private lastGoroutine = -1;
  private lastGoroutineName = '';
  private readerDrops = 0;
  /** The kernel's drop count, kept when the probe closes. */
  private finalRingDrops = 0;
  private isClosed = false;
  private told = false;
  private constructor(
    private readonly session: Session,
    readonly id: number,
    plan: ProbePlan,
    private readonly pid: number | undefined,
    private readonly queueLimit: number,
    private readonly onNotice: (message: string) => void,
    private readonly typed: TypedValues | undefined,
    /** Typed events decode their values when first read (false: on arrival). */
    private readonly decodeOnRead: boolean,
  ) {
    this.symbol = plan.symbol;
    this.kind = plan.kind;
    this.binary = plan.binary;
    this.identity = plan.identity;
    this.sites = { inlinedCallers: plan.inlinedCopies?.map((c) => c.caller), tailCalls: plan.tailCalls };
    this.view = new RawView(new EventBlock(new ArrayBuffer(0)), plan.symbol);
  }
  private readonly sites: ProbeSites;
  /** The last batch's block, as this probe's raw events see it. */
  private view: RawView;

  static open(plan: ProbePlan, opts: ProbeOptions = {}): ProbeImpl {
    const { nargs, nrets, strSlot, queueLimit, typed } = checkOptions(plan, opts);
    const s = currentSession();
    const decodeOnRead = typed?.decodeOnRead === true && !opts.decodeOnArrival;
    const probe = new ProbeImpl(
      s,
      s.allocateId(),
      plan,
      opts.pid,
      queueLimit,
      opts.onNotice ?? notice,
      typed,
      decodeOnRead,
    );
    // The goroutine id is read for raw probes too; the rest only for typed ones. Before any link: ids are reused.
    s.native.configure(
      probe.id,
      probeConfig(typed ?? { goidOffset: plan.layout?.goid, stackHiOffset: plan.layout?.stackHi }, opts.readThrough),
    );
    if (opts.readThrough) probe.sites.readThrough = true;
    const { mode, returns } = probeKinds[plan.kind];
    /** One uprobe_multi link for a program's sites, or (older kernels, LAB_UPROBE_LINKS=perf) a perf-event link each. */
    const attach = (program: string, retprobe: boolean, sites: [offset: number, retSite: number][]) => {
      if (sites.length === 0) return;
      const cookies = sites.map(([, retSite]) => labCookie({ probe: probe.id, retSite, mode, nargs, nrets, strSlot }));
      const pid = opts.pid ?? -1;
      if (s.uprobeMulti)
        probe.links.push(
          s.native.attachUprobeMulti(
            program,
            plan.binary,
            sites.map(([o]) => o),
            cookies,
            pid,
            retprobe,
          ),
        );
      else
        sites.forEach(([offset], i) =>
          probe.links.push(s.native.attachUprobe(program, plan.binary, offset, null, pid, retprobe, cookies[i])),
        );
    };
    s.add(probe);
    try {
      // RET sites first: a function whose body is one RET (func f(v int) int { return v }) has its
      // entry and RET at one address, and the kernel runs the last-attached program there first.
      if (returns === 'ret-sites')
        attach(
          'lab_ret',
          false,
          plan.retOffsets.map((off, i) => [off, i]),
        );
      attach('lab_entry', false, [
        ...(plan.entryOffset >= 0 ? [[plan.entryOffset, LAB_NO_RET_SITE] as [number, number]] : []), // -1: inlined everywhere
        // An inlined copy's entry link carries the copy's index where RET links carry theirs.
        ...(plan.inlinedCopies ?? []).map((c, i): [number, number] => [c.fileOffset, i]),
      ]);
      if (returns === 'uretprobe') attach('lab_ret', true, [[plan.functionOffset, LAB_NO_RET_SITE]]);
      if (opts.pid !== undefined) s.native.watch(opts.pid);
      // The path was resolved once per link: if it changed meanwhile, some links may sit on the new file.
      checkSameFile(plan.binary, plan.identity);
    } catch (e) {
      probe.close();
      throw translateLibbpfError(e, `cannot attach ${plan.kind} to ${plan.symbol} in ${plan.binary}`);
    }
    return probe;
  }

  get closed(): boolean {
    return this.isClosed;
  }

  /** The links' cookies carry the probe id, which no other open or detaching probe of this process has. */
  async kernelSites(): Promise<KernelSite[]> {
    if (this.released) return []; // the id may be another probe's by now
    return uprobeSitesHeldBy(process.pid).filter((site) => site.probe === this.id);
  }
  private released = false;

  /**
   * The batch's records from `slot` on while they are this probe's (not an exit), up to `end`;
   * returns the slot after the last. One call for a run of records: a raw probe's loop keeps its
   * queue, limit and view in locals rather than reading them back for every event.
   */
  deliverFrom(r: LabEventReader, block: EventBlock, slot: number, end: number): number {
    const i32 = block.i32;
    const id = this.id;
    if (this.isClosed || this.typed !== undefined) {
      for (; slot < end; ) {
        const i = slot * 2;
        if (i32[i + I_PROBE] !== id || i32[i + I_KIND] === LabEventKind.LAB_EXIT) break;
        const next = slot + recordSlots(i32[i + I_COUNTS]);
        if (!this.isClosed) this.deliverTyped(r, i32[i + I_AT], block, slot, this.typed!);
        slot = next;
      }
      return slot;
    }
    let view = this.view;
    if (view.block !== block) {
      view = new RawView(block, this.symbol);
      this.view = view;
    }
    const queue = this.queue;
    let queued = this.queued;
    const limit = this.queueLimit;
    let lastPid = this.lastPid;
    for (; slot < end; ) {
      const i = slot * 2;
      const counts = i32[i + I_COUNTS];
      const kind = i32[i + I_KIND];
      if (i32[i + I_PROBE] !== id || kind === LabEventKind.LAB_EXIT) break;
      const record = slot;
      slot += recordSlots(counts);
      const pid = i32[i + I_PID];
      if (pid !== lastPid) {
        this.seenPids.add(pid);
        lastPid = pid;
      }
      // Counted before decoding: a stalled reader costs no allocation.
      if (queued >= limit) {
        this.readerDrops++;
        continue;
      }
      const event = new RawEvent(view, record);
      if (kind === LabEventKind.LAB_ENTRY) this.rawEntry(r, i32, i, event);
      else if (counts & HAS_STR) event.str = r.str(i32[i + I_AT], r.str_len(i32[i + I_AT]));
      queue[queued++] = event; // a store, not Array.prototype.push (a builtin call here: perf)
    }
    this.queued = queued;
    this.lastPid = lastPid;
    if (this.waiting.length > 0) this.wakeReaders();
    return slot;
  }

  /** A typed probe's event (an inlined copy's entry: raw, its values have no calling convention to be typed by). */
  private deliverTyped(r: LabEventReader, at: number, block: EventBlock, slot: number, typed: TypedValues): void {
    const pid = block.i32[slot * 2 + I_PID];
    if (pid !== this.lastPid) {
      this.seenPids.add(pid);
      this.lastPid = pid;
    }
    // Counted before decoding: a stalled reader costs no allocation.
    if (this.queued >= this.queueLimit) {
      this.readerDrops++;
      return;
    }
    const kind = kindNames[r.kind(at)];
    const retSite = r.ret_site(at);
    // Two methods, so that each keeps one kind of event (its property stores stay monomorphic).
    if (kind === 'entry' && retSite >= 0 && this.sites.inlinedCallers?.[retSite] !== undefined) {
      let view = this.view;
      if (view.block !== block) {
        view = new RawView(block, this.symbol);
        this.view = view;
      }
      const event = new RawEvent(view, slot);
      this.rawEntry(r, block.i32, slot * 2, event);
      this.push(event);
    } else this.push(this.typedEvent(r, at, pid, kind, retSite, typed));
  }

  /** The goroutine's name (its g pointer in hex), made once for a run of its events. */
  private goroutine(r: LabEventReader, at: number): string {
    const g = r.goroutine(at);
    if (g !== this.lastGoroutine) {
      this.lastGoroutine = g;
      this.lastGoroutineName = goroutineName(g);
    }
    return this.lastGoroutineName;
  }

  /**
   * What this probe's settings change of an entry's raw event: an inlined copy's entry has no
   * arguments (they are wherever the caller's code keeps them) and its link's index is the copy's,
   * not a RET's; readThrough's word. Changed in its slots.
   */
  private rawEntry(r: LabEventReader, i32: Int32Array, i: number, event: RawEvent): void {
    const site = i32[i + I_RET_SITE];
    const inlinedInto = site >= 0 ? this.sites.inlinedCallers?.[site] : undefined;
    if (inlinedInto !== undefined) {
      i32[i + I_COUNTS] &= ~0xff;
      i32[i + I_RET_SITE] = -1;
      event.inlined_into = inlinedInto;
    } else if (i32[i + I_COUNTS] & HAS_STR) event.str = r.str(i32[i + I_AT], r.str_len(i32[i + I_AT]));
    if (this.sites.readThrough) i32[i + I_COUNTS] |= HAS_WORD;
  }

  private typedEvent(
    r: LabEventReader,
    at: number,
    pid: number,
    kind: TraceEvent['kind'],
    retSite: number,
    typed: TypedValues,
  ): TypedEvent {
    const tid = r.tid(at);
    const latency_ns = r.has_latency(at) ? r.latency_ns(at) : null;
    const tail = retSite >= 0 ? this.sites.tailCalls?.[retSite] : undefined;
    const event = new TypedEvent(
      kind,
      this.symbol,
      pid,
      tid,
      this.goroutine(r, at),
      r.ts_ns(at),
      latency_ns,
      r,
      at,
      typed,
      this.decodeOnRead,
      tail,
    );
    if (retSite >= 0) event.ret_site = retSite;
    const unwound = r.unwound(at);
    if (unwound) event.unwound = unwound;
    const entryTid = r.entry_tid(at);
    if (entryTid && entryTid !== tid) event.entry_tid = entryTid;
    const goid = r.goid(at);
    if (goid !== 0) event.goid = goidName(goid);
    if (this.sites.readThrough && kind === 'entry') event.word = r.derefExact(at);
    return event;
  }

  /** Exits are queued past the limit: they are few, and a reader waiting for one must see it. */
  deliverExit(event: TraceEvent): void {
    if (this.isClosed) return;
    if (this.pid === event.pid || (this.pid === undefined && this.seenPids.has(event.pid))) {
      this.push({ ...event, symbol: this.symbol });
    }
  }

  fileChanged(how: 'replaced' | 'modified' | 'gone'): void {
    if (how === 'modified') {
      this.close();
      this.onNotice(
        `${this.binary} was rewritten in place while ${this.kind} ${this.symbol} was attached: its probes were detached, since their offsets no longer match the code ` +
          '(a process started from the new file would have crashed) — open the file again to trace it',
      );
      return;
    }
    if (this.told) return;
    this.told = true;
    this.onNotice(
      `${this.binary} was ${how === 'gone' ? 'deleted' : 'replaced by another file'} while ${this.kind} ${this.symbol} was attached: the probes stay on the old file ` +
        '(processes already running it), and processes started from the new file are not traced — open it again to trace them',
    );
  }

  private push(event: TraceEvent): void {
    this.queue[this.queued++] = event; // a store, not Array.prototype.push (a builtin call here: perf)
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

  dropCounts(): DropCounts {
    return { ring: this.isClosed ? this.finalRingDrops : this.session.drops(this.id), reader: this.readerDrops };
  }

  framesLost(): number {
    return this.isClosed ? this.finalFramesLost : this.session.native.drops(this.id, 'lab_lost');
  }
  private finalFramesLost = 0;

  drops(): number {
    const d = this.dropCounts();
    return d.ring + d.reader;
  }

  close(): void {
    if (this.isClosed) return;
    const s = this.session;
    s.drain(); // what the kernel sent before the close still belongs to us
    this.finalRingDrops = s.drops(this.id);
    this.finalFramesLost = s.native.drops(this.id, 'lab_lost');
    this.isClosed = true;
    this.detached = s.retire(this.id, this.links.splice(0)).then(() => void (this.released = true));
    this.wakeReaders();
  }

  [Symbol.dispose](): void {
    this.close();
  }

  [Symbol.asyncDispose](): Promise<void> {
    this.close();
    return this.detached;
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
      if (i < batch.length) {
        const rest = batch.slice(i).concat(this.takeQueued());
        const queue = newQueue(rest.length);
        for (let k = 0; k < rest.length; k++) queue[k] = rest[k];
        this.queue = queue;
        this.queued = rest.length;
      }
      batch = [];
      return Promise.resolve({ value: undefined, done: true });
    };
    return { next, return: stop };
  }

  batches(): AsyncIterable<TraceEvent[]> {
    const next = (): Promise<IteratorResult<TraceEvent[]>> => {
      if (this.queued > 0) return Promise.resolve({ value: this.takeQueued(), done: false });
      if (this.isClosed) return Promise.resolve({ value: undefined, done: true });
      return this.arrival().then(next);
    };
    return {
      [Symbol.asyncIterator]: () => ({ next, return: () => Promise.resolve({ value: undefined, done: true }) }),
    };
  }

  private takeQueued(): TraceEvent[] {
    const n = this.queued;
    if (n === 0) return [];
    const all = this.queue;
    if (all.length !== n) all.length = n; // its unused end
    this.queue = newQueue(Math.min(QUEUE_MAX_START, Math.max(QUEUE_START, n)));
    this.queued = 0;
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

/** The probes open in this process. */
export function openProbes(): Probe[] {
  return sessionProbes() as ProbeImpl[];
}
