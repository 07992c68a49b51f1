/**
 * The docs site's HTTP server: the built pages, and — with a Jupyter behind it — a reverse proxy to
 * that Jupyter under its base path (HTTP and WebSocket) that adds the token itself. The token never
 * reaches a page: the proxy lets through only requests carrying the session cookie that the one-time
 * grant link (printed to the terminal of whoever ran `./lab start`) set in their browser.
 */
import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import { createReadStream, statSync, type Stats } from 'node:fs';
import {
  createServer,
  request,
  type IncomingHttpHeaders,
  type IncomingMessage,
  type Server,
  type ServerResponse,
} from 'node:http';
import { connect, type Socket } from 'node:net';
import { extname, join, normalize, relative, sep } from 'node:path';
import type { Duplex } from 'node:stream';

export interface SiteServerOptions {
  /** The built site to serve. */
  dir: string;
  host: string;
  /** 0: a free port. */
  port: number;
  /** Proxied under its base path (its URL's path, e.g. /jupyter/). */
  jupyter?: { url: string; token: string };
}

export interface SiteServer {
  server: Server;
  port: number;
  /** The one-time link that admits a browser to the proxied Jupyter (null without one). */
  grantPath: string | null;
  close(): Promise<void>;
}

/** The names a loopback-only site answers to; any other Host (DNS rebinding) is refused. */
const loopbackNames = ['127.0.0.1', 'localhost', '[::1]'];

const randomToken = () => randomBytes(32).toString('base64url');
const digest = (s: string) => createHash('sha256').update(s).digest();
/** Constant-time equality of two secrets of any length. */
const sameSecret = (a: string, b: string) => timingSafeEqual(digest(a), digest(b));

/** The grant (once) and the sessions it made: who may use the proxied Jupyter. */
class Access {
  private grant: string | null = randomToken();
  private readonly sessions: string[] = [];
  readonly grantPath = `/?grant=${this.grant}`;
  /** Cookies are shared by every port of a host: the name says which site a cookie is for. */
  cookieName = 'lab-session';

  /** A new session for the right grant, the first time only. */
  redeem(offered: string): string | null {
    if (this.grant === null || !sameSecret(offered, this.grant)) return null;
    this.grant = null;
    const session = randomToken();
    this.sessions.push(session);
    return session;
  }

  admits(req: IncomingMessage): boolean {
    const offered = cookie(req.headers.cookie, this.cookieName);
    return offered !== null && this.sessions.some((s) => sameSecret(offered, s));
  }

  setCookie(session: string): string {
    return `${this.cookieName}=${session}; Path=/; HttpOnly; SameSite=Strict`;
  }
}

function cookie(header: string | undefined, name: string): string | null {
  for (const part of (header ?? '').split(';')) {
    const eq = part.indexOf('=');
    if (eq > 0 && part.slice(0, eq).trim() === name) return part.slice(eq + 1).trim();
  }
  return null;
}

const contentTypes: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.mjs': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.json': 'application/json; charset=utf-8',
  '.map': 'application/json; charset=utf-8',
  '.txt': 'text/plain; charset=utf-8',
  '.xml': 'application/xml; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.jpg': 'image/jpeg',
  '.jpeg': 'image/jpeg',
  '.gif': 'image/gif',
  '.webp': 'image/webp',
  '.ico': 'image/x-icon',
  '.woff': 'font/woff',
  '.woff2': 'font/woff2',
  '.ttf': 'font/ttf',
  '.wasm': 'application/wasm',
};

function send(res: ServerResponse, status: number, body: string, headers: Record<string, string> = {}): void {
  if (res.headersSent) {
    res.destroy();
    return;
  }
  res.writeHead(status, {
    'Content-Type': 'text/plain; charset=utf-8',
    'Content-Length': Buffer.byteLength(body),
    'Cache-Control': 'no-store',
    'X-Content-Type-Options': 'nosniff',
    ...headers,
  });
  res.end(body);
}

