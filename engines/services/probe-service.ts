/**
 * The probe service: does for an unprivileged attendee exactly what the tracer API does for root —
 * attaches the lab's own BPF programs as uprobes, uretprobes or RET-site probes — but only to
 * processes that attendee owns, and streams back only their events.
 *
 * Attendees reach it through probe-gate (Go), which learns their uid, gid, PID and PID namespace from
 * the socket (SO_PEERCRED, SO_PEERPIDFD) and relays to this service's private socket with a header
 * line the caller cannot forge.
 *
 * Protocol: JSON lines, typed in bpf/ts/probe-protocol.ts (the client imports the same module).
 *
 * Everything a caller sends is hostile input: each line is parsed and checked inside the
 * connection's error boundary (anything else gets one "error" line and the connection keeps
 * serving); a line longer than 4096 bytes closes the connection as soon as it passes the limit; a
 * caller that stops reading loses events (counted) rather than growing the service's memory; the
 * caps (probes, events/s, connections) are per uid, whatever the number of connections. A PID names a
 * process in the caller's PID namespace; the process it names is pinned (a descriptor of its /proc
 * directory) before its owner is checked, and still the same, living process after the attach — or
 * the attach is undone.
 */
import { createServer, type Server, type Socket } from 'node:net';
import { spawn, execFile } from 'node:child_process';
import { chmod, mkdir, readdir, readlink, rm, stat } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { at } from '../../core/paths.ts';
import { LabError } from '../../core/errors.ts';
import { forPeer, logServing } from '../../core/keep-serving.ts';
import { credentialsOf, PinnedProcess } from '../../core/procfs.ts';
import type { Probe, ProbeKind, TraceEvent } from '../../bpf/ts/index.ts';
import {
  defaultLimits,
  encodeLine,
  maxLineBytes,
  type ProbeServiceLimits,
  type Reply,
} from '../../bpf/ts/probe-protocol.ts';

export const probeGateBinary = at('engines', 'services', 'probe-gate', 'probe-gate');

/** Requests of one connection waiting for their turn before the service stops reading it. */
const maxQueuedRequests = 16;
/** Bytes waiting to be written to a caller: past the first, events are dropped; past the second, the connection is closed. */
const eventBacklogBytes = 1024 * 1024;
const maxBacklogBytes = 8 * 1024 * 1024;

export interface ProbeServiceOptions {
  /** One line per dropped connection or internal error (the command's log). */
  log?: (line: string) => void;
  /** Tests only: the moments between the checks and the attach, to reproduce a PID reused there. */
  testHooks?: {
    /** After the target passed every check, before the executable is opened (the long window). */
    afterChecks?: (hostPid: number) => Promise<void> | void;
    /** After the last check before the attach: the attach then goes to whatever has the PID. */
    beforeAttach?: (hostPid: number) => Promise<void> | void;
  };
}

/** What the service knows of an attendee's activity, for the instructor's room view. */
export interface AttendeeActivity {
  uid: number;
  /** pid: the process as the host sees it. */
  probes: { id: number; kind: ProbeKind; symbol: string; pid: number }[];
  /** Probes closed whose links the kernel has not let go of yet. */
  closing: number;
  /** Kinds ever attached, and whether a traced process died while probed. */
  attached: ProbeKind[];
  tracedProcessDied: { kind: ProbeKind; pid: number; signal?: number; exit_code?: number }[];
  events: number;
  drops: number;
}

/** Who is calling, from probe-gate's header (the kernel's word, not the caller's). */
interface Caller {
  uid: number;
  gid: number;
  /** The connecting process, as the host sees it. */
  pid: number;
  /** Its PID namespace ("pid:[4026531836]"), read by the gate while it held the process; undefined: unknown. */
  pidns: Promise<string | undefined>;
}

/** Request fields that would mean "load this program": the service loads only the lab's own. */
const foreignCode = ['object', 'program', 'programs', 'bpf', 'insns', 'elf', 'path', 'binary'];

export class ProbeServiceError extends Error {}

function refuse(what: string): never {
  throw new ProbeServiceError(what);
}

