// lab-test: concurrent — its own site server and Jupyter on free ports; checks nothing machine-wide.
// Hostile input at the docs site server and through its Jupyter proxy: malformed HTTP, oversized
// headers, hostile Hosts, broken WebSocket frames, binary frames Jupyter would trust, chunked bodies,
// the session cookie without its key. After every attack the site still serves its pages, the proxy
// still reaches Jupyter, and Jupyter's kernel is still there.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startJupyter, type RunningJupyter } from '../../engines/services/jupyter.ts';
import { startSiteServer, type SiteServer } from '../../engines/services/site-server.ts';
import { siteServe } from '../../engines/services/site.ts';
import { kernelProtocolV1 } from '../../engines/services/site-websocket.ts';
import { within } from '../support/wait.ts';
import { redeemGrant } from '../support/site.ts';
import { clientFrame as frame, closeCode, rawExchange, rawWebSocket, statusOf } from '../support/raw-socket.ts';

let jupyter: RunningJupyter;
let site: SiteServer;
let dir: string;
let host: string;
let cookie: string;
/** The key a granted page sends with the cookie (as its Jupyter token). */
let key: string;
/** Both, as the lab's pages send them. */
let granted: Record<string, string>;
let kernelId: string;

before(async () => {
  jupyter = await startJupyter();
  dir = mkdtempSync(join(tmpdir(), 'lab-site-fuzz-'));
  writeFileSync(join(dir, 'index.html'), '<!doctype html><p>home</p>');
  writeFileSync(join(dir, '404.html'), '<!doctype html><p>not here</p>');
  mkdirSync(join(dir, 'docs')); // a directory: /docs redirects to /docs/
  site = await startSiteServer({
    dir,
    host: '127.0.0.1',
    port: 0,
    jupyter: { url: jupyter.url, token: jupyter.token },
  });
  host = `127.0.0.1:${site.port}`;
  ({ cookie, key, headers: granted } = await redeemGrant(`http://${host}${site.grantPath}`));
  const kernel = await fetch(`http://${host}/jupyter/api/kernels`, {
    method: 'POST',
    headers: { ...granted, 'content-type': 'application/json' },
    body: JSON.stringify({ name: 'tslab' }),
  });
  const body = await kernel.text();
  assert.equal(kernel.status, 201, body);
  kernelId = (JSON.parse(body) as { id: string }).id;
});

