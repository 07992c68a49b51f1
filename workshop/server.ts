import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { AddressInfo } from 'node:net';
import { networkInterfaces } from 'node:os';
import { WebSocketServer, type WebSocket } from 'ws';
import { at } from '../core/paths.ts';
import { LabError } from '../core/errors.ts';
import type { Agenda } from './agenda.ts';
import { checkInstructor, newToken } from './auth.ts';
import type { RoomRunner } from './runners.ts';
import { resetLab } from './reset.ts';
import { Room, RoomError, type Audience, type RoomMessage } from './room.ts';
import { liveOutputsScript } from '../engines/notebook/live-bundle.ts';

export interface WorkshopOptions {
  agenda: Agenda;
  runner: RoomRunner;
  /** Marks every process the workshop starts (see processes.ts); reset only ever kills those. */
  marker: string;
  token?: string;
  host?: string;
  port?: number;
  /** The site, as this machine reaches it (attendees get its port and path, on the host they used). */
  siteUrl?: string;
  /** Why there is no site (shown in both views instead of the page). */
  siteProblem?: string;
  /** Why this is a rehearsal (shown in both views). */
  rehearsalReason?: string;
  /** Where the transport reports what it refused or survived (bad frames, broken sockets); one line each. */
  log?: (line: string) => void;
  /** How often sockets are pinged; one that has not answered the previous ping is dropped (half-open). */
  heartbeatMs?: number;
  /**
   * Attendee sockets one address may hold (default 256: a classroom behind one NAT still fits); past
   * it, 503. One script cannot take every connection the server has.
   */
  maxAttendeeSocketsPerAddress?: number;
}

/** Addresses of this machine other machines may reach, for the attendee URL when bound beyond loopback. */
export function lanAddresses(host: string): string[] {
  if (host === '127.0.0.1' || host === 'localhost') return [];
  if (host !== '0.0.0.0') return [host];
  return Object.values(networkInterfaces())
    .flat()
    .flatMap((a) => (a && a.family === 'IPv4' && !a.internal ? [a.address] : []));
}

const publicDir = at('workshop', 'public');
/** A view that lets this much pile up unread is too slow (or gone without saying so): it is dropped, not buffered for. */
const maxBufferedBytes = 8 * 1024 * 1024;
const assets: Record<string, string> = {
  '/attend': 'attend.html',
  '/attend/': 'attend.html',
  '/assets/workshop.css': 'workshop.css',
  '/assets/common.js': 'common.js',
  '/assets/attend.js': 'attend.js',
  '/assets/instructor.js': 'instructor.js',
};
const contentTypes: Record<string, string> = {
  html: 'text/html; charset=utf-8',
  css: 'text/css; charset=utf-8',
  js: 'text/javascript; charset=utf-8',
};
// Pages only load our own scripts; recorded/live HTML outputs render in sandboxed iframes without scripts.
const csp =
  "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; " +
  "connect-src 'self'; frame-src http: https: about:; frame-ancestors 'none'; base-uri 'none'; form-action 'none'";

/**
 * The workshop's transport: HTTP routes and the two WebSockets (instructor console with its token,
 * attendee views receive-only) around one Room, whose messages it sends to the views.
 */
export class WorkshopServer implements AsyncDisposable {
  readonly token: string;
  readonly room: Room;
  // Nobody needs to send us anything big: attendees send nothing at all, instructors act over HTTP.
  private readonly attendees = new WebSocketServer({ noServer: true, maxPayload: 4096 });
  private readonly instructors = new WebSocketServer({ noServer: true, maxPayload: 4096 });
  /** Messages attendees tried to send (all refused); for the console and tests. */
  refusedAttendeeMessages = 0;
  /** Sockets that failed (bad frames, oversized frames, resets) and were closed; counted, never fatal. */
  socketErrors = 0;
  private http!: Server;
  private heartbeat?: NodeJS.Timeout;
  private constructor(readonly opts: WorkshopOptions) {
    this.token = opts.token ?? newToken();
    const { agenda, runner, marker, siteUrl, siteProblem, rehearsalReason } = opts;
    this.room = new Room(
      { agenda, runner, siteUrl, siteProblem, rehearsalReason, resetLab: (log) => resetLab({ marker, runner, log }) },
      (msg, audience) => this.broadcast(msg, audience),
    );
  }