/** Asks the kernel, as the caller, whether they may read the file (exact: groups, ACLs, every directory on the way). */
function callerMayRead(caller: Caller, path: string): Promise<boolean> {
  return new Promise((resolve) => {
    execFile(
      'setpriv',
      [`--reuid=${caller.uid}`, `--regid=${caller.gid}`, '--init-groups', 'test', '-r', path],
      (err) => resolve(!err),
    );
  }).then(async (ok) => {
    if (ok) return true;
    // --init-groups needs a passwd entry; a uid without one gets no supplementary groups.
    return new Promise<boolean>((resolve) =>
      execFile(
        'setpriv',
        [`--reuid=${caller.uid}`, `--regid=${caller.gid}`, '--clear-groups', 'test', '-r', path],
        (err) => resolve(!err),
      ),
    );
  });
}

/** Both paths lead to one file (device and inode); false when either leads nowhere. */
async function sameFile(a: string, b: string): Promise<boolean> {
  const [x, y] = await Promise.all([stat(a).catch(() => undefined), stat(b).catch(() => undefined)]);
  return Boolean(x && y && x.dev === y.dev && x.ino === y.ino);
}

/** The service's own PID namespace. */
const ourPidns = (() => {
  let ns: Promise<string> | undefined;
  return () => (ns ??= readlink('/proc/self/ns/pid'));
})();

/**
 * The process a caller means by `asked`, pinned. The PID is the caller's: in their PID namespace (a
 * container's, a sandbox's) it names the process whose innermost NSpid number it is, in that same
 * namespace; in ours it is the host's PID. Checked again through the pin, so the answer is the
 * process that has that PID now, not one that had it a moment ago.
 */
async function pinCallersProcess(caller: Caller, asked: number): Promise<PinnedProcess> {
  const [ours, theirs] = await Promise.all([ourPidns(), caller.pidns]);
  if (!theirs) refuse('the probe service cannot tell your PID namespace — reconnect and try again');
  const notFound = (): never =>
    refuse(
      theirs === ours
        ? `no process ${asked} — start your server first (lab.startServer())`
        : `no process ${asked} in your PID namespace — start your server first (lab.startServer())`,
    );
  if (theirs === ours) return (await PinnedProcess.open(asked)) ?? notFound();
  for (const entry of await readdir('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    if ((await readlink(`/proc/${entry}/ns/pid`).catch(() => '')) !== theirs) continue;
    const pin = await PinnedProcess.open(Number(entry));
    if (!pin) continue;
    const [ns, status] = await Promise.all([
      readlink(pin.path('ns/pid')).catch(() => ''),
      pin.read('status').catch(() => ''),
    ]);
    const { nspid } = credentialsOf(status);
    if (ns === theirs && nspid[nspid.length - 1] === asked) return pin;
    await pin.close();
  }
  return notFound();
}

/**
 * The caller may probe the pinned process: it runs as them and only as them — real, effective, saved
 * and filesystem uid and gid all theirs (a setuid or setgid program is not), with no capability
 * (a file-capability program is not) — and they may read its executable. Returns that executable.
 */
async function checkMayProbe(caller: Caller, pin: PinnedProcess, asked: number): Promise<string> {
  const status = await pin.read('status').catch(() => refuse(`no process ${asked} — it has exited`));
  const c = credentialsOf(status);
  if (c.uids.length < 4 || c.gids.length < 4) refuse(`cannot read the owner of process ${asked}`);
  if (Number(/^Tgid:\s*(\d+)/m.exec(status)?.[1]) !== pin.pid)
    refuse(`${asked} is a thread, not a process — give the PID of your server (lab.startServer())`);
  if (c.uids[0] !== caller.uid)
    refuse(`process ${asked} is not yours (it belongs to uid ${c.uids[0]}) — probe your own server`);
  if (c.uids.some((u) => u !== caller.uid) || c.gids.some((g) => g !== caller.gid))
    refuse(
      `process ${asked} runs with other rights than yours (uids ${c.uids.join('/')}, gids ${c.gids.join('/')}) — a setuid or setgid program is not yours to probe`,
    );
  // root gains nothing through the service; anyone else's process with privileges is not theirs to probe.
  if (caller.uid !== 0 && (c.capPrm !== 0n || c.capEff !== 0n || c.capAmb !== 0n))
    refuse(
      `process ${asked} holds capabilities (CapPrm ${c.capPrm.toString(16)}) — a program with file capabilities is not yours to probe`,
    );
  const exe = await readlink(pin.path('exe')).catch(() => refuse(`cannot see process ${asked}'s executable`));
  // In a container the path is the container's: where it names another file here (or none), the file
  // is reached through the process itself — the very inode it runs.
  const path = (await sameFile(exe, pin.path('exe'))) ? exe : `/proc/${pin.pid}/exe`;
  if (!(await callerMayRead(caller, path))) refuse(`you may not read ${exe}, so you may not probe it`);
  return path;
}

/** pid: as the host sees it; asked: as the caller named it (their PID namespace). */
type HeldProbe = {
  probe: Probe;
  kind: ProbeKind;
  symbol: string;
  pid: number;
  asked: number;
  /** Host thread ids → the caller's. */
  tids: Map<number, number>;
};

/** A register count or slot from a request: absent, or a small whole number (the tracer checks its range). */
function smallInt(req: Record<string, unknown>, key: string): number | undefined {
  const v = req[key];
  if (v === undefined || v === null) return undefined;
  if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < 0 || v > 64)
    refuse(`"${key}" must be a small whole number`);
  return v;
}

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

