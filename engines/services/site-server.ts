/**
 * The docs site's HTTP server: the built pages, and — with a Jupyter behind it — a reverse proxy to
 * that Jupyter under its base path (HTTP and WebSocket) that adds the token itself. The token never
 * reaches a page. A one-time grant link (printed to the terminal of whoever ran `./lab start` or
 * `./lab open`) lets one browser in for accessDays: a session cookie plus a key kept by the lab's own
 * pages (model/site-access.ts); anything beyond a harmless read needs both.
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
import { accessDays, openCommandLine, siteKeyStorage } from '../../model/site-access.ts';
import { ClientFrames, closeFrame, FrameRefused } from './site-websocket.ts';

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
  /** The first one-time link that admits a browser to the proxied Jupyter (null without one). */
  grantPath: string | null;
  /** Another one-time link (path and query); throws without a proxied Jupyter. */
  newGrant(): string;
  /** Refuses every browser let in so far (and every unused link), closing their WebSockets; how many there were. */
  revoke(): number;
  close(): Promise<void>;
}

/** The names a loopback-only site answers to; any other Host (DNS rebinding) is refused. */
const loopbackNames = ['127.0.0.1', 'localhost', '[::1]'];

const randomToken = () => randomBytes(32).toString('base64url');
const digest = (s: string) => createHash('sha256').update(s).digest();
const digestHex = (s: string) => createHash('sha256').update(s).digest('hex');
/** Constant-time equality of two secrets of any length. */
const sameSecret = (a: string, b: string) => timingSafeEqual(digest(a), digest(b));

/** A browser let in (known by its cookie's digest): the key its pages send, and when it expires. */
interface Session {
  key: string;
  expires: number;
}

const sessionLifetimeMs = accessDays * 24 * 3600 * 1000;

/**
 * Who may use the proxied Jupyter: one-time grant links, and the browsers they let in. A browser
 * holds two secrets (model/site-access.ts): the session cookie, sent by the browser to every port of the
 * host, and the key, which only the lab's own pages can read and send.
 */
class Access {
  /** Digests of the unused grant links. */
  private readonly grants = new Set<string>();
  private readonly sessions = new Map<string, Session>();
  /** Cookies are shared by every port of a host: the name says which site a cookie is for. */
  cookieName = 'lab-session';

  /** A new one-time link (path and query). */
  grant(): string {
    const grant = randomToken();
    this.grants.add(digestHex(grant));
    return `/?grant=${grant}`;
  }

  /** A new session for an unused grant, which is used up: the cookie's value and the session. */
  redeem(offered: string): { cookie: string; session: Session } | null {
    if (!this.grants.delete(digestHex(offered))) return null;
    const cookie = randomToken();
    const session = { key: randomToken(), expires: Date.now() + sessionLifetimeMs };
    this.sessions.set(digestHex(cookie), session);
    return { cookie, session };
  }

  /** The session whose cookie the request carries, while it lasts (found by digest: the lookup's timing tells nothing of the secret). */
  session(req: IncomingMessage): Session | null {
    const offered = cookie(req.headers.cookie, this.cookieName);
    if (offered === null) return null;
    const id = digestHex(offered);
    const session = this.sessions.get(id);
    if (session && session.expires <= Date.now()) this.sessions.delete(id);
    return session && session.expires > Date.now() ? session : null;
  }

  /** Every browser and every unused link refused from now on; how many browsers were let in. */
  revoke(): number {
    const n = this.sessions.size;
    this.sessions.clear();
    this.grants.clear();
    return n;
  }

