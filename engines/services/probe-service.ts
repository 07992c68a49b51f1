/**
 * The probe service: does for an unprivileged attendee exactly what the tracer API does for root —
 * attaches the lab's own BPF programs as uprobes, uretprobes or RET-site probes — but only to
 * processes that attendee owns, and streams back only their events.
 *
 * Attendees reach it through probe-gate (Go), which learns their uid from the socket (SO_PEERCRED)
 * and relays to this service's private socket with a header line the caller cannot forge.
 *
 * Protocol: JSON lines. Client → {"op":"attach","id":1,"kind":"ret","symbol":"main.demo","pid":42}
 * (optionally "args", "rets", "stringArg", "readThrough", as ProbeOptions) | {"op":"detach","id":1}
 * | {"op":"sites","id":1} | {"op":"held","id":7}. Service → {"op":"attached","id":1,...}
 * | {"op":"event","id":1,"event":…} | {"op":"drops","id":1,"count":n,"reason":…}
 * | {"op":"detached","id":1,"reason":…} (once the kernel has let go of the links)
 * | {"op":"sites","id":1,"sites":[…]} (the kernel's fdinfo of that probe's links)
 * | {"op":"held","id":7,"probes":[…]} (this connection's probes, open or detaching) | {"op":"error",…}.
 */
import { createServer, type Server, type Socket } from 'node:net';
import { spawn, execFile } from 'node:child_process';
import { chmod, mkdir, readdir, readFile, readlink, rm } from 'node:fs/promises';
import { createInterface } from 'node:readline';
import { dirname, join } from 'node:path';
import { existsSync } from 'node:fs';
import { at } from '../../core/paths.ts';
import { LabError } from '../../core/errors.ts';
import type { Probe, ProbeKind, TraceEvent } from '../../bpf/ts/index.ts';

export const probeGateBinary = at('engines', 'services', 'probe-gate', 'probe-gate');

export interface ProbeServiceLimits {
  /** Probes one attendee may hold at once. */
  maxProbes: number;
  /** Events per second one attendee receives; the rest are dropped and counted. */
  maxEventsPerSecond: number;
}

export const defaultLimits: ProbeServiceLimits = { maxProbes: 8, maxEventsPerSecond: 2000 };

/** What the service knows of an attendee's activity, for the instructor's room view. */
export interface AttendeeActivity {
  uid: number;
  probes: { id: number; kind: ProbeKind; symbol: string; pid: number }[];
  /** Probes closed whose links the kernel has not let go of yet. */
  closing: number;
  /** Kinds ever attached, and whether a traced process died while probed. */
  attached: ProbeKind[];
  tracedProcessDied: { kind: ProbeKind; pid: number; signal?: number; exit_code?: number }[];
  events: number;
  drops: number;
}

interface Caller {
  uid: number;
  gid: number;
  pid: number;
}

/** Request fields that would mean "load this program": the service loads only the lab's own. */
const foreignCode = ['object', 'program', 'programs', 'bpf', 'insns', 'elf', 'path', 'binary'];

export class ProbeServiceError extends Error {}

function refuse(what: string): never {
  throw new ProbeServiceError(what);
}