/** One request line → a request object, or a refusal the caller can act on. */
function parseRequest(line: string): Record<string, unknown> {
  let req: unknown;
  try {
    req = JSON.parse(line);
  } catch {
    refuse('not a JSON request — send one JSON object per line');
  }
  if (!isObject(req))
    refuse(`a request is one JSON object per line, like {"op":"attach","id":1,…} — not ${describe(req)}`);
  if (typeof req.op !== 'string') refuse('a request needs an "op": attach, detach, sites or held');
  return req;
}

const describe = (v: unknown) => (v === null ? 'null' : Array.isArray(v) ? 'an array' : `a ${typeof v}`);

/** A request's id: a whole number, or absent. */
function requestId(req: Record<string, unknown>): number | undefined {
  const v = req.id;
  if (v === undefined || v === null) return undefined;
  if (typeof v !== 'number' || !Number.isSafeInteger(v)) refuse('"id" must be a whole number');
  return v;
}

class AttendeeConnection {
  private probes = new Map<number, HeldProbe>();
  /** Detached on request, until the kernel has let go of their links. */
  private closing = new Map<number, HeldProbe>();
  /** Ids whose attach is under way. */
  private attaching = new Set<number>();
  private pendingDrops = new Map<number, number>();
  private dropTimer: NodeJS.Timeout;
  closed = false;

  constructor(
    private readonly socket: Socket,
    readonly caller: Caller,
    private readonly service: ProbeService,
  ) {
    this.dropTimer = setInterval(
      forPeer(
        this.name,
        () => this.hangUp('internal error'),
        () => this.flushDrops(),
      ),
      1000,
    );
    this.dropTimer.unref();
  }

  get name(): string {
    return `probe-service connection of uid ${this.caller.uid} (pid ${this.caller.pid})`;
  }

  /**
   * Writes one message. An event (`droppable`) is dropped, and counted, when the caller has not read
   * what was written before; a caller that lets even the rest pile up is disconnected.
   */
  send(msg: Reply, droppable = false): boolean {
    if (this.closed || this.socket.destroyed || this.socket.writableEnded) return false;
    const backlog = this.socket.writableLength;
    if (droppable && backlog > eventBacklogBytes) return false;
    if (backlog > maxBacklogBytes) {
      this.service.log(`${this.name}: closed, it does not read what the service sends`);
      this.close();
      return false;
    }
    this.socket.write(encodeLine(msg));
    return true;
  }