  static async start(opts: WorkshopOptions): Promise<WorkshopServer> {
    const ws = new WorkshopServer(opts);
    // Slow or silent clients are cut off instead of held forever (requests carry at most a small JSON body).
    ws.http = createServer(
      { headersTimeout: 10_000, requestTimeout: 30_000, keepAliveTimeout: 5_000, connectionsCheckingInterval: 2_000 },
      (req, res) => {
        ws.handle(req, res).catch((e: Error) => {
          ws.log(`request ${req.method} ${String(req.url).slice(0, 80)} failed: ${e.message}`);
          try {
            if (!res.headersSent)
              json(res, 500, { error: 'internal error', fix: 'see the terminal of ./lab workshop' });
            else res.end();
          } catch {
            res.destroy();
          }
        });
      },
    );
    ws.http.maxConnections = 1024;
    // Garbage that is not HTTP at all: answer 400 if the socket can still take it, never let it throw.
    ws.http.on('clientError', (e: NodeJS.ErrnoException, socket) => {
      const status =
        e.code === 'HPE_HEADER_OVERFLOW'
          ? '431 Request Header Fields Too Large'
          : e.code === 'ERR_HTTP_REQUEST_TIMEOUT'
            ? '408 Request Timeout'
            : '400 Bad Request';
      if (socket.writable && e.code !== 'ECONNRESET')
        socket.end(`HTTP/1.1 ${status}\r\nConnection: close\r\nContent-Length: 0\r\n\r\n`);
      socket.destroy();
    });
    ws.http.on('upgrade', (req, socket, head) => {
      socket.on('error', () => socket.destroy());
      try {
        ws.upgrade(req, socket, head);
      } catch (e) {
        ws.log(`upgrade ${String(req.url).slice(0, 80)} failed: ${(e as Error).message}`);
        socket.destroy();
      }
    });
    for (const wss of [ws.attendees, ws.instructors]) wss.on('error', (e) => ws.log(`WebSocket server: ${e.message}`));
    ws.attendees.on('connection', (sock, req: IncomingMessage) => ws.onAttendee(sock, req));
    ws.instructors.on('connection', (sock) => {
      ws.watch(sock, 'instructor');
      sock.send(JSON.stringify({ type: 'state', state: ws.snapshot(true) }));
      // The instructor socket only listens too; commands go through the token-checked HTTP routes.
      sock.on('message', () => undefined);
    });
    ws.heartbeat = setInterval(() => ws.ping(), opts.heartbeatMs ?? 30_000);
    ws.heartbeat.unref();
    await new Promise<void>((resolve, reject) => {
      ws.http.once('error', (e: NodeJS.ErrnoException) =>
        reject(
          e.code === 'EADDRINUSE' || e.code === 'EADDRNOTAVAIL' || e.code === 'EACCES'
            ? new LabError(
                `cannot listen on ${opts.host ?? '127.0.0.1'}:${opts.port ?? 0} (${e.code})`,
                'pick another --port (or leave it out for a free one) and a --host this machine has',
              )
            : e,
        ),
      );
      ws.http.listen(opts.port ?? 0, opts.host ?? '127.0.0.1', () => resolve());
    });
    ws.http.on('error', (e) => ws.log(`workshop server: ${e.message}`));
    return ws;
  }

  get port(): number {
    return (this.http.address() as AddressInfo).port;
  }

  /** Base URL for this machine (and the tests): loopback unless bound to one other address only. */
  get url(): string {
    const host = this.opts.host ?? '127.0.0.1';
    return `http://${host === '0.0.0.0' ? '127.0.0.1' : host}:${this.port}`;
  }

  get attendeeUrl(): string {
    return `${this.url}/attend`;
  }

  /** What to tell the room: the loopback URL, plus one per address other machines can use. */
  get attendeeUrls(): string[] {
    const others = lanAddresses(this.opts.host ?? '127.0.0.1').filter((a) => !this.url.includes(`//${a}:`));
    return [this.attendeeUrl, ...others.map((a) => `http://${a}:${this.port}/attend`)];
  }

  get instructorUrl(): string {
    return `${this.url}/instructor?token=${this.token}`;
  }

  /** The site came up (or failed) after the workshop started: every view switches its page frame. */
  setSite(siteUrl: string | undefined, siteProblem?: string): void {
    this.room.setSite(siteUrl, siteProblem);
  }

  get mode(): 'live' | 'rehearsal' {
    return this.room.mode;
  }

  async close(): Promise<void> {
    clearInterval(this.heartbeat);
    for (const c of [...this.attendees.clients, ...this.instructors.clients]) c.terminate();
    this.attendees.close();
    this.instructors.close();
    await this.room.interrupt().catch(() => undefined);
    this.http.closeAllConnections();
    await new Promise<void>((resolve) => this.http.close(() => resolve()));
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }

  /** The room's state for a view; the instructor's also carries the URLs to give the room. */
  snapshot(instructor: boolean) {
    return { ...this.room.snapshot(instructor), attendeeUrls: instructor ? this.attendeeUrls : undefined };
  }

  // ---- transport ---------------------------------------------------------------------------

