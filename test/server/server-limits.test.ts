/**
 * The demo server bounds what one client can cost: a thousand deep requests at once, a
 * slow-loris header, an idle keep-alive connection. Real server binary, real sockets; the
 * server's memory read from /proc.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { spawn } from 'node:child_process';
import { connect, type Socket } from 'node:net';
import { ManagedServer } from '../../engines/managed-server.ts';
import { buildServer, goToolchain } from '../../core/go.ts';
import { at } from '../../core/paths.ts';

const binary = await buildServer(await goToolchain());
/** server/limits.go's maxDeep: how many deep requests run at once. */
const maxDeepRequests = Number(/\bmaxDeep\s*=\s*(\d+)/.exec(readFileSync(at('server', 'limits.go'), 'utf8'))?.[1]);

/** A /proc/PID/status field in MB (VmHWM is the peak resident set). */
function statusMb(pid: number, field: 'VmRSS' | 'VmHWM'): number {
  const m = new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  assert.ok(m, `no ${field} in /proc/${pid}/status`);
  return Number(m[1]) / 1024;
}

/**
 * Opens `count` keep-alive connections first, then sends one GET on each at once, so the requests
 * really overlap, and holds the connections open as a client would; resolves with each answer
 * (status 0: the connection failed) and a function that closes them all.
 */
async function burst(
  url: string,
  path: string,
  count: number,
): Promise<{ answers: { status: number; body: string }[]; close(): void }> {
  const { hostname, port } = new URL(url);
  const socks = await Promise.all(
    Array.from(
      { length: count },
      () =>
        new Promise<Socket>((resolve) => {
          const s = connect(Number(port), hostname, () => resolve(s));
          s.on('error', () => resolve(s));
        }),
    ),
  );
  const answers = socks.map(
    (s) =>
      new Promise<{ status: number; body: string }>((resolve) => {
        let raw = '';
        const answered = () => {
          const m = /^HTTP\/1\.1 (\d{3})[^]*?content-length: (\d+)[^]*?\r\n\r\n([^]*)$/i.exec(raw);
          if (m && Buffer.byteLength(m[3]) >= Number(m[2])) resolve({ status: Number(m[1]), body: m[3] });
          return Boolean(m);
        };
        s.setEncoding('utf8');
        s.on('data', (d) => {
          raw += d;
          answered();
        });
        s.on('close', () => answered() || resolve({ status: 0, body: raw }));
      }),
  );
  for (const s of socks) if (s.writable) s.write(`GET ${path} HTTP/1.1\r\nHost: x\r\n\r\n`);
  return { answers: await Promise.all(answers), close: () => socks.forEach((s) => s.destroy()) };
}

/**
 * The barrier: deep requests the server cannot finish while their client does not read. Each answer
 * (what 64 goroutines × 100 calls saw, 270 kB) is more than the socket buffers hold for a client that
 * announces a small segment size and a small receive buffer (Python: Node cannot set either), so each
 * handler waits in Write, holding its slot, until the client reads. A line on stdin releases them.
 * Nothing may ask for a deep slot until they are admitted: a request that slipped in first would turn
 * one of them away and leave its slot free.
 */
const holdingPath = '/shapes/recurse?depth=100&goroutines=64';
const holder = String.raw`
import socket, sys
port, count, path = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
socks = []
for _ in range(count):
    s = socket.socket()
    s.setsockopt(socket.IPPROTO_TCP, socket.TCP_MAXSEG, 536)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    s.connect(("127.0.0.1", port))
    s.sendall(f"GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n".encode())
    socks.append(s)
# Each answer's status line comes once its handler runs (and holds a slot) or was refused one.
print("admitted", *(s.recv(12, socket.MSG_PEEK).decode().split(" ")[-1] for s in socks), flush=True)
sys.stdin.readline()
for s in socks:
    data = b""
    while chunk := s.recv(1 << 16):
        data += chunk
    print(data.split(b" ", 2)[1].decode() if data.startswith(b"HTTP/1.1 ") else "0", flush=True)
`;

/** `count` requests that hold a deep slot each until `release()` reads their answers (their statuses). */
async function holdSlots(url: string, count: number): Promise<{ release(): Promise<number[]> }> {
  const child = spawn('/usr/bin/python3', ['-c', holder, new URL(url).port, String(count), holdingPath], {
    stdio: ['pipe', 'pipe', 'inherit'],
  });
  let out = '';
  child.stdout.setEncoding('utf8').on('data', (d) => (out += d));
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const admitted = new Promise<void>((resolve) => child.stdout.on('data', () => out.includes('\n') && resolve()));
  await Promise.race([admitted, exited]);
  // Nothing else asked for a slot meanwhile (a fresh server): every one of them holds one.
  if (out.split('\n')[0] !== `admitted ${Array(count).fill('200').join(' ')}`) {
    child.kill();
    assert.fail(`the held requests were not all admitted: ${out}`);
  }
  return {
    async release() {
      if (child.exitCode === null) child.stdin.end('\n');
      await exited;
      return out.split('\n').slice(1).filter(Boolean).map(Number);
    },
  };
}