  /** One request line, from parsing on: every failure is one "error" line, and the connection keeps serving. */
  async handle(line: string): Promise<void> {
    if (this.closed) return;
    let id: number | undefined;
    try {
      const req = parseRequest(line);
      id = requestId(req);
      if (req.op === 'attach') await this.attach(id, req);
      else if (req.op === 'detach')
        this.detach(id ?? refuse('detach needs the numeric id of a probe'), 'detached on request');
      else if (req.op === 'sites') await this.sites(id);
      else if (req.op === 'held') await this.heldNow(id);
      else refuse(`unknown op ${JSON.stringify(String(req.op)).slice(0, 40)} — use attach, detach, sites or held`);
    } catch (err) {
      const message =
        err instanceof ProbeServiceError || err instanceof LabError
          ? err.message
          : `internal error: ${(err as Error)?.message ?? String(err)}`;
      if (!(err instanceof ProbeServiceError || err instanceof LabError))
        this.service.log(`${this.name}: ${message.split('\n')[0]}`);
      this.send({ op: 'error', id, error: message.split('\n')[0] });
    }
  }

  private async attach(id: number | undefined, req: Record<string, unknown>): Promise<void> {
    if (id === undefined) refuse('attach needs a numeric id');
    if (this.probes.has(id) || this.attaching.has(id) || this.closing.has(id)) refuse(`probe id ${id} is in use`);
    const code = foreignCode.find((k) => Object.hasOwn(req, k));
    if (code)
      refuse(
        `"${code}" refused: the probe service loads only the lab's own BPF programs, on your own process's executable`,
      );
    const { isProbeKind, probeKindNames, openExecutable } = await import('../../bpf/ts/index.ts');
    const kind = req.kind as ProbeKind;
    if (typeof kind !== 'string' || !isProbeKind(kind))
      refuse(`unknown probe kind ${JSON.stringify(String(req.kind)).slice(0, 40)} — pick ${probeKindNames.join(', ')}`);
    const symbol = typeof req.symbol === 'string' ? req.symbol : refuse('attach needs a symbol');
    if (!/^[\w./()*[\]-]{1,200}$/.test(symbol)) refuse('that symbol is not a Go function name');
    const asked =
      typeof req.pid === 'number' && Number.isSafeInteger(req.pid) && req.pid > 0
        ? req.pid
        : refuse('attach needs the pid of your own process');
    const raw = { args: smallInt(req, 'args'), rets: smallInt(req, 'rets'), stringArg: smallInt(req, 'stringArg') };
    const through = req.readThrough;
    if (through !== undefined && through !== null && !isObject(through)) refuse('"readThrough" must be { slot, word }');
    const readThrough = through
      ? { slot: smallInt(through, 'slot') ?? 0, word: smallInt(through, 'word') ?? 0 }
      : undefined;

    // The cap counts this attach from now on, on every connection of this uid.
    const release = this.service.reserveProbe(this.caller.uid);
    this.attaching.add(id);
    let pin: PinnedProcess | undefined;
    try {
      pin = await pinCallersProcess(this.caller, asked);
      const exe = await checkMayProbe(this.caller, pin, asked);
      await this.service.testHooks?.afterChecks?.(pin.pid);
      const traced = await openExecutable(exe);
      // The PID is the checked process's only while that process lives: checked right before the
      // attach, and again right after it (a PID given to another process in between is undone).
      const gone = () => refuse(`process ${asked} exited before the probe was attached — start it again`);
      if (!pin.aliveNow()) gone();
      await this.service.testHooks?.beforeAttach?.(pin.pid);
      const probe = traced.probe(kind, symbol, { pid: pin.pid, ...raw, readThrough });
      if (!pin.aliveNow()) {
        probe.close();
        await Promise.race([probe.detached, new Promise((r) => setTimeout(r, 5000))]);
        refuse(`process ${asked} exited while the probe was being attached — the attach was undone; start it again`);
      }
      if (this.closed) return probe.close();
      const held: HeldProbe = { probe, kind, symbol, pid: pin.pid, asked, tids: new Map() };
      this.probes.set(id, held);
      // Name the threads that exist now, while they do: a crash can end them before their events arrive.
      if (asked !== pin.pid) {
        let tids: string[] = [];
        try {
          tids = readdirSync(`/proc/${pin.pid}/task`);
        } catch {}
        for (const t of tids) this.callersTid(held, Number(t));
      }
    } finally {
      release();
      this.attaching.delete(id);
      await pin?.close();
    }
    const held = this.probes.get(id)!;
    this.service.noteAttach(this.caller.uid, kind);
    this.send({ op: 'attached', id, kind, symbol, pid: asked });
    void this.pump(id, held);
  }