  private broadcast(msg: RoomMessage, audience: Audience): void {
    const data = JSON.stringify(msg);
    if (audience !== 'attendees') for (const c of this.instructors.clients) this.sendTo(c, data);
    if (audience !== 'instructor') for (const c of this.attendees.clients) this.sendTo(c, data);
  }

  private sendTo(sock: WebSocket, data: string): void {
    if (sock.readyState !== sock.OPEN) return;
    if (sock.bufferedAmount > maxBufferedBytes) {
      this.log(`dropped a view that stopped reading (${sock.bufferedAmount} bytes unsent)`);
      sock.terminate();
      return;
    }
    sock.send(data);
  }

  private logWindow = { startedAt: 0, lines: 0, suppressed: 0 };

  /** At most 20 lines a minute: an attendee looping over bad frames must not flood the instructor's terminal. */
  private log(line: string): void {
    const w = this.logWindow;
    const now = Date.now();
    if (now - w.startedAt > 60_000) {
      if (w.suppressed) this.emitLog(`(${w.suppressed} more such lines in the last minute were not shown)`);
      Object.assign(w, { startedAt: now, lines: 0, suppressed: 0 });
    }
    if (++w.lines > 20) w.suppressed++;
    else this.emitLog(line);
  }

  private emitLog(line: string): void {
    try {
      this.opts.log?.(line);
    } catch {
      // a broken log sink must not take the server down
    }
  }

  /**
   * Every socket gets an 'error' listener: ws has already answered a bad frame with its close code
   * (1009 too big, 1002 protocol error: RSV1, unknown opcode, unmasked; 1007 invalid UTF-8); without a
   * listener the same error would be thrown and end the process.
   */
  private watch(sock: WebSocket, who: 'attendee' | 'instructor'): void {
    const alive = sock as WebSocket & { labAlive?: boolean };
    alive.labAlive = true;
    sock.on('pong', () => (alive.labAlive = true));
    sock.on('error', (e: Error & { code?: string }) => {
      this.socketErrors++;
      this.log(`${who} socket closed: ${e.code ?? 'error'} ${e.message}`.slice(0, 200));
    });
  }

  /** Drops sockets that did not answer the last ping (a laptop lid closed, a half-open connection). */
  private ping(): void {
    for (const c of [...this.attendees.clients, ...this.instructors.clients]) {
      const alive = c as WebSocket & { labAlive?: boolean };
      if (alive.labAlive === false) {
        c.terminate();
        continue;
      }
      alive.labAlive = false;
      c.ping();
    }
  }

  private onAttendee(sock: WebSocket, req: IncomingMessage): void {
    (sock as WebSocket & { labFrom?: string }).labFrom = req.socket.remoteAddress;
    this.watch(sock, 'attendee');
    sock.send(JSON.stringify({ type: 'state', state: this.snapshot(false) }));
    // Receive-only: anything an attendee sends closes the socket and is never looked at.
    sock.on('message', () => {
      this.refusedAttendeeMessages++;
      sock.close(1008, 'the attendee view is receive-only');
    });
  }

  private upgrade(req: IncomingMessage, socket: import('node:stream').Duplex, head: Buffer): void {
    const path = pathOf(req);
    if (path === '/attend/ws') {
      const from = req.socket.remoteAddress;
      let held = 0;
      for (const c of this.attendees.clients) if ((c as WebSocket & { labFrom?: string }).labFrom === from) held++;
      if (held >= (this.opts.maxAttendeeSocketsPerAddress ?? 256)) {
        this.log(`refused an attendee socket from ${from}: it holds ${held} already`);
        socket.end('HTTP/1.1 503 Service Unavailable\r\nConnection: close\r\nContent-Length: 0\r\n\r\n');
        return;
      }
      this.attendees.handleUpgrade(req, socket, head, (s) => this.attendees.emit('connection', s, req));
      return;
    }
    if (path === '/instructor/ws') {
      const verdict = checkInstructor(req, this.token);
      if (verdict === 200) {
        this.instructors.handleUpgrade(req, socket, head, (s) => this.instructors.emit('connection', s, req));
        return;
      }
      socket.end(
        `HTTP/1.1 ${verdict} ${verdict === 401 ? 'Unauthorized' : 'Forbidden'}\r\nConnection: close\r\nContent-Length: 0\r\n\r\n`,
      );
      return;
    }
    socket.end(
      `HTTP/1.1 ${path === null ? '400 Bad Request' : '404 Not Found'}\r\nConnection: close\r\nContent-Length: 0\r\n\r\n`,
    );
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const path = pathOf(req);
    res.setHeader('X-Content-Type-Options', 'nosniff');
    res.setHeader('Referrer-Policy', 'no-referrer');
    res.setHeader('Cache-Control', 'no-store');

    if (path === null) {
      json(res, 400, { error: 'not a request path' });
      return;
    }
    if (path === '/favicon.ico') {
      res.writeHead(204).end();
      return;
    }
    if (path === '/' && req.method === 'GET') {
      res.writeHead(302, { Location: '/attend' }).end();
      return;
    }
    if (req.method === 'GET' && path === '/assets/live-outputs.js') {
      // The views' output model is the engine's own module, bundled from its source (never a copy).
      res.writeHead(200, { 'Content-Type': contentTypes.js, 'Content-Security-Policy': csp });
      res.end(liveOutputsScript());
      return;
    }
    if (req.method === 'GET' && assets[path]) {
      const file = assets[path];
      res.writeHead(200, { 'Content-Type': contentTypes[file.split('.').pop()!], 'Content-Security-Policy': csp });
      res.end(readFileSync(join(publicDir, file)));
      return;
    }
    if (path === '/attend/state' && req.method === 'GET') {
      json(res, 200, this.snapshot(false));
      return;
    }
    if (path === '/instructor' || path.startsWith('/instructor/')) {
      const verdict = checkInstructor(req, this.token);
      if (verdict !== 200) {
        json(res, verdict, {
          error: verdict === 401 ? 'the instructor console needs its token' : 'wrong token',
          fix: 'use the instructor URL ./lab workshop printed; attendees use /attend',
        });
        return;
      }
      await this.instructorRoute(req, res, path);
      return;
    }
    json(res, 404, { error: `no such page ${path}`, fix: 'attendees: open /attend' });
  }