test('1000 concurrent /?arg=10000 while the deep slots are held: each is a one-line 503, peak RSS stays bounded, and the server carries on', async (t) => {
  await using srv = await ManagedServer.start({ binary });
  const before = statusMb(srv.pid, 'VmHWM');
  // The barrier: every deep slot held by a request of ours, so the crowd meets a full server whatever the
  // machine's load (racing a thousand quick requests against each other saw them served one by one).
  const held = await holdSlots(srv.url, maxDeepRequests);
  t.after(() => held.release());
  const refused = await srv.get('/?arg=10000');
  assert.equal(refused.status, 503, `${maxDeepRequests} held requests did not take every deep slot: ${refused.body}`);
  const { answers: replies, close } = await burst(srv.url, '/?arg=10000', 1000);
  const peak = statusMb(srv.pid, 'VmHWM');
  close();
  const byStatus = new Map<number, number>();
  for (const r of replies) byStatus.set(r.status, (byStatus.get(r.status) ?? 0) + 1);
  console.log(
    `peak RSS ${before.toFixed(1)} → ${peak.toFixed(1)} MB; answers ${JSON.stringify(Object.fromEntries(byStatus))}`,
  );
  assert.ok(srv.alive, 'the server died');
  assert.deepEqual(Object.fromEntries(byStatus), { 503: 1000 }, 'every deep request of the crowd is turned away');
  const busy = replies.find((r) => r.status === 503)!;
  assert.match(busy.body, /^[^\n]{10,}\n?$/, `a 503 has a one-line reason: ${JSON.stringify(busy.body)}`);
  assert.equal((await srv.get('/?arg=5')).status, 200, 'a cheap request is served while the deep slots are taken');
  // Unbounded, a thousand deep requests took the server to 3.2 GB.
  assert.ok(peak < 200, `peak RSS ${peak.toFixed(1)} MB, want < 200 MB`);
  assert.deepEqual(await held.release(), Array(maxDeepRequests).fill(200), 'the held deep requests were served');
  assert.equal((await srv.get('/?arg=10000')).status, 200, 'a deep request is served once the crowd is gone');
});

test('a thousand deep requests at once with every slot free: only 200s and one-line 503s, and the server carries on', async () => {
  await using srv = await ManagedServer.start({ binary });
  const { answers: replies, close } = await burst(srv.url, '/?arg=10000', 1000);
  close();
  assert.ok(srv.alive, 'the server died');
  assert.deepEqual(
    replies.map((r) => r.status).filter((s) => s !== 200 && s !== 503),
    [],
    'only 200 and 503 answers',
  );
  // The first to arrive finds a free slot whatever the timing.
  assert.ok(
    replies.some((r) => r.status === 200),
    'some deep requests were served',
  );
});

test('a slow-loris client (headers never finished) is disconnected by the header timeout', async () => {
  await using srv = await ManagedServer.start({ binary });
  const { hostname, port } = new URL(srv.url);
  const started = Date.now();
  const closedAfter = await new Promise<number>((resolve, reject) => {
    const sock = connect(Number(port), hostname, () => sock.write('GET /?arg=1 HTTP/1.1\r\nHost: x\r\n'));
    // One more header byte a second: without a header deadline the server waits forever.
    const drip = setInterval(() => sock.writable && sock.write('X'), 1000);
    const giveUp = setTimeout(() => {
      clearInterval(drip);
      sock.destroy();
      reject(new Error('the server still holds a slow-loris connection after 20 s'));
    }, 20000);
    sock.on('error', () => {});
    sock.on('close', () => {
      clearInterval(drip);
      clearTimeout(giveUp);
      resolve(Date.now() - started);
    });
    sock.resume();
  });
  assert.ok(closedAfter >= 1000 && closedAfter < 12000, `closed after ${closedAfter} ms`);
  assert.equal((await srv.get('/?arg=1')).status, 200);
});

test("ManagedServer keeps the end of a chatty server's output, not all of it", async () => {
  await using srv = await ManagedServer.start({ binary, keepBytes: 4096 });
  for (let i = 0; i < 400; i++) await srv.get(`/?arg=${i}`);
  await new Promise((r) => setTimeout(r, 200));
  assert.ok(srv.stdout.length <= 4096, `kept ${srv.stdout.length} bytes`);
  assert.match(srv.stdout, /demo called with 399\n$/, 'the latest line is kept');
});