  private async pump(id: number, held: HeldProbe): Promise<void> {
    try {
      for await (const batch of held.probe.batches()) {
        for (const event of batch) this.deliver(id, event, held);
      }
    } catch (err) {
      this.send({ op: 'error', id, error: String((err as Error)?.message ?? err).split('\n')[0] });
    }
  }

  private deliver(id: number, event: TraceEvent, held: HeldProbe): void {
    // The caller knows its process by the PID it named (its namespace's). A typed event decodes its
    // values in toJSON (getters, which a spread would lose).
    if (held.asked !== held.pid && event.pid === held.pid) {
      const plain = (event as { toJSON?: () => TraceEvent }).toJSON?.() ?? event;
      event = { ...plain, pid: held.asked, tid: this.callersTid(held, plain.tid) };
      if (plain.entry_tid !== undefined) event.entry_tid = this.callersTid(held, plain.entry_tid);
    }
    if (event.kind === 'exit') {
      this.service.noteExit(this.caller.uid, held.kind, { ...event, pid: held.pid });
      this.send({ op: 'event', id, event });
      this.detach(id, 'the traced process exited');
      return;
    }
    if (!this.service.admitEvent(this.caller.uid) || !this.send({ op: 'event', id, event }, true)) {
      this.pendingDrops.set(id, (this.pendingDrops.get(id) ?? 0) + 1);
      this.service.noteDrops(this.caller.uid, 1);
      return;
    }
    this.service.noteEvent(this.caller.uid);
  }

  /** A thread of the traced process by its number in the caller's PID namespace (looked up once per thread). */
  private callersTid(held: HeldProbe, tid: number): number {
    let mapped = held.tids.get(tid);
    if (mapped === undefined) {
      let status = '';
      try {
        status = readFileSync(`/proc/${held.pid}/task/${tid}/status`, 'utf8');
      } catch {}
      // A thread gone before it could be named (a crash) is 0, never the host's number.
      mapped = credentialsOf(status).nspid.at(-1) ?? 0;
      if (held.tids.size < 4096) held.tids.set(tid, mapped);
    }
    return mapped;
  }

  private flushDrops(): void {
    for (const [id, count] of this.pendingDrops)
      this.send({
        op: 'drops',
        id,
        count,
        reason: `over ${this.service.limits.maxEventsPerSecond} events/s for your uid, or not read in time`,
      });
    this.pendingDrops.clear();
  }

  detach(id: number, reason: string): void {
    if (this.closing.has(id)) return; // already detaching (its process exited): "detached" follows
    const held = this.probes.get(id);
    if (!held) return void this.send({ op: 'error', id, error: `no probe ${id}` });
    this.probes.delete(id);
    this.closing.set(id, held);
    const kernelDrops = held.probe.drops();
    held.probe.close();
    this.flushDrops();
    // "detached" once the kernel says so: a caller that waits for it knows nothing of the probe is left.
    void held.probe.detached.then(() => {
      this.closing.delete(id);
      this.send({ op: 'detached', id, reason, kernelDrops });
    });
  }

  /** The kernel's view of one of this caller's probes: the sites of the links the service holds for it. */
  private async sites(id: number | undefined): Promise<void> {
    const held = id === undefined ? undefined : (this.probes.get(id) ?? this.closing.get(id));
    this.send({ op: 'sites', id, sites: held ? await held.probe.kernelSites() : [] });
  }

