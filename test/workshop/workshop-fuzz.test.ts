// Hostile input at a real `./lab workshop` (live, with its Jupyter): malformed, oversized and
// half-sent WebSocket frames on the attendee and instructor sockets, garbage HTTP, half-open and idle
// connections. The server answers each with the right close code or status and keeps serving; when
// its Node process is killed outright, no Jupyter (nor anything else it started) is left running.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { connect } from 'node:net';
import { randomBytes } from 'node:crypto';
import { at } from '../../core/paths.ts';
import { isAlive, listProcesses } from '../../workshop/processes.ts';
import { openSocket } from '../support/workshop-fixture.ts';
import { clientFrame, closeCode, rawExchange, rawWebSocket } from '../support/raw-socket.ts';

const marker = `ws-fuzz-${process.pid}-${randomBytes(4).toString('hex')}`;
let child: ChildProcess;
let out = '';
let err = '';
let base: URL; // http://127.0.0.1:PORT
let token: string;

before(async () => {
  child = spawn(at('lab'), ['workshop', '--without-site'], {
    cwd: at(),
    detached: true,
    env: { ...process.env, LAB_WORKSHOP_ID: marker },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  child.stdout!.on('data', (d) => (out += d));
  child.stderr!.on('data', (d) => (err += d));
  let gone = false;
  const exited = new Promise((r) => child.once('exit', r)).then(() => void (gone = true));
  const url = await Promise.race([
    (async () => {
      // Stops with the child: a poll that outlived it kept the file running after its failure.
      while (!gone) {
        const m = /^(http:\/\/127\.0\.0\.1:\d+)\/instructor\?token=([\w-]+)$/m.exec(out);
        if (m && /^http:\/\/127\.0\.0\.1:\d+\/attend$/m.test(out)) return m;
        await new Promise((r) => setTimeout(r, 100));
      }
      return assert.fail(`./lab workshop exited early: ${err}`);
    })(),
    exited.then(() => assert.fail(`./lab workshop exited early: ${err}`)),
  ]);
  base = new URL(url[1]);
  token = url[2];
});

after(() => {
  try {
    process.kill(-child.pid!, 'SIGKILL');
  } catch {
    // already gone (the last test kills it)
  }
  for (const p of listProcesses().filter((p) => p.marker === marker)) {
    try {
      process.kill(p.pid, 'SIGKILL');
    } catch {
      // ended meanwhile
    }
  }
});

/** Opens `path` as a WebSocket over raw TCP (support/raw-socket.ts), as a page of the workshop would. */
const rawSocket = async (path: string) => {
  const ws = await rawWebSocket(Number(base.port), path, { Host: base.host, Origin: base.origin }, 5000);
  return { ...ws, upgraded: ws.status === 101 };
};

async function attack(path: string, bytes: Buffer): Promise<number | undefined> {
  const s = await rawSocket(path);
  assert.ok(s.upgraded, `${path} accepted the handshake`);
  s.sock.write(bytes);
  for (let i = 0; i < 50 && closeCode(s.received()) === undefined; i++) await new Promise((r) => setTimeout(r, 40));
  s.sock.destroy();
  return closeCode(s.received());
}

/** Raw bytes over TCP; resolves with the server's first answer line (or '' when it just closed) as soon as it has it. */
const rawHttp = async (bytes: Buffer | string, waitMs = 3000) =>
  (await rawExchange(Number(base.port), bytes, waitMs, (got) => got.includes('\r\n'))).split('\r\n')[0];

/** The workshop still serves: a page, its state, and a fresh attendee socket that gets the state. */
async function stillServing(after: string): Promise<void> {
  assert.ok(isAlive(child.pid!), `./lab workshop died after ${after}: ${err.slice(-600)}`);
  const page = await fetch(`${base.origin}/attend`);
  assert.equal(page.status, 200, `GET /attend after ${after}`);
  const state = await fetch(`${base.origin}/instructor/state`, { headers: { Authorization: `Bearer ${token}` } });
  assert.equal(state.status, 200, `instructor state after ${after}`);
  const att = await openSocket(`${base.origin.replace('http', 'ws')}/attend/ws`);
  assert.deepEqual(await att.opened, { ok: true }, `attendee socket after ${after}`);
  assert.equal((await att.first).type, 'state');
  att.ws.close();
}

const text = (s: string) => Buffer.from(s);
/** [name, bytes, the close code RFC 6455 asks for] */
const badFrames: [string, Buffer, number][] = [
  ['oversized text frame (200 KB)', clientFrame(0x81, Buffer.alloc(200_000, 120)), 1009],
  ['a length of 2^63-1 in the header', clientFrame(0x82, Buffer.alloc(0), { length: 0x7fffffffffffffffn }), 1009],
  ['RSV1 set without an extension', clientFrame(0xc1, text('hi')), 1002],
  ['RSV2+RSV3 set', clientFrame(0xb1, text('hi')), 1002],
  ['invalid UTF-8 in a text frame', clientFrame(0x81, Buffer.from([0xc3, 0x28, 0xff])), 1007],
  ['unknown opcode 3', clientFrame(0x83, text('x')), 1002],
  ['unknown control opcode 0xB', clientFrame(0x8b, text('x')), 1002],
  ['an unmasked client frame', clientFrame(0x81, text('hi'), { masked: false }), 1002],
  ['a fragmented ping', clientFrame(0x09, text('x')), 1002],
  ['a ping with 126 bytes', clientFrame(0x89, Buffer.alloc(126, 1)), 1002],
  ['a continuation with nothing to continue', clientFrame(0x80, text('x')), 1002],
  ['a close frame with code 999', clientFrame(0x88, Buffer.from([0x03, 0xe7])), 1002],
  ['a close frame of one byte', clientFrame(0x88, Buffer.from([0x03])), 1002],
];

test('live mode: the workshop under attack has its own Jupyter (or the orphan check below proves nothing)', () => {
  assert.match(err, /live mode/, `expected live mode: ${err.slice(-400)}`);
  const jupyters = listProcesses().filter((p) => p.marker === marker && /jupyter/.test(p.cmdline));
  assert.ok(jupyters.length > 0, 'a Jupyter process carries the workshop marker');
});

for (const [who, path] of [
  ['attendee', '/attend/ws'],
  ['instructor', '/instructor/ws?token='],
] as const) {
  test(`${who} socket: every malformed frame is closed with its RFC 6455 code, the server keeps serving`, {
    timeout: 60_000,
  }, async () => {
    const p = path.endsWith('=') ? path + token : path;
    for (const [name, bytes, code] of badFrames) {
      assert.equal(await attack(p, bytes), code, `${who}: ${name}`);
    }
    await stillServing(`${who} frames`);
  });
}

test('half-sent frames, idle and half-open sockets do not stop the server', { timeout: 60_000 }, async () => {
  // Handshake done, then half a frame header, or a header promising bytes that never come.
  const hanging = await Promise.all([
    ...Array.from({ length: 10 }, async () => (await rawSocket('/attend/ws')).sock.write(Buffer.from([0x81]))),
    ...Array.from({ length: 10 }, async () =>
      (await rawSocket('/attend/ws')).sock.write(clientFrame(0x81, Buffer.alloc(10)).subarray(0, 8)),
    ),
  ]);
  assert.equal(hanging.length, 20);
  // TCP connections that send nothing, or half a request line, and stay.
  const idle = Array.from({ length: 100 }, (_, i) => {
    const s = connect(Number(base.port), base.hostname, () => i % 2 && s.write('GET /attend HTTP/1.1\r\nHost: x'));
    s.on('error', () => undefined);
    return s;
  });
  await new Promise((r) => setTimeout(r, 300));
  await stillServing('idle and half-open sockets');
  // A connection that never finishes its headers is cut off (headersTimeout), not held forever.
  const slow = connect(Number(base.port), base.hostname, () => slow.write('GET /attend HTTP/1.1\r\n'));
  slow.on('error', () => undefined);
  slow.resume(); // read its answer and the end of the stream, or 'close' never comes
  const t0 = Date.now();
  await new Promise<void>((r) => slow.once('close', () => r()));
  assert.ok(Date.now() - t0 < 20_000, `a request without an end of headers was closed after ${Date.now() - t0} ms`);
  for (const s of idle) s.destroy();
});

test('garbage HTTP gets a 4xx answer or a closed socket, never a dead server', { timeout: 60_000 }, async () => {
  const answers: [string, string | Buffer, RegExp][] = [
    ['random bytes', randomBytes(4096), /^(HTTP\/1\.1 400 |$)/],
    ['a null byte in the request line', 'GET /at\0tend HTTP/1.1\r\nHost: x\r\n\r\n', /^(HTTP\/1\.1 400 |$)/],
    ['no request line at all', '\r\n\r\n\r\n', /^(HTTP\/1\.1 400 |$)/],
    ['HTTP/9.9', 'GET /attend HTTP/9.9\r\nHost: x\r\n\r\n', /^(HTTP\/1\.1 (400|505) |$)/],
    ['a 40 KB header', `GET /attend HTTP/1.1\r\nHost: x\r\nX-Big: ${'a'.repeat(40_000)}\r\n\r\n`, /^HTTP\/1\.1 431/],
    ['"//" as the target', 'GET // HTTP/1.1\r\nHost: x\r\n\r\n', /^HTTP\/1\.1 400/],
    ['"http://[" as the target', 'GET http://[ HTTP/1.1\r\nHost: x\r\n\r\n', /^HTTP\/1\.1 400/],
    [
      'an upgrade to "//"',
      'GET // HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: AAAAAAAAAAAAAAAAAAAAAA==\r\nSec-WebSocket-Version: 13\r\n\r\n',
      /^HTTP\/1\.1 400/,
    ],
    [
      'an upgrade to "//?token=" on the instructor path',
      'GET //instructor/ws?token= HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: AAAAAAAAAAAAAAAAAAAAAA==\r\nSec-WebSocket-Version: 13\r\n\r\n',
      /^HTTP\/1\.1 [45]\d\d/,
    ],
    [
      'an upgrade with a bad key',
      'GET /attend/ws HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: short\r\nSec-WebSocket-Version: 13\r\n\r\n',
      /^HTTP\/1\.1 400/,
    ],
    [
      'an upgrade with version 99',
      'GET /attend/ws HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: AAAAAAAAAAAAAAAAAAAAAA==\r\nSec-WebSocket-Version: 99\r\n\r\n',
      /^HTTP\/1\.1 400/,
    ],
    [
      'an upgrade to a path that is no socket',
      'GET /attend HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: AAAAAAAAAAAAAAAAAAAAAA==\r\nSec-WebSocket-Version: 13\r\n\r\n',
      /^HTTP\/1\.1 404/,
    ],
    [
      'broken chunked encoding',
      `POST /instructor/step HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${'T'}\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n`,
      /^(HTTP\/1\.1 [45]\d\d |$)/,
    ],
    [
      'both Content-Length and chunked',
      'POST /attend HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n',
      /^HTTP\/1\.1 400/,
    ],
  ];
  for (const [name, bytes, expected] of answers) {
    const line = await rawHttp(typeof bytes === 'string' ? bytes.replace('Bearer T', `Bearer ${token}`) : bytes);
    assert.match(line, expected, name);
  }
  // Token-carrying requests with bodies no action accepts.
  const post = (path: string, body: string, headers: Record<string, string> = {}) =>
    fetch(`${base.origin}${path}`, { method: 'POST', headers: { Authorization: `Bearer ${token}`, ...headers }, body });
  assert.equal((await post('/instructor/step', 'not json')).status, 400);
  assert.equal((await post('/instructor/step', '{"section": "x"}')).status, 400);
  assert.equal((await post('/instructor/step', '[1,2,3]')).status, 400);
  assert.equal((await post('/instructor/run', '{"key": {"toString": 1}}')).status, 400);
  assert.equal((await post('/instructor/run', ' '.repeat(1_000_000))).status, 413);
  assert.equal((await post('/instructor/nope', '{}')).status, 404);
  await stillServing('garbage HTTP');
});

test('a socket that stops answering pings (half-open) is dropped; a live view is kept', {
  timeout: 30_000,
}, async () => {
  const { WorkshopServer } = await import('../../workshop/server.ts');
  const { RehearsalRunner } = await import('../../workshop/runners.ts');
  const { loadAgenda } = await import('../../workshop/agenda.ts');
  const { defaultAgenda } = await import('../../workshop/start.ts');
  const server = await WorkshopServer.start({
    agenda: loadAgenda(defaultAgenda),
    runner: new RehearsalRunner(0),
    marker,
    heartbeatMs: 300,
  });
  try {
    const url = new URL(server.url);
    // A raw connection that completes the handshake and then never answers a ping.
    const silent = connect(Number(url.port), url.hostname, () =>
      silent.write(
        `GET /attend/ws HTTP/1.1\r\nHost: ${url.host}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: ${randomBytes(16).toString('base64')}\r\nSec-WebSocket-Version: 13\r\n\r\n`,
      ),
    );
    silent.on('error', () => undefined);
    silent.resume();
    const live = await openSocket(`${server.url.replace('http', 'ws')}/attend/ws`);
    assert.deepEqual(await live.opened, { ok: true });
    const t0 = Date.now();
    await new Promise<void>((r) => silent.once('close', () => r()));
    assert.ok(Date.now() - t0 < 5_000, 'the silent socket was dropped after missing a ping');
    assert.equal(live.ws.readyState, live.ws.OPEN, 'the view that answers pings is still connected');
    live.ws.close();
  } finally {
    await server.close();
  }
});

test('one address cannot take every connection: attendee sockets past its share get 503, others still connect', {
  timeout: 30_000,
}, async () => {
  const { WorkshopServer } = await import('../../workshop/server.ts');
  const { RehearsalRunner } = await import('../../workshop/runners.ts');
  const { loadAgenda } = await import('../../workshop/agenda.ts');
  const { defaultAgenda } = await import('../../workshop/start.ts');
  const server = await WorkshopServer.start({
    agenda: loadAgenda(defaultAgenda),
    runner: new RehearsalRunner(0),
    marker,
    maxAttendeeSocketsPerAddress: 5,
  });
  const wsUrl = `${server.url.replace('http', 'ws')}/attend/ws`;
  try {
    const held = await Promise.all(Array.from({ length: 5 }, () => openSocket(wsUrl)));
    for (const h of held) assert.deepEqual(await h.opened, { ok: true });
    assert.deepEqual(await (await openSocket(wsUrl)).opened, { ok: false, status: 503 });
    // The instructor's socket is not an attendee's: it still connects.
    const ins = await openSocket(`${server.url.replace('http', 'ws')}/instructor/ws?token=${server.token}`);
    assert.deepEqual(await ins.opened, { ok: true });
    held[0].ws.close();
    await held[0].closed;
    await new Promise((r) => setTimeout(r, 100));
    assert.deepEqual(await (await openSocket(wsUrl)).opened, { ok: true }, 'a freed slot can be used again');
    for (const h of held) h.ws.close();
    ins.ws.close();
  } finally {
    await server.close();
  }
});

test('the workshop process killed outright (SIGKILL) leaves no Jupyter and nothing else of its own', {
  timeout: 60_000,
}, async () => {
  const ours = () => listProcesses().filter((p) => p.marker === marker);
  assert.ok(
    ours().some((p) => /jupyter/.test(p.cmdline)),
    'Jupyter runs before the kill',
  );
  assert.doesNotMatch(err, /unexpected (error|rejection)/, 'no input above reached the last-resort handler');
  process.kill(child.pid!, 'SIGKILL'); // no exit handler runs: only the watchdog can clean up
  let left = ours();
  for (let i = 0; i < 150 && left.length > 0; i++) {
    await new Promise((r) => setTimeout(r, 100));
    left = ours();
  }
  assert.deepEqual(
    left.map((p) => `${p.pid} ${p.cmdline.slice(0, 80)}`),
    [],
    'processes of the killed workshop still running',
  );
});