  private async instructorRoute(req: IncomingMessage, res: ServerResponse, path: string): Promise<void> {
    try {
      if (req.method === 'GET' && (path === '/instructor' || path === '/instructor/')) {
        res.writeHead(200, { 'Content-Type': contentTypes.html, 'Content-Security-Policy': csp });
        res.end(readFileSync(join(publicDir, 'instructor.html')));
        return;
      }
      if (req.method === 'GET' && path === '/instructor/state') return json(res, 200, this.snapshot(true));
      if (req.method !== 'POST') throw new HttpError(405, `${req.method} ${path} is not an instructor action`);
      const body = await readJson(req);
      const room = this.room;
      switch (path) {
        case '/instructor/step':
          return json(res, 200, { step: room.setStep(body.section, body.cell ?? null) });
        case '/instructor/run':
        case '/instructor/run-to': {
          const cell = room.findCell(body.key);
          if (!cell) throw new HttpError(400, `no cell ${JSON.stringify(body.key)} in the agenda's notebooks`);
          const jobs = path === '/instructor/run' ? [room.runCell(cell)] : room.runToHere(cell);
          // Answer once queued; with ?wait=1 (tests, scripts) once done.
          if (queryOf(req).get('wait')) {
            const results = await Promise.all(jobs);
            return json(res, 200, { queued: jobs.length, results });
          }
          return json(res, 202, { queued: jobs.length });
        }
        case '/instructor/timers':
          return json(res, 200, { timers: room.restartTimers() });
        case '/instructor/interrupt':
          await room.interrupt();
          return json(res, 200, { interrupted: true });
        case '/instructor/reset':
          return json(res, 200, await room.reset());
      }
      throw new HttpError(404, `no instructor action ${path}`);
    } catch (e) {
      if (e instanceof HttpError || e instanceof RoomError) {
        // The body was refused before it was read whole: this connection cannot carry another request.
        if (!req.complete) res.setHeader('Connection', 'close');
        return json(res, e.status, { error: e.message });
      }
      throw e;
    }
  }
}

class HttpError extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
  }
}

/** The path of a request, or null when its target is no URL at all ("//", "http://[", …). */
function pathOf(req: IncomingMessage): string | null {
  try {
    return new URL(req.url ?? '/', 'http://x').pathname;
  } catch {
    return null;
  }
}

function queryOf(req: IncomingMessage): URLSearchParams {
  try {
    return new URL(req.url ?? '/', 'http://x').searchParams;
  } catch {
    return new URLSearchParams();
  }
}

function json(res: ServerResponse, status: number, body: unknown): void {
  res.writeHead(status, { 'Content-Type': 'application/json; charset=utf-8' });
  res.end(JSON.stringify(body));
}

async function readJson(req: IncomingMessage): Promise<Record<string, unknown>> {
  let size = 0;
  const chunks: Buffer[] = [];
  for await (const chunk of req) {
    size += (chunk as Buffer).length;
    if (size > 64 * 1024) throw new HttpError(413, 'request body too large');
    chunks.push(chunk as Buffer);
  }
  if (chunks.length === 0) return {};
  try {
    const v = JSON.parse(Buffer.concat(chunks).toString('utf8'));
    return v && typeof v === 'object' ? v : {};
  } catch {
    throw new HttpError(400, 'the body is not JSON');
  }
}