  /** This connection's probes, open or detaching, with the links the kernel still has for each. */
  private async heldNow(id: number | undefined): Promise<void> {
    if (id === undefined) refuse('held needs a numeric id');
    const all = [
      ...[...this.probes].map(([i, p]) => ({ i, p, closing: false })),
      ...[...this.closing].map(([i, p]) => ({ i, p, closing: true })),
    ];
    const probes = await Promise.all(
      all.map(async ({ i, p, closing }) => ({
        id: i,
        kind: p.kind,
        symbol: p.symbol,
        pid: p.asked,
        closing,
        linkIds: [...new Set((await p.probe.kernelSites()).map((x) => x.linkId))],
      })),
    );
    this.send({ op: 'held', id, probes });
  }

  /** Open probes, with the host's PIDs (the instructor's view). */
  get held() {
    return [...this.probes].map(([id, p]) => ({ id, kind: p.kind, symbol: p.symbol, pid: p.pid }));
  }

  get openCount(): number {
    return this.probes.size;
  }

  /** Probes closed but whose links the kernel still has. */
  get closingCount(): number {
    return this.closing.size;
  }

  /** Says why (when there is something to say), releases every probe and closes the connection. */
  hangUp(error?: string): void {
    if (error && !this.closed && !this.socket.destroyed && !this.socket.writableEnded)
      this.socket.end(encodeLine({ op: 'error', error }));
    this.close(false);
    // A caller that does not read its last line does not keep the socket.
    setTimeout(() => this.socket.destroy(), 1000).unref();
  }

  close(destroy = true): void {
    if (this.closed) return;
    for (const id of [...this.probes.keys()]) this.detach(id, 'connection closed');
    this.closed = true;
    clearInterval(this.dropTimer);
    if (destroy) this.socket.destroy();
  }
}

/** Per attendee uid, over all their connections. */
interface UidBudget {
  /** Attaches under way (not yet in a connection's probes). */
  reserved: number;
  windowStart: number;
  windowEvents: number;
}

/** The service: a private socket (root only) behind probe-gate, which faces the attendees. */
export class ProbeService {
  readonly connections = new Set<AttendeeConnection>();
  private activity = new Map<number, AttendeeActivity>();
  private budgets = new Map<number, UidBudget>();
  private server?: Server;
  private gate?: ReturnType<typeof spawn>;
  readonly testHooks: ProbeServiceOptions['testHooks'];
  readonly log: (line: string) => void;

  constructor(
    /** Where attendees connect (probe-gate creates it, 0666 — who connects is checked by the kernel). */
    readonly publicSocket: string,
    readonly limits: ProbeServiceLimits = defaultLimits,
    options: ProbeServiceOptions = {},
  ) {
    this.testHooks = options.testHooks;
    const log = options.log ?? logServing;
    this.log = (line) => log(`probe service: ${line}`);
  }

  private get privateSocket(): string {
    return join(dirname(this.publicSocket), 'private', 'service.sock');
  }

  async start(): Promise<void> {
    if (!existsSync(probeGateBinary)) throw new LabError('probe-gate is not built', 'run ./lab build probe-gate');
    await mkdir(dirname(this.privateSocket), { recursive: true, mode: 0o700 });
    await chmod(dirname(this.privateSocket), 0o700);
    await chmod(dirname(this.publicSocket), 0o755);
    await rm(this.privateSocket, { force: true });
    this.server = createServer((socket) => this.accept(socket));
    this.server.on('error', () => {});
    await new Promise<void>((resolve, reject) => {
      this.server!.once('error', reject);
      this.server!.listen(this.privateSocket, () => resolve());
    });
    await chmod(this.privateSocket, 0o600);
    const gate = spawn(
      'setpriv',
      ['--pdeathsig=SIGTERM', '--', probeGateBinary, '-listen', this.publicSocket, '-upstream', this.privateSocket],
      { stdio: ['ignore', 'ignore', 'pipe'] },
    );
    this.gate = gate;
    await new Promise<void>((resolve, reject) => {
      let err = '';
      gate.once('error', (e) =>
        reject(new LabError(`cannot start probe-gate: ${e.message}`, 'run ./lab build probe-gate')),
      );
      gate.once('exit', () =>
        reject(new LabError(`probe-gate stopped: ${err.trim().split('\n').pop() ?? ''}`, 'see its message')),
      );
      gate.stderr!.on('data', (d) => {
        err += d;
        if (err.includes('listening on')) resolve();
      });
    });
    gate.removeAllListeners('exit');
    // The gate's later words (it could not tell who a caller is, …) are not kept: it stays quiet otherwise.
    gate.stderr!.removeAllListeners('data');
    gate.stderr!.resume();
  }