  setCookie(value: string): string {
    return `${this.cookieName}=${value}; Path=/; Max-Age=${sessionLifetimeMs / 1000}; HttpOnly; SameSite=Strict`;
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

const wayBack = `run ${openCommandLine} where the lab runs and open the link it prints in this browser (each link works once)`;
const noSession = `no access to the lab's Jupyter from this browser: ${wayBack}\n`;
const noKey = `this browser's key to the lab's Jupyter is missing or wrong (the lab's pages keep it): ${wayBack}\n`;
const usedGrant = `this link was used already, or revoked: ${wayBack}\n`;

/** What a browser may do with the cookie alone: nothing that reads a notebook, a kernel or a file. */
const harmless = (method: string | undefined, path: string, base: string) =>
  (method === 'GET' || method === 'HEAD') && path === `${base}api/status`;

/** The key a page sends: @jupyterlab/services puts its token in Authorization (HTTP) or ?token= (WebSocket). */
function offeredKey(req: IncomingMessage, url: URL, upgrade: boolean): string | null {
  const auth = req.headers.authorization;
  if (auth !== undefined) return /^token (\S+)$/.exec(auth)?.[1] ?? '';
  return upgrade ? url.searchParams.get('token') : null;
}

/** The page a grant link answers: it keeps the key in this origin's localStorage, then goes on to the site. */
function grantPage(key: string, expires: number, next: string): string {
  const until = new Date(expires).toUTCString();
  const js = (v: string) => JSON.stringify(v).replace(/</g, '\\u003c');
  const script = `localStorage.setItem(${js(siteKeyStorage)}, document.querySelector('meta[name="lab-key"]').content); location.replace(${js(next)});`;
  const attr = (v: string) => v.replace(/&/g, '&amp;').replace(/"/g, '&quot;').replace(/</g, '&lt;');
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="lab-key" content="${attr(key)}"><title>Lab access</title></head>
<body><p>This browser may run the lab's notebook cells until ${until} (${accessDays} days), until <code>${openCommandLine} --revoke</code> or until the lab stops. <a href="${attr(next)}">Go to the site</a>.</p>
<script>${script}</script></body></html>
`;
}

/** The WebSockets the proxy passes: a kernel's channels. */
const kernelChannels = (base: string, path: string) =>
  path.startsWith(base) && /^api\/kernels\/[^/]+\/channels$/.test(path.slice(base.length));

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
  /**
   * Why a request may not reach Jupyter, as [status, reason, body]; null when it may. `url` is the
   * request's; a key it carries in the query is taken out of it.
   */
  const proxyRefusal = (req: IncomingMessage, url: URL, upgrade: boolean): [number, string, string] | null => {
    if (foreign(req))
      return [
        403,
        'Forbidden',
        `the lab's Jupyter is not for pages of ${String(req.headers.origin ?? 'another site').slice(0, 100)}\n`,
      ];
    const session = access!.session(req);
    if (!session) return [401, 'Unauthorized', noSession];
    const key = offeredKey(req, url, upgrade);
    if (url.searchParams.has('token')) url.searchParams.delete('token'); // the key never reaches Jupyter
    // The cookie reaches every port of this host: alone, it opens only a harmless read.
    if (key === null ? !harmless(req.method, url.pathname, base!) : !sameSecret(key, session.key))
      return [401, 'Unauthorized', noKey];
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
      const refusal = proxyRefusal(req, url, false);
      if (refusal) return send(res, refusal[0], refusal[2]);
      // Forwarded as is, a chunked body would reach Jupyter unframed (a GET's body as a second request).
      if (req.headers['transfer-encoding'] !== undefined)
        return send(res, 411, 'the proxy takes request bodies with a Content-Length only\n', { Connection: 'close' });
      return proxyHttp(req, res, jupyter.target, jupyter.token, url.pathname + url.search);
    }
    if (url.pathname === '/lab-config.json') {
      const config = { jupyter: base ? { url: base } : null };
      return send(res, 200, JSON.stringify(config) + '\n', { 'Content-Type': 'application/json; charset=utf-8' });
    }
    const grant = url.searchParams.get('grant');
    if (grant !== null && access) {
      const clean = url.pathname.replace(/^\/+/, '/'); // never //elsewhere
      const redeemed = access.redeem(grant);
      if (redeemed)
        return send(res, 200, grantPage(redeemed.session.key, redeemed.session.expires, clean), {
          'Content-Type': 'text/html; charset=utf-8',
          'Set-Cookie': access.setCookie(redeemed.cookie),
          'Referrer-Policy': 'no-referrer',
          'Content-Security-Policy': "default-src 'none'; script-src 'unsafe-inline'; frame-ancestors 'none'",
        });
      if (access.session(req)) return send(res, 303, `see ${clean}\n`, { Location: clean });
      return send(res, 403, usedGrant);
    }
    // A page of another port is same-site: framed, the granted site would run its cells for it.
    if (jupyter) res.setHeader('X-Frame-Options', 'SAMEORIGIN');
    serveStatic(opts.dir, url, req, res);
  };

