/**
 * Raw TCP clients for the fuzz tests (test/site/site-server-fuzz, test/workshop/workshop-fuzz): any
 * bytes at all on a fresh connection, and a real WebSocket handshake followed by hand-made frames.
 * Every timer here is cleared once its socket closes: a pending one would hold the test file open.
 */
import { randomBytes } from 'node:crypto';
import { connect, type Socket } from 'node:net';
import { patient } from '../../core/patience.ts';

/** A client frame (masked unless told otherwise); `length` overrides the announced payload length. */
export function clientFrame(first: number, payload: Buffer, opts: { masked?: boolean; length?: bigint } = {}): Buffer {
  const masked = opts.masked ?? true;
  const len = opts.length ?? BigInt(payload.length);
  const m = masked ? 0x80 : 0;
  let head: Buffer;
  if (len < 126n) head = Buffer.from([first, m | Number(len)]);
  else if (len < 65536n) head = Buffer.from([first, m | 126, Number(len >> 8n), Number(len & 255n)]);
  else {
    head = Buffer.alloc(10);
    head[0] = first;
    head[1] = m | 127;
    head.writeBigUInt64BE(len, 2);
  }
  if (!masked) return Buffer.concat([head, payload]);
  const mask = randomBytes(4);
  const body = Buffer.from(payload);
  for (let i = 0; i < body.length; i++) body[i] ^= mask[i & 3];
  return Buffer.concat([head, mask, body]);
}

/** Close code of the first close frame in what a server sent (its frames are unmasked). */
export function closeCode(data: Buffer): number | undefined {
  for (let i = 0; i + 2 <= data.length; ) {
    const opcode = data[i] & 0x0f;
    let len = data[i + 1] & 0x7f;
    let at = i + 2;
    if (len === 126) (len = data.readUInt16BE(at)), (at += 2);
    else if (len === 127) (len = Number(data.readBigUInt64BE(at))), (at += 8);
    if (opcode === 8) return len >= 2 ? data.readUInt16BE(at) : 1005;
    i = at + len;
  }
  return undefined;
}

/** The status of an HTTP answer's first line, 0 when there is none. */
export const statusOf = (answer: string) => Number(/^HTTP\/1\.1 (\d{3})/.exec(answer)?.[1] ?? 0);

/**
 * Sends raw bytes on a fresh connection to 127.0.0.1:`port`; resolves with what came back (latin1)
 * before it closed, `waitMs` passed, or what came back is `enough`.
 */
export function rawExchange(
  port: number,
  bytes: Buffer | string,
  waitMs = 1500,
  enough: (got: string) => boolean = () => false,
): Promise<string> {
  return new Promise((resolve) => {
    let got = '';
    const s = connect(port, '127.0.0.1', () => s.write(bytes));
    s.on('data', (d) => {
      got += d.toString('latin1');
      if (enough(got)) s.destroy();
    });
    s.on('error', () => undefined);
    const timer = setTimeout(() => s.destroy(), waitMs);
    s.once('close', () => {
      clearTimeout(timer);
      resolve(got);
    });
  });
}

export interface RawWebSocket {
  sock: Socket;
  /** The handshake answer's status (101 when upgraded). */
  status: number;
  /** Everything the server sent after the handshake answer, so far. */
  received(): Buffer;
  /** Resolves when the connection has closed. */
  ended: Promise<void>;
}

/**
 * A WebSocket handshake by hand on 127.0.0.1:`port` (`headers` add to or replace the usual ones, Host
 * included); resolves once the server has answered it, fails after `handshakeMs` without an answer.
 */
export function rawWebSocket(
  port: number,
  path: string,
  headers: Record<string, string> = {},
  handshakeMs = patient(20_000),
): Promise<RawWebSocket> {
  return new Promise((resolve, reject) => {
    const sock = connect(port, '127.0.0.1');
    let buf = Buffer.alloc(0);
    const ended = new Promise<void>((r) => sock.once('close', () => r()));
    const timer = setTimeout(() => {
      sock.destroy();
      reject(new Error(`no handshake answer on ${path} within ${handshakeMs} ms`));
    }, handshakeMs);
    void ended.then(() => {
      clearTimeout(timer);
      reject(new Error(`the connection for ${path} closed before a handshake answer`));
    });
    sock.on('error', () => undefined);
    sock.once('connect', () => {
      const lines = Object.entries({
        Host: `127.0.0.1:${port}`,
        Upgrade: 'websocket',
        Connection: 'Upgrade',
        'Sec-WebSocket-Key': randomBytes(16).toString('base64'),
        'Sec-WebSocket-Version': '13',
        ...headers,
      });
      sock.write(`GET ${path} HTTP/1.1\r\n${lines.map(([k, v]) => `${k}: ${v}\r\n`).join('')}\r\n`);
    });
    const onData = (d: Buffer) => {
      buf = Buffer.concat([buf, d]);
      const end = buf.indexOf('\r\n\r\n');
      if (end < 0) return;
      clearTimeout(timer);
      sock.off('data', onData);
      let rest = buf.subarray(end + 4);
      sock.on('data', (more: Buffer) => (rest = Buffer.concat([rest, more])));
      resolve({ sock, status: statusOf(buf.subarray(0, end).toString('latin1')), received: () => rest, ended });
    };
    sock.on('data', onData);
  });
}