  /**
   * One connection, relayed by the gate: its header, then request lines. Lines are cut from the
   * bytes as they come, and a line is refused as soon as it passes maxLineBytes; requests run one
   * at a time per connection, and the service stops reading a connection whose requests pile up.
   */
  private accept(socket: Socket): void {
    socket.on('error', () => {});
    let conn: AttendeeConnection | undefined;
    let stopped = false;
    let pending: Buffer[] = [];
    let pendingBytes = 0;
    let queued = 0;
    let queue = Promise.resolve();
    const hangUp = (why: string) => {
      stopped = true;
      if (conn) conn.hangUp(why);
      else socket.destroy();
    };
    const peer = () => conn?.name ?? 'a probe-service connection (before its header)';

    const onHeader = (line: string) => {
      let h: Record<string, unknown>;
      try {
        h = JSON.parse(line) as Record<string, unknown>;
      } catch {
        h = {};
      }
      const whole = (v: unknown) => typeof v === 'number' && Number.isSafeInteger(v) && v >= 0;
      if (!isObject(h) || !whole(h.uid) || !whole(h.gid) || !whole(h.pid)) {
        this.log('a connection without a valid header from the gate: closed');
        return hangUp('bad header');
      }
      const pid = h.pid as number;
      const caller: Caller = {
        uid: h.uid as number,
        gid: h.gid as number,
        pid,
        // An older gate does not say: read it now (best effort — the gate's reading is exact).
        pidns:
          typeof h.pidns === 'string'
            ? Promise.resolve(h.pidns || undefined)
            : readlink(`/proc/${pid}/ns/pid`).catch(() => undefined),
      };
      caller.pidns.catch(() => {});
      const max = this.limits.maxConnections ?? defaultLimits.maxConnections;
      const open = [...this.connections].filter((c) => c.caller.uid === caller.uid).length;
      conn = new AttendeeConnection(socket, caller, this);
      if (open >= max) {
        stopped = true;
        conn.hangUp(`you already have ${open} connections to the probe service (the cap is ${max}) — close one first`);
        return;
      }
      this.connections.add(conn);
      this.activityOf(caller.uid);
    };

    const onLine = (line: string) => {
      if (!conn) return onHeader(line);
      const c = conn;
      if (++queued >= maxQueuedRequests) socket.pause();
      queue = queue
        .then(() => c.handle(line))
        .catch(
          (err: unknown) => (
            this.log(`${c.name}: dropped: ${String((err as Error)?.message ?? err).split('\n')[0]}`),
            hangUp('internal error')
          ),
        )
        .finally(() => {
          if (--queued < maxQueuedRequests / 2 && socket.isPaused() && !stopped) socket.resume();
        });
    };

    socket.on(
      'data',
      forPeer(
        peer,
        () => hangUp('internal error'),
        (chunk: Buffer) => {
          let start = 0;
          while (!stopped && start < chunk.length) {
            const nl = chunk.indexOf(0x0a, start);
            const end = nl < 0 ? chunk.length : nl;
            if (pendingBytes + (end - start) > maxLineBytes) {
              hangUp(`a request line is longer than ${maxLineBytes} bytes — the connection is closed`);
              return;
            }
            if (nl < 0) {
              pending.push(Buffer.from(chunk.subarray(start)));
              pendingBytes += chunk.length - start;
              return;
            }
            const bytes = pending.length
              ? Buffer.concat([...pending, chunk.subarray(start, nl)])
              : chunk.subarray(start, nl);
            pending = [];
            pendingBytes = 0;
            start = nl + 1;
            const line = bytes.toString('utf8');
            onLine(line.endsWith('\r') ? line.slice(0, -1) : line);
          }
        },
      ),
    );
    socket.on('close', () => {
      stopped = true;
      pending = [];
      if (conn) {
        conn.close();
        this.connections.delete(conn);
      }
    });
  }