  /** Open WebSockets (a revoke closes them). */
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
      const url = (req.url ?? '').startsWith('/') ? new URL(`http://site${req.url}`) : null;
      // Only a kernel's channels: the one WebSocket whose frames the proxy knows how to check.
      if (!jupyter || !base || !url || !kernelChannels(base, url.pathname))
        return refuseSocket(socket, 404, 'Not Found');
      const refusal = proxyRefusal(req, url, true);
      if (refusal) return refuseSocket(socket, ...refusal);
      upgraded.add(socket);
      socket.once('close', () => upgraded.delete(socket));
      proxyUpgrade(req, socket, head, jupyter.target, jupyter.token, url.pathname + url.search);
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
        grantPath: access?.grant() ?? null,
        newGrant: () => {
          if (!access) throw new Error('this site proxies no Jupyter: there is nothing to grant');
          return access.grant();
        },
        revoke: () => {
          const n = access?.revoke() ?? 0;
          for (const s of upgraded) s.destroy();
          return n;
        },
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
  // No compression: the frames must stay readable here (and RSV bits then always mean a broken frame).
  delete headers['sec-websocket-extensions'];
  const up = connect(Number(target.port), target.hostname);
  up.on('error', () => {
    refuseSocket(socket, 502, 'Bad Gateway');
    up.destroy();
  });
  socket.once('close', () => up.destroy());
  up.once('close', () => socket.destroy());
  socket.pause(); // until Jupyter has said which subprotocol the frames speak
  up.once('connect', () => {
    const lines = Object.entries(headers).map(([k, v]) => `${k}: ${v}\r\n`);
    up.write(`${req.method ?? 'GET'} ${path} HTTP/1.1\r\n${lines.join('')}\r\n`);
  });
  let answer = Buffer.alloc(0);
  const onAnswer = (d: Buffer) => {
    answer = Buffer.concat([answer, d]);
    const end = answer.indexOf('\r\n\r\n');
    if (end < 0) {
      if (answer.length > 16 * 1024) socket.destroy();
      return;
    }
    up.off('data', onAnswer);
    const status = answer.subarray(0, end).toString('latin1');
    socket.write(answer);
    up.pipe(socket);
    if (!/^HTTP\/1\.1 101 /.test(status)) return; // Jupyter's refusal goes back as it is
    const protocol = /^sec-websocket-protocol: *(.+?) *$/im.exec(status)?.[1] ?? null;
    forwardFrames(socket, up, head, new ClientFrames(protocol));
  };
  up.on('data', onAnswer);
}

/** The browser's frames to Jupyter, each checked first; the first bad one closes both sides. */
function forwardFrames(socket: Duplex, up: Socket, head: Buffer, frames: ClientFrames): void {
  const take = (chunk: Buffer) => {
    try {
      for (const frame of frames.push(chunk)) if (!up.write(frame)) socket.pause();
    } catch (e) {
      const refused = e instanceof FrameRefused ? e : new FrameRefused(1011, 'internal error');
      socket.off('data', take);
      socket.end(closeFrame(refused.code, refused.message));
      up.destroy();
    }
  };
  up.on('drain', () => socket.resume());
  socket.on('data', take);
  if (head.length) take(head);
  socket.resume();
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