/** A refusal on a raw socket (before or instead of a WebSocket upgrade). */
function refuseSocket(socket: Duplex, status: number, reason: string, body = ''): void {
  if (socket.writable) {
    socket.end(
      `HTTP/1.1 ${status} ${reason}\r\nConnection: close\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`,
    );
  }
  socket.destroy();
}

const noSession =
  "no access to the lab's Jupyter from this browser: open the link ./lab start printed (…/?grant=…); it works once\n";

/** Request headers passed to Jupyter: the browser's credentials and origin stay here; the token is added. */
const dropped = new Set([
  'host',
  'cookie',
  'authorization',
  'origin',
  'referer',
  'forwarded',
  'x-forwarded-for',
  'x-forwarded-host',
  'x-forwarded-proto',
  'connection',
  'keep-alive',
  'proxy-authorization',
  'proxy-connection',
  'te',
  'trailer',
  'transfer-encoding',
  'upgrade',
]);

function upstreamHeaders(req: IncomingMessage, target: URL, token: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (let i = 0; i + 1 < req.rawHeaders.length; i += 2) {
    const name = req.rawHeaders[i].toLowerCase();
    if (!dropped.has(name) && !name.startsWith('sec-fetch-'))
      out[name] = out[name] === undefined ? req.rawHeaders[i + 1] : `${out[name]}, ${req.rawHeaders[i + 1]}`;
  }
  out.host = target.host;
  out.authorization = `token ${token}`;
  // Checked here already; Jupyter sees a same-origin request.
  if (req.headers.origin !== undefined) out.origin = target.origin;
  return out;
}

/** Response headers passed back: never a cookie of Jupyter's (cookies reach every port of 127.0.0.1). */
function downstreamHeaders(headers: IncomingHttpHeaders): IncomingHttpHeaders {
  const out = { ...headers };
  for (const h of [
    'set-cookie',
    'connection',
    'keep-alive',
    'transfer-encoding',
    'proxy-authenticate',
    'trailer',
    'upgrade',
  ])
    delete out[h];
  return out;
}