  private budgetOf(uid: number): UidBudget {
    let b = this.budgets.get(uid);
    if (!b) this.budgets.set(uid, (b = { reserved: 0, windowStart: Date.now(), windowEvents: 0 }));
    return b;
  }

  /** Probes a uid holds open on all its connections, with the attaches under way. */
  probesOf(uid: number): number {
    let n = this.budgets.get(uid)?.reserved ?? 0;
    for (const c of this.connections) if (c.caller.uid === uid) n += c.openCount;
    return n;
  }

  /** Counts one more probe for the uid, or refuses at the cap; the returned function ends the reservation. */
  reserveProbe(uid: number): () => void {
    const n = this.probesOf(uid);
    if (n >= this.limits.maxProbes)
      refuse(`you already hold ${n} probes (the cap is ${this.limits.maxProbes}) — close one first`);
    const b = this.budgetOf(uid);
    b.reserved++;
    let done = false;
    return () => {
      if (!done) b.reserved--;
      done = true;
    };
  }

  /** One event for the uid: true while under its events/s cap (over all its connections). */
  admitEvent(uid: number): boolean {
    const b = this.budgetOf(uid);
    const now = Date.now();
    if (now - b.windowStart >= 1000) {
      b.windowStart = now;
      b.windowEvents = 0;
    }
    return ++b.windowEvents <= this.limits.maxEventsPerSecond;
  }

  private activityOf(uid: number): AttendeeActivity {
    let a = this.activity.get(uid);
    if (!a)
      this.activity.set(
        uid,
        (a = { uid, probes: [], closing: 0, attached: [], tracedProcessDied: [], events: 0, drops: 0 }),
      );
    return a;
  }

  noteAttach(uid: number, kind: ProbeKind): void {
    const a = this.activityOf(uid);
    if (!a.attached.includes(kind)) a.attached.push(kind);
  }
  noteExit(uid: number, kind: ProbeKind, e: TraceEvent): void {
    const x = e as { pid: number; signal?: number; exit_code?: number };
    this.activityOf(uid).tracedProcessDied.push({ kind, pid: x.pid, signal: x.signal, exit_code: x.exit_code });
  }
  noteEvent(uid: number): void {
    this.activityOf(uid).events++;
  }
  noteDrops(uid: number, n: number): void {
    this.activityOf(uid).drops += n;
  }

  /** Per attendee: what they hold now and what happened so far. */
  roomActivity(): AttendeeActivity[] {
    for (const a of this.activity.values()) [a.probes, a.closing] = [[], 0];
    for (const c of this.connections) {
      const a = this.activityOf(c.caller.uid);
      a.probes.push(...c.held);
      a.closing += c.closingCount;
    }
    return [...this.activity.values()];
  }

  /** Releases every probe one attendee holds (the instructor's reset). */
  releaseUid(uid: number): void {
    for (const c of this.connections) if (c.caller.uid === uid) c.close();
    this.activity.delete(uid);
    this.budgets.delete(uid);
  }

  async stop(): Promise<void> {
    for (const c of this.connections) c.close();
    this.connections.clear();
    if (this.gate && this.gate.exitCode === null) {
      const exited = new Promise((r) => this.gate!.once('exit', r));
      this.gate.kill('SIGTERM');
      await Promise.race([exited, new Promise((r) => setTimeout(r, 2000))]);
      if (this.gate.exitCode === null) this.gate.kill('SIGKILL');
    }
    await new Promise<void>((resolve) => (this.server ? this.server.close(() => resolve()) : resolve()));
    await rm(this.publicSocket, { force: true });
    await rm(dirname(this.privateSocket), { recursive: true, force: true });
  }
}