after(async () => {
  await site?.close();
  await jupyter?.stop();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

/** Sends raw bytes on a fresh connection; resolves with what came back before it closed (or `waitMs` passed). */
const raw = (bytes: Buffer | string, waitMs = 1500) => rawExchange(site.port, bytes, waitMs);

/** The site answers its page, the proxy answers Jupyter's status, and the kernel is still there. */
async function stillAnswering(after: string): Promise<void> {
  const page = await fetch(`http://${host}/`, { signal: AbortSignal.timeout(15_000) });
  assert.equal(page.status, 200, `after ${after}: the page → ${page.status}`);
  assert.match(await page.text(), /home/);
  const status = await fetch(`http://${host}/jupyter/api/status`, {
    headers: { cookie },
    signal: AbortSignal.timeout(15_000),
  });
  assert.equal(status.status, 200, `after ${after}: Jupyter through the proxy → ${status.status}`);
  const kernel = await fetch(`http://${host}/jupyter/api/kernels/${kernelId}`, {
    headers: granted,
    signal: AbortSignal.timeout(15_000),
  });
  assert.equal(kernel.status, 200, `after ${after}: the kernel → ${kernel.status}`);
}

test('malformed HTTP gets an error answer (or a closed socket), never a crash', async () => {
  const req = (lines: string[], body = '') => `${lines.join('\r\n')}\r\n\r\n${body}`;
  const attacks: [string, string | Buffer, number[]][] = [
    ['random bytes', randomBytes(4096), [0, 400]],
    ['unknown HTTP version', 'GET / HTTP/9.9\r\n\r\n', [0, 400, 505]],
    ['no request target', 'GET\r\n\r\n', [0, 400]],
    ['100 KB request line', `GET /${'a'.repeat(100_000)} HTTP/1.1\r\nHost: ${host}\r\n\r\n`, [0, 400, 414, 431]],
    ['64 KB header', req(['GET / HTTP/1.1', `Host: ${host}`, `X-Big: ${'b'.repeat(65_536)}`]), [0, 431]],
    [
      '3000 headers',
      req(['GET / HTTP/1.1', `Host: ${host}`, ...Array.from({ length: 3000 }, (_, i) => `X-${i}: ${i}`)]),
      [0, 431],
    ],
    [
      'negative Content-Length',
      req(['POST /jupyter/api/kernels HTTP/1.1', `Host: ${host}`, `Cookie: ${'COOKIE'}`, 'Content-Length: -1']),
      [0, 400],
    ],
    [
      'Content-Length and chunked',
      req(['POST / HTTP/1.1', `Host: ${host}`, 'Content-Length: 5', 'Transfer-Encoding: chunked'], '0\r\n\r\n'),
      [0, 400],
    ],
    [
      'bad chunk through the proxy',
      req(
        [
          'POST /jupyter/api/kernels HTTP/1.1',
          `Host: ${host}`,
          'Cookie: COOKIE',
          'Authorization: token KEY',
          'Transfer-Encoding: chunked',
        ],
        'ZZZ\r\nxx\r\n',
      ),
      [0, 400, 411],
    ],
    ['NUL in a header', req(['GET / HTTP/1.1', `Host: ${host}`, 'X-A: a\0b']), [0, 400]],
    ['cut-off request', `GET / HTTP/1.1\r\nHost: ${host}\r\nX-Partial: `, [0, 400, 408]],
    ['bad percent-encoding', req(['GET /%zz%E0%A4%A HTTP/1.1', `Host: ${host}`]), [400]],
    ['path traversal', req(['GET /../../../../etc/passwd HTTP/1.1', `Host: ${host}`]), [404]],
    ['encoded traversal', req(['GET /%2e%2e/%2e%2e/%2e%2e/etc/passwd HTTP/1.1', `Host: ${host}`]), [404]],
    ['absolute-form target', req(['GET http://evil.example/ HTTP/1.1', `Host: ${host}`]), [400]],
    ['CONNECT', req([`CONNECT 127.0.0.1:${new URL(jupyter.url).port} HTTP/1.1`, `Host: ${host}`]), [0, 400]],
    [
      '100 pipelined requests',
      Array.from({ length: 100 }, () => `GET / HTTP/1.1\r\nHost: ${host}\r\n\r\n`).join(''),
      [200],
    ],
  ];
  for (const [name, bytes, expected] of attacks) {
    const answer = await raw(typeof bytes === 'string' ? bytes.replace(/COOKIE/g, cookie).replace(/KEY/g, key) : bytes);
    assert.ok(
      expected.includes(statusOf(answer)),
      `${name} → ${answer.slice(0, 80) || '(closed, nothing)'}; expected ${expected}`,
    );
    assert.doesNotMatch(answer, /root:x:0:0/, `${name} served /etc/passwd`);
    await stillAnswering(name);
  }
  // 200 connections of garbage at once.
  await Promise.all(Array.from({ length: 200 }, () => raw(randomBytes(512), 800)));
  await stillAnswering('200 garbage connections at once');
});

test('hostile Hosts are refused (421) on the pages, the config and the proxy, cookie or not', async () => {
  const other = `127.0.0.1:${site.port + 1}`;
  for (const h of [
    'evil.example',
    `evil.example:${site.port}`,
    `127.0.0.1.evil.example:${site.port}`,
    other,
    '127.0.0.1',
    `localhost.:${site.port}`,
    '',
  ]) {
    for (const path of ['/', '/lab-config.json', '/jupyter/api/kernels', `/jupyter/api/kernels/${kernelId}`]) {
      const answer = await raw(`GET ${path} HTTP/1.1\r\nHost: ${h}\r\nCookie: ${cookie}\r\nConnection: close\r\n\r\n`);
      assert.ok([400, 421].includes(statusOf(answer)), `Host "${h}" ${path} → ${answer.slice(0, 60)}`);
      assert.ok(
        !answer.includes(kernelId) && !answer.includes(jupyter.token),
        `Host "${h}" ${path} leaked Jupyter data`,
      );
    }
  }
  const twoHosts = await raw(
    `GET /lab-config.json HTTP/1.1\r\nHost: ${host}\r\nHost: evil.example\r\nConnection: close\r\n\r\n`,
  );
  assert.ok([400, 421].includes(statusOf(twoHosts)), `two Host headers → ${twoHosts.slice(0, 60)}`);
  const noHost = await raw('GET /lab-config.json HTTP/1.0\r\n\r\n');
  assert.equal(statusOf(noHost), 421, `no Host → ${noHost.slice(0, 60)}`);
  // The loopback names it does answer to.
  for (const h of [host, `localhost:${site.port}`, `LOCALHOST:${site.port}`, `[::1]:${site.port}`]) {
    assert.equal(statusOf(await raw(`GET / HTTP/1.1\r\nHost: ${h}\r\nConnection: close\r\n\r\n`)), 200, h);
  }
  // No redirect leaves the site (a protocol-relative Location would).
  for (const path of ['//evil.example/?grant=x', '//evil.example', '//docs', '///docs', '/\\evil.example/']) {
    const answer = await raw(`GET ${path} HTTP/1.1\r\nHost: ${host}\r\nCookie: ${cookie}\r\nConnection: close\r\n\r\n`);
    assert.doesNotMatch(answer, /^location: *(\/\/|\/\\|[a-z]+:)/im, `${path} → ${answer.slice(0, 200)}`);
  }
  await stillAnswering('hostile Hosts');
});

/** Opens a WebSocket by hand; resolves with the handshake's status and what followed `bytes`. */
async function websocket(
  path: string,
  headers: Record<string, string>,
  bytes?: Buffer,
  opts: { reset?: boolean } = {},
): Promise<{ status: number; after: string }> {
  const ws = await rawWebSocket(site.port, path, { Host: host, ...headers });
  if (ws.status === 101 && bytes) {
    ws.sock.write(bytes);
    // A client that vanishes mid-frame: the proxy's sockets see ECONNRESET.
    if (opts.reset) ws.sock.resetAndDestroy();
  }
  // What the server does with the bytes gets a second; the handshake itself may take longer on a busy machine.
  await within(ws.ended, 1000, undefined);
  ws.sock.destroy();
  return { status: ws.status, after: ws.received().toString('latin1') };
}

test('broken and oversized WebSocket frames through the proxy end that socket only', async () => {
  const channels = `/jupyter/api/kernels/${kernelId}/channels?token=${key}`;
  const origin = `http://${host}`;
  // A real handshake through the proxy works.
  assert.equal((await websocket(channels, { Cookie: cookie, Origin: origin })).status, 101);
  const attacks: [string, Buffer][] = [
    ['oversized text frame (200 KB)', frame(0x81, Buffer.alloc(200_000, 120))],
    ['announced 2^62 bytes', frame(0x82, Buffer.alloc(16), { length: 1n << 62n })],
    ['RSV1 without an extension', frame(0xc1, Buffer.from('hi'))],
    ['invalid UTF-8 text', frame(0x81, Buffer.from([0xc3, 0x28, 0xff]))],
    ['unknown opcode 3', frame(0x83, Buffer.from('x'))],
    ['unmasked client frame', frame(0x81, Buffer.from('{}'), { masked: false })],
    ['fragmented ping', frame(0x09, Buffer.from('p'))],
    ['close with code 1005', frame(0x88, Buffer.from([0x03, 0xed]))],
    ['not JSON on a kernel channel', frame(0x81, Buffer.from('{"channel": "shell", "header": 7'))],
    ['random bytes', randomBytes(4096)],
  ];
  for (const [name, bytes] of attacks) {
    const { status } = await websocket(channels, { Cookie: cookie, Origin: origin }, bytes);
    assert.equal(status, 101, `${name}: handshake → ${status}`);
    await stillAnswering(name);
  }
  for (let i = 0; i < 5; i++) {
    const { status } = await websocket(
      channels,
      { Cookie: cookie, Origin: origin },
      frame(0x82, Buffer.alloc(1 << 20, i), { length: 1n << 21n }),
      { reset: true },
    );
    assert.equal(status, 101);
  }
  await stillAnswering('clients reset mid-frame');
  // Refused before Jupyter sees them.
  assert.equal((await websocket(channels, {}, frame(0x81, Buffer.from('{}')))).status, 401, 'no cookie');
  const keyless = channels.replace(/\?.*/, '');
  assert.equal((await websocket(keyless, { Cookie: cookie, Origin: origin })).status, 401, 'the cookie, no key');
  assert.equal(
    (await websocket(`${keyless}?token=guess`, { Cookie: cookie, Origin: origin })).status,
    401,
    'the cookie, a guessed key',
  );
  assert.equal((await websocket(channels, { Cookie: 'lab-session-1=guess' })).status, 401, 'a guessed cookie');
  assert.equal(
    (await websocket(channels, { Cookie: cookie, Origin: 'http://evil.example' })).status,
    403,
    'a foreign Origin',
  );
  assert.equal((await websocket(channels, { Cookie: cookie, Host: 'evil.example' })).status, 421, 'a foreign Host');
  assert.equal(
    (await websocket('/not-proxied', { Cookie: cookie }, randomBytes(64))).status,
    404,
    'a path outside the proxy',
  );
  assert.equal(
    (await websocket(`/jupyter/api/events/subscribe?token=${key}`, { Cookie: cookie })).status,
    404,
    'a WebSocket other than a kernel channel',
  );
  await raw(
    `GET ${channels} HTTP/1.1\r\nHost: ${host}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nCookie: ${cookie}\r\nSec-WebSocket-Version: 99\r\n\r\n${randomBytes(256).toString('latin1')}`,
  );
  await stillAnswering('WebSocket refusals');
});

test('a site that proxies Jupyter listens on loopback only; a site of pages answers any name', async () => {
  await assert.rejects(
    siteServe({ host: '0.0.0.0', jupyter: { url: jupyter.url, token: jupyter.token } }),
    /must listen on loopback/,
  );
  const pages = await startSiteServer({ dir, host: '127.0.0.1', port: 0 });
  try {
    const answer = await rawExchange(
      pages.port,
      'GET /lab-config.json HTTP/1.1\r\nHost: workshop-room.example\r\nConnection: close\r\n\r\n',
      15_000,
    );
    assert.equal(statusOf(answer), 200, answer.slice(0, 80));
    assert.match(answer, /\{"jupyter":null\}/);
  } finally {
    await pages.close();
  }
});

test('the session cookie alone, as another port of 127.0.0.1 would capture it, opens nothing but the status', async () => {
  const url = (path: string) => `http://${host}/jupyter/${path}`;
  const asCaptured = { cookie, host }; // what a trap on another port replays: the cookie and the Host, no Origin
  const status = await fetch(url('api/status'), { headers: asCaptured });
  assert.equal(status.status, 200, 'the harmless read');
  for (const [method, path, body] of [
    ['POST', 'api/kernels', '{}'],
    ['POST', 'api/sessions', '{"path":"x.ipynb","type":"notebook","kernel":{"name":"tslab"}}'],
    ['GET', 'api/kernels', undefined],
    ['GET', `api/kernels/${kernelId}`, undefined],
    ['GET', 'api/contents/notebooks', undefined],
    ['POST', `api/kernels/${kernelId}/restart`, '{}'],
  ] as const) {
    for (const headers of [asCaptured, { ...asCaptured, authorization: 'token guess' }, { ...granted, cookie: '' }]) {
      const res = await fetch(url(path), { method, headers: { ...headers, 'content-type': 'application/json' }, body });
      assert.equal(res.status, 401, `${method} ${path} with ${Object.keys(headers).join('+')} → ${res.status}`);
      assert.match(await res.text(), /\.\/lab open/, 'the refusal says how to get in');
    }
  }
  const both = await fetch(url('api/kernels'), { headers: granted });
  assert.equal(both.status, 200, 'the cookie and the key');
  // Nor can that port frame the site (same-site, so the cookie would go along) and click its Run buttons.
  const page = await fetch(`http://${host}/`);
  assert.equal(page.headers.get('x-frame-options'), 'SAMEORIGIN');
});

test('binary frames whose header Jupyter would trust are refused before it reads them', async () => {
  const channels = `/jupyter/api/kernels/${kernelId}/channels?token=${key}`;
  // 18 bytes on the wire (2 header + 4 mask + 12 payload): v1 says 2^62 offsets, legacy 2^31-1 buffers.
  const v1 = Buffer.alloc(12);
  v1.writeBigUInt64LE(1n << 62n, 0);
  const legacy = Buffer.alloc(12);
  legacy.writeInt32BE(0x7fffffff, 0);
  for (const [name, protocol, payload] of [
    ['v1', { 'Sec-WebSocket-Protocol': kernelProtocolV1 }, v1],
    ['legacy', {}, legacy],
  ] as const) {
    const bytes = frame(0x82, payload);
    assert.equal(bytes.length, 18);
    const ws = await rawWebSocket(site.port, channels, { Host: host, Cookie: cookie, ...protocol });
    assert.equal(ws.status, 101, `${name}: handshake`);
    ws.sock.write(bytes);
    await within(ws.ended, 15_000, undefined);
    ws.sock.destroy();
    assert.equal(closeCode(ws.received()), 1008, `${name}: the proxy's close (policy)`);
    await stillAnswering(`an 18-byte ${name} frame`);
  }
  // The same message, fragmented, and a binary message over the cap.
  const ws = await rawWebSocket(site.port, channels, { Host: host, Cookie: cookie });
  ws.sock.write(Buffer.concat([frame(0x02, legacy.subarray(0, 6)), frame(0x80, legacy.subarray(6))]));
  await within(ws.ended, 15_000, undefined);
  assert.equal(closeCode(ws.received()), 1008, 'fragmented');
  const big = await rawWebSocket(site.port, channels, { Host: host, Cookie: cookie });
  big.sock.write(frame(0x82, Buffer.alloc(16), { length: 1n << 40n }));
  await within(big.ended, 15_000, undefined);
  assert.equal(closeCode(big.received()), 1009, 'over the cap');
  await stillAnswering('binary frames');
});

test('a well-formed binary kernel message still passes the proxy, and the kernel answers it', async () => {
  const header = {
    msg_id: `probe-${process.pid}`,
    msg_type: 'kernel_info_request',
    session: 's',
    username: '',
    version: '5.3',
    date: new Date().toISOString(),
  };
  const json = Buffer.from(JSON.stringify({ channel: 'shell', header, parent_header: {}, metadata: {}, content: {} }));
  const legacy = Buffer.alloc(8);
  legacy.writeInt32BE(1, 0); // one buffer, the message, at offset 8
  legacy.writeUInt32BE(8, 4);
  const ws = await rawWebSocket(site.port, `/jupyter/api/kernels/${kernelId}/channels?token=${key}`, {
    Host: host,
    Cookie: cookie,
  });
  assert.equal(ws.status, 101);
  const replied = new Promise<boolean>((resolve) => {
    const check = () => ws.received().includes('kernel_info_reply') && resolve(true);
    ws.sock.on('data', () => setImmediate(check));
    void ws.ended.then(() => resolve(false));
  });
  ws.sock.write(frame(0x82, Buffer.concat([legacy, json])));
  const answered = await within(replied, 60_000, false);
  ws.sock.destroy();
  assert.ok(answered, `no kernel_info_reply: ${ws.received().toString('latin1').slice(0, 200)}`);
});

test('a chunked request is refused, never forwarded unframed', async () => {
  // Its body is a whole second request: forwarded without its framing, Jupyter would answer it too.
  const smuggled = `GET /jupyter/api/kernels HTTP/1.1\r\nHost: ${host}\r\n\r\n`;
  const body = `${smuggled.length.toString(16)}\r\n${smuggled}\r\n0\r\n\r\n`;
  for (const method of ['GET', 'POST']) {
    const answer = await raw(
      `${method} /jupyter/api/status HTTP/1.1\r\nHost: ${host}\r\nCookie: ${cookie}\r\nAuthorization: token ${key}\r\nTransfer-Encoding: chunked\r\n\r\n${body}`,
      5000,
    );
    assert.equal(statusOf(answer), 411, `${method}: ${answer.slice(0, 80)}`);
    assert.equal(answer.match(/HTTP\/1\.1 \d{3}/g)?.length, 1, `${method}: more than one answer: ${answer}`);
  }
  await stillAnswering('chunked requests');
});