export function startSiteServer(opts: SiteServerOptions): Promise<SiteServer> {
  const jupyter = opts.jupyter ? { target: new URL(opts.jupyter.url), token: opts.jupyter.token } : undefined;
  const base = jupyter?.target.pathname ?? null;
  const access = jupyter ? new Access() : null;
  let hosts = new Set<string>(); // once the port is known
  // Without Jupyter there is nothing to protect from a rebound DNS name: pages only, by any name (a workshop room).
  const anyHost = !jupyter;

  const hostHeaders = (req: IncomingMessage) =>
    req.rawHeaders.filter((h, i) => i % 2 === 0 && h.toLowerCase() === 'host').length;
  const hostAllowed = (req: IncomingMessage) =>
    anyHost || (hostHeaders(req) === 1 && hosts.has((req.headers.host ?? '').toLowerCase()));
  /** A browser request from a page of another origin, or not from this site at all. */
  const foreign = (req: IncomingMessage) => {
    const origin = req.headers.origin;
    if (origin !== undefined && origin !== `http://${req.headers.host}`) return true;
    const site = req.headers['sec-fetch-site'];
    return site !== undefined && site !== 'same-origin' && site !== 'none';
  };
  /** Why a request may not reach Jupyter, as [status, reason, body]; null when it may. */
  const proxyRefusal = (req: IncomingMessage): [number, string, string] | null => {
    if (foreign(req))
      return [
        403,
        'Forbidden',
        `the lab's Jupyter is not for pages of ${String(req.headers.origin ?? 'another site').slice(0, 100)}\n`,
      ];
    if (!access!.admits(req)) return [401, 'Unauthorized', noSession];
    return null;
  };

  const handle = (req: IncomingMessage, res: ServerResponse) => {
    if (!hostAllowed(req)) return send(res, 421, `this site answers to ${[...hosts].join(', ')} only\n`);
    const raw = req.url ?? '';
    if (!raw.startsWith('/')) return send(res, 400, 'bad request target\n');
    let url: URL;
    try {
      url = new URL(`http://site${raw}`);
    } catch {
      return send(res, 400, 'bad request target\n');
    }
    if (jupyter && base && url.pathname.startsWith(base)) {
      const refusal = proxyRefusal(req);
      if (refusal) return send(res, refusal[0], refusal[2]);
      return proxyHttp(req, res, jupyter.target, jupyter.token, url.pathname + url.search);
    }
    if (url.pathname === '/lab-config.json') {
      const config = { jupyter: base ? { url: base } : null };
      return send(res, 200, JSON.stringify(config) + '\n', { 'Content-Type': 'application/json; charset=utf-8' });
    }
    const grant = url.searchParams.get('grant');
    if (grant !== null && access) {
      const clean = url.pathname.replace(/^\/+/, '/'); // never //elsewhere
      const session = access.redeem(grant);
      if (session)
        return send(res, 303, `see ${clean}\n`, {
          Location: clean,
          'Set-Cookie': access.setCookie(session),
          'Referrer-Policy': 'no-referrer',
        });
      if (access.admits(req)) return send(res, 303, `see ${clean}\n`, { Location: clean });
      return send(res, 403, 'this link was used already (it works once): restart ./lab start for a new one\n');
    }
    serveStatic(opts.dir, url, req, res);
  };

  const upgraded = new Set<Duplex>();
  const server = createServer(
    { maxHeaderSize: 16 * 1024, requestTimeout: 60_000, headersTimeout: 15_000 },
    (req, res) => {
      req.on('error', () => res.destroy());
      res.on('error', () => req.destroy());
      try {
        handle(req, res);
      } catch {
        send(res, 500, 'internal error\n');
      }
    },
  );
  server.on('clientError', (err: NodeJS.ErrnoException, socket: Duplex) => {
    const [status, reason] =
      err.code === 'HPE_HEADER_OVERFLOW'
        ? [431, 'Request Header Fields Too Large']
        : err.code === 'ERR_HTTP_REQUEST_TIMEOUT'
          ? [408, 'Request Timeout']
          : [400, 'Bad Request'];
    refuseSocket(socket, status, reason);
  });
  server.on('connection', (s: Socket) => s.on('error', () => s.destroy()));
  server.on('upgrade', (req: IncomingMessage, socket: Duplex, head: Buffer) => {
    socket.on('error', () => socket.destroy());
    try {
      if (!hostAllowed(req)) return refuseSocket(socket, 421, 'Misdirected Request');
      const path = (req.url ?? '').startsWith('/') ? new URL(`http://site${req.url}`) : null;
      if (!jupyter || !base || !path?.pathname.startsWith(base)) return refuseSocket(socket, 404, 'Not Found');
      const refusal = proxyRefusal(req);
      if (refusal) return refuseSocket(socket, ...refusal);
      upgraded.add(socket);
      socket.once('close', () => upgraded.delete(socket));
      proxyUpgrade(req, socket, head, jupyter.target, jupyter.token, path.pathname + path.search);
    } catch {
      refuseSocket(socket, 400, 'Bad Request');
    }
  });

  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(opts.port, opts.host, () => {
      server.off('error', reject);
      server.on('error', () => undefined);
      const { port } = server.address() as { port: number };
      hosts = new Set(loopbackNames.map((n) => `${n}:${port}`));
      if (access) access.cookieName = `lab-session-${port}`;
      resolve({
        server,
        port,
        grantPath: access?.grantPath ?? null,
        close: () =>
          new Promise<void>((done) => {
            for (const s of upgraded) s.destroy();
            server.close(() => done());
            server.closeAllConnections();
          }),
      });
    });
  });
}