async function realUid(pid: number): Promise<number> {
  const status = await readFile(`/proc/${pid}/status`, 'utf8').catch(() =>
    refuse(`no process ${pid} — start your server first (lab.startServer())`),
  );
  const m = /^Uid:\s+(\d+)/m.exec(status);
  if (!m) refuse(`cannot read the owner of process ${pid}`);
  return Number(m[1]);
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

/**
 * The PID a caller names is in their own PID namespace (a container's, on a per-node daemon); the
 * kernel told us the caller's PID in ours. Find the process they mean: same namespace, and the
 * innermost of its NSpid numbers is the one they gave.
 */
async function hostPidOf(callerPid: number, requested: number): Promise<number> {
  const [ours, theirs] = await Promise.all([
    readlink('/proc/self/ns/pid'),
    readlink(`/proc/${callerPid}/ns/pid`).catch(() => ''),
  ]);
  if (!theirs || theirs === ours) return requested;
  for (const entry of await readdir('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    if ((await readlink(`/proc/${entry}/ns/pid`).catch(() => '')) !== theirs) continue;
    const nspid = /^NSpid:\s+(.*)$/m
      .exec(await readFile(`/proc/${entry}/status`, 'utf8').catch(() => ''))?.[1]
      .trim()
      .split(/\s+/);
    if (nspid && Number(nspid[nspid.length - 1]) === requested) return Number(entry);
  }
  refuse(`no process ${requested} in your PID namespace — start your server first (lab.startServer())`);
}

type HeldProbe = { probe: Probe; kind: ProbeKind; symbol: string; pid: number };

/** A register count or slot from a request: absent, or a small whole number (the tracer checks its range). */
function smallInt(req: Record<string, unknown>, key: string): number | undefined {
  const v = req[key];
  if (v === undefined || v === null) return undefined;
  if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < 0 || v > 64)
    refuse(`"${key}" must be a small whole number`);
  return v;
}

class AttendeeConnection {
  private probes = new Map<number, HeldProbe>();
  /** Detached on request, until the kernel has let go of their links. */
  private closing = new Map<number, HeldProbe>();
  private windowStart = Date.now();
  private windowEvents = 0;
  private pendingDrops = new Map<number, number>();
  private dropTimer: NodeJS.Timeout;
  closed = false;

  constructor(
    private readonly socket: Socket,
    readonly caller: Caller,
    private readonly service: ProbeService,
  ) {
    this.dropTimer = setInterval(() => this.flushDrops(), 1000);
    this.dropTimer.unref();
  }

  send(msg: object): void {
    if (this.closed || this.socket.destroyed) return;
    this.socket.write(JSON.stringify(msg, (_k, v) => (typeof v === 'bigint' ? v.toString() : v)) + '\n');
  }

  async handle(line: string): Promise<void> {
    let req: Record<string, unknown>;
    try {
      req = JSON.parse(line) as Record<string, unknown>;
    } catch {
      return this.send({ op: 'error', error: 'not a JSON request — send one JSON object per line' });
    }
    const id = typeof req.id === 'number' && Number.isSafeInteger(req.id) ? req.id : undefined;
    try {
      if (req.op === 'attach') await this.attach(id, req);
      else if (req.op === 'detach') this.detach(id, 'detached on request');
      else if (req.op === 'sites') await this.sites(id);
      else if (req.op === 'held') await this.heldNow(id);
      else refuse(`unknown op ${JSON.stringify(String(req.op)).slice(0, 40)} — use attach, detach, sites or held`);
    } catch (err) {
      const message =
        err instanceof ProbeServiceError || err instanceof LabError
          ? err.message
          : `internal error: ${(err as Error).message}`;
      this.send({ op: 'error', id, error: message.split('\n')[0] });
    }
  }

  private async attach(id: number | undefined, req: Record<string, unknown>): Promise<void> {
    if (id === undefined) refuse('attach needs a numeric id');
    if (this.probes.has(id)) refuse(`probe id ${id} is in use`);
    const code = foreignCode.find((k) => k in req);
    if (code)
      refuse(
        `"${code}" refused: the probe service loads only the lab's own BPF programs, on your own process's executable`,
      );
    const { isProbeKind, probeKindNames, openExecutable } = await import('../../bpf/ts/index.ts');
    const kind = req.kind as ProbeKind;
    if (!isProbeKind(kind))
      refuse(`unknown probe kind ${JSON.stringify(String(req.kind)).slice(0, 40)} — pick ${probeKindNames.join(', ')}`);
    const symbol = typeof req.symbol === 'string' ? req.symbol : refuse('attach needs a symbol');
    if (!/^[\w./()*[\]-]{1,200}$/.test(symbol)) refuse('that symbol is not a Go function name');
    const asked =
      typeof req.pid === 'number' && Number.isSafeInteger(req.pid) && req.pid > 0
        ? req.pid
        : refuse('attach needs the pid of your own process');
    const raw = { args: smallInt(req, 'args'), rets: smallInt(req, 'rets'), stringArg: smallInt(req, 'stringArg') };
    const through = req.readThrough;
    if (through !== undefined && through !== null && typeof through !== 'object')
      refuse('"readThrough" must be { slot, word }');
    const readThrough = through
      ? {
          slot: smallInt(through as Record<string, unknown>, 'slot') ?? 0,
          word: smallInt(through as Record<string, unknown>, 'word') ?? 0,
        }
      : undefined;
    const pid = await hostPidOf(this.caller.pid, asked);
    if (this.probes.size >= this.service.limits.maxProbes)
      refuse(
        `you already hold ${this.probes.size} probes (the cap is ${this.service.limits.maxProbes}) — close one first`,
      );
    const owner = await realUid(pid);
    if (owner !== this.caller.uid)
      refuse(`process ${pid} is not yours (it belongs to uid ${owner}) — probe your own server`);
    const exe = await readlink(`/proc/${pid}/exe`).catch(() => refuse(`cannot see process ${pid}'s executable`));
    if (!(await callerMayRead(this.caller, exe))) refuse(`you may not read ${exe}, so you may not probe it`);
    const traced = await openExecutable(exe);
    const probe = traced.probe(kind, symbol, { pid, ...raw, readThrough });
    if (this.closed) return probe.close();
    this.probes.set(id, { probe, kind, symbol, pid });
    this.service.noteAttach(this.caller.uid, kind);
    this.send({ op: 'attached', id, kind, symbol, pid: asked });
    void this.pump(id, probe, kind);
  }

  private async pump(id: number, probe: Probe, kind: ProbeKind): Promise<void> {
    try {
      for await (const batch of probe.batches()) {
        for (const event of batch) this.deliver(id, event, kind);
      }
    } catch (err) {
      this.send({ op: 'error', id, error: (err as Error).message.split('\n')[0] });
    }
  }

  private deliver(id: number, event: TraceEvent, kind: ProbeKind): void {
    if (event.kind === 'exit') {
      this.service.noteExit(this.caller.uid, kind, event);
      this.send({ op: 'event', id, event });
      this.detach(id, 'the traced process exited');
      return;
    }
    const now = Date.now();
    if (now - this.windowStart >= 1000) {
      this.windowStart = now;
      this.windowEvents = 0;
    }
    if (++this.windowEvents > this.service.limits.maxEventsPerSecond) {
      this.pendingDrops.set(id, (this.pendingDrops.get(id) ?? 0) + 1);
      this.service.noteDrops(this.caller.uid, 1);
      return;
    }
    this.service.noteEvent(this.caller.uid);
    this.send({ op: 'event', id, event });
  }

  private flushDrops(): void {
    for (const [id, count] of this.pendingDrops)
      this.send({ op: 'drops', id, count, reason: `over ${this.service.limits.maxEventsPerSecond} events/s` });
    this.pendingDrops.clear();
  }

  detach(id: number | undefined, reason: string): void {
    if (id !== undefined && this.closing.has(id)) return; // already detaching (its process exited): "detached" follows
    const held = id === undefined ? undefined : this.probes.get(id);
    if (!held) return this.send({ op: 'error', id, error: `no probe ${id}` });
    this.probes.delete(id!);
    this.closing.set(id!, held);
    const kernelDrops = held.probe.drops();
    held.probe.close();
    this.flushDrops();
    // "detached" once the kernel says so: a caller that waits for it knows nothing of the probe is left.
    void held.probe.detached.then(() => {
      this.closing.delete(id!);
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
        pid: p.pid,
        closing,
        linkIds: [...new Set((await p.probe.kernelSites()).map((x) => x.linkId))],
      })),
    );
    this.send({ op: 'held', id, probes });
  }

  get held() {
    return [...this.probes].map(([id, p]) => ({ id, kind: p.kind, symbol: p.symbol, pid: p.pid }));
  }

  /** Probes closed but whose links the kernel still has. */
  get closingCount(): number {
    return this.closing.size;
  }

  close(): void {
    if (this.closed) return;
    for (const id of [...this.probes.keys()]) this.detach(id, 'connection closed');
    this.closed = true;
    clearInterval(this.dropTimer);
    this.socket.destroy();
  }
}

