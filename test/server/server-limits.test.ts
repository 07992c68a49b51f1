/**
 * The demo server bounds what one client can cost: a thousand deep requests at once, a
 * slow-loris header, an idle keep-alive connection. Real server binary, real sockets; the
 * server's memory read from /proc.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { connect, type Socket } from 'node:net';
import { ManagedServer } from '../../engines/managed-server.ts';
import { buildServer, goToolchain } from '../../core/go.ts';

const binary = await buildServer(await goToolchain());

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

test('1000 concurrent /?arg=10000: peak RSS stays bounded, each answer is 200 or a one-line 503, and the server carries on', async () => {
  await using srv = await ManagedServer.start({ binary });
  const before = statusMb(srv.pid, 'VmHWM');
  const { answers: replies, close } = await burst(srv.url, '/?arg=10000', 1000);
  const peak = statusMb(srv.pid, 'VmHWM');
  close();
  const byStatus = new Map<number, number>();
  for (const r of replies) byStatus.set(r.status, (byStatus.get(r.status) ?? 0) + 1);
  console.log(
    `peak RSS ${before.toFixed(1)} → ${peak.toFixed(1)} MB; answers ${JSON.stringify(Object.fromEntries(byStatus))}`,
  );
  assert.ok(srv.alive, 'the server died');
  assert.deepEqual(
    [...byStatus.keys()].filter((s) => s !== 200 && s !== 503),
    [],
    'only 200 and 503 answers',
  );
  assert.ok((byStatus.get(200) ?? 0) > 0, 'some deep requests were served');
  assert.ok((byStatus.get(503) ?? 0) > 0, 'the concurrency limit turned some away');
  const busy = replies.find((r) => r.status === 503)!;
  assert.match(busy.body, /^[^\n]{10,}\n?$/, `a 503 has a one-line reason: ${JSON.stringify(busy.body)}`);
  // Unbounded, the same load took the server to 3.2 GB.
  assert.ok(peak < 200, `peak RSS ${peak.toFixed(1)} MB, want < 200 MB`);
  assert.equal((await srv.get('/?arg=10000')).status, 200, 'a deep request is served once the crowd is gone');
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