function proxyHttp(req: IncomingMessage, res: ServerResponse, target: URL, token: string, path: string): void {
  const up = request({
    host: target.hostname,
    port: target.port,
    method: req.method,
    path,
    headers: upstreamHeaders(req, target, token),
  });
  up.on('response', (answer) => {
    answer.on('error', () => res.destroy());
    res.writeHead(answer.statusCode ?? 502, downstreamHeaders(answer.headers));
    answer.pipe(res);
  });
  up.on('error', () => send(res, 502, "the lab's Jupyter is not answering\n"));
  res.on('close', () => {
    if (!res.writableFinished) up.destroy();
  });
  req.pipe(up);
}

function proxyUpgrade(
  req: IncomingMessage,
  socket: Duplex,
  head: Buffer,
  target: URL,
  token: string,
  path: string,
): void {
  const headers = upstreamHeaders(req, target, token);
  headers.connection = 'Upgrade';
  headers.upgrade = req.headers.upgrade ?? 'websocket';
  const up = connect(Number(target.port), target.hostname);
  up.on('error', () => {
    refuseSocket(socket, 502, 'Bad Gateway');
    up.destroy();
  });
  socket.once('close', () => up.destroy());
  up.once('close', () => socket.destroy());
  up.once('connect', () => {
    const lines = Object.entries(headers).map(([k, v]) => `${k}: ${v}\r\n`);
    up.write(`${req.method ?? 'GET'} ${path} HTTP/1.1\r\n${lines.join('')}\r\n`);
    if (head.length) up.write(head);
    // From here on the bytes are WebSocket frames, checked by Jupyter's own parser (bad ones close the socket).
    socket.pipe(up);
    up.pipe(socket);
  });
}

function serveStatic(dir: string, url: URL, req: IncomingMessage, res: ServerResponse): void {
  if (req.method !== 'GET' && req.method !== 'HEAD')
    return send(res, 405, 'the site is read-only\n', { Allow: 'GET, HEAD' });
  let path: string;
  try {
    path = decodeURIComponent(url.pathname);
  } catch {
    return send(res, 400, 'bad path encoding\n');
  }
  if (path.includes('\0')) return send(res, 400, 'bad path\n');
  let file = join(dir, normalize(path));
  if (file !== dir && !file.startsWith(dir + sep)) return notFound(dir, res);
  let stats = statOf(file);
  if (stats?.isDirectory()) {
    // Pages are <path>/index.html (trailingSlash: true); the redirect is built from the file, so never //elsewhere.
    if (!url.pathname.endsWith('/'))
      return send(res, 301, '', { Location: encodeURI(`/${relative(dir, file)}/`.replace(/^\/+/, '/')) + url.search });
    file = join(file, 'index.html');
    stats = statOf(file);
  }
  if (!stats?.isFile()) return notFound(dir, res);
  sendFile(file, stats, 200, req, res);
}

function statOf(file: string): Stats | undefined {
  try {
    return statSync(file);
  } catch {
    return undefined;
  }
}

function notFound(dir: string, res: ServerResponse): void {
  const page = join(dir, '404.html');
  const stats = statOf(page);
  if (stats?.isFile()) sendFile(page, stats, 404, res.req, res);
  else send(res, 404, 'not found\n');
}

function sendFile(file: string, stats: Stats, status: number, req: IncomingMessage, res: ServerResponse): void {
  res.writeHead(status, {
    'Content-Type': contentTypes[extname(file).toLowerCase()] ?? 'application/octet-stream',
    'Content-Length': stats.size,
    'Cache-Control': file.includes(`${sep}assets${sep}`) ? 'public, max-age=31536000, immutable' : 'no-cache',
    'X-Content-Type-Options': 'nosniff',
  });
  if (req.method === 'HEAD') {
    res.end();
    return;
  }
  createReadStream(file)
    .on('error', () => res.destroy())
    .pipe(res);
}