/** The service: a private socket (root only) behind probe-gate, which faces the attendees. */
export class ProbeService {
  readonly connections = new Set<AttendeeConnection>();
  private activity = new Map<number, AttendeeActivity>();
  private server?: Server;
  private gate?: ReturnType<typeof spawn>;

  constructor(
    /** Where attendees connect (probe-gate creates it, 0666 — who connects is checked by the kernel). */
    readonly publicSocket: string,
    readonly limits: ProbeServiceLimits = defaultLimits,
  ) {}

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
  }

  private accept(socket: Socket): void {
    socket.on('error', () => {});
    socket.setEncoding('utf8');
    const lines = createInterface({ input: socket, crlfDelay: Infinity });
    let conn: AttendeeConnection | undefined;
    let queue = Promise.resolve();
    lines.on('line', (line) => {
      if (line.length > 4096) {
        socket.destroy();
        return;
      }
      if (!conn) {
        // The gate's header: who the kernel says is calling.
        const h = JSON.parse(line) as Caller;
        conn = new AttendeeConnection(socket, h, this);
        this.connections.add(conn);
        this.activityOf(h.uid);
        return;
      }
      const c = conn;
      queue = queue.then(() => c.handle(line));
    });
    socket.on('close', () => {
      if (conn) {
        conn.close();
        this.connections.delete(conn);
      }
    });
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
