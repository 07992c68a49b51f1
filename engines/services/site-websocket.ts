/**
 * The browser's WebSocket frames to Jupyter, checked by the site proxy before Jupyter parses them.
 * Jupyter trusts what a binary kernel message says about itself: jupyter_server 2.21 builds a
 * struct format (legacy protocol) or a list (v1 protocol) as long as the count in the message's
 * first bytes, so an 18-byte frame makes it allocate gigabytes. Here every frame is parsed, data
 * messages are held until complete (at most maxMessageBytes), and a binary message is forwarded
 * only when its counts and offsets fit inside it.
 */

/** The largest data message (all its fragments) a page may send to a kernel. */
export const maxMessageBytes = 4 << 20;

/** The subprotocol @jupyterlab/services asks for; without one Jupyter speaks its legacy format. */
export const kernelProtocolV1 = 'v1.kernel.websocket.jupyter.org';

export class FrameRefused extends Error {
  constructor(
    /** The WebSocket close code to send the browser. */
    readonly code: number,
    reason: string,
  ) {
    super(reason);
  }
}

/** Why Jupyter may not see this binary kernel message, or null when its header fits inside it. */
export function binaryMessageProblem(protocol: string | null, msg: Buffer): string | null {
  if (protocol === kernelProtocolV1) {
    // 8 bytes little-endian: how many offsets follow (8 bytes each); offsets[0..1] frame the channel name.
    if (msg.length < 8) return 'a binary message shorter than its header';
    const count = msg.readBigUInt64LE(0);
    if (count < 2n || 8n * (count + 1n) > BigInt(msg.length)) return `a binary message claiming ${count} parts`;
    return offsetsProblem(
      Array.from({ length: Number(count) }, (_, i) => msg.readBigUInt64LE(8 * (i + 1))),
      msg,
    );
  }
  if (protocol === null) {
    // 4 bytes big-endian (signed): how many buffers, then one 4-byte offset per buffer.
    if (msg.length < 4) return 'a binary message shorter than its header';
    const count = msg.readInt32BE(0);
    if (count < 1 || 4 * (count + 1) > msg.length) return `a binary message claiming ${count} buffers`;
    return offsetsProblem(
      Array.from({ length: count }, (_, i) => BigInt(msg.readUInt32BE(4 * (i + 1)))),
      msg,
    );
  }
  return 'binary messages on an unknown subprotocol';
}

function offsetsProblem(offsets: bigint[], msg: Buffer): string | null {
  let last = 0n;
  for (const o of offsets) {
    if (o < last || o > BigInt(msg.length)) return 'a binary message whose offsets leave it';
    last = o;
  }
  return null;
}

/**
 * Client frames in, frames Jupyter may see out (in order; a control frame inside a fragmented
 * message goes ahead of it). Throws FrameRefused at the first frame that breaks the protocol or the caps.
 */
export class ClientFrames {
  private pending: Buffer = Buffer.alloc(0);
  /** The current data message: its raw frames and unmasked payloads; opcode 0 when none. */
  private opcode = 0;
  private frames: Buffer[] = [];
  private payloads: Buffer[] = [];
  private bytes = 0;

  constructor(private readonly protocol: string | null) {}

  push(chunk: Buffer): Buffer[] {
    this.pending = this.pending.length ? Buffer.concat([this.pending, chunk]) : chunk;
    const out: Buffer[] = [];
    for (;;) {
      const frame = this.nextFrame();
      if (!frame) return out;
      const { op, fin, raw, payload } = frame;
      if (op >= 8) {
        out.push(raw);
        continue;
      }
      if (op !== 0) this.opcode = op;
      this.frames.push(raw);
      this.payloads.push(payload);
      if (!fin) continue;
      if (this.opcode === 2) {
        const why = binaryMessageProblem(this.protocol, Buffer.concat(this.payloads));
        if (why) throw new FrameRefused(1008, `refused ${why}`);
      }
      out.push(...this.frames);
      this.opcode = 0;
      this.frames = [];
      this.payloads = [];
      this.bytes = 0;
    }
  }

  /** The next complete frame, checked; null until its bytes are all here. */
  private nextFrame(): { op: number; fin: boolean; raw: Buffer; payload: Buffer } | null {
    const p = this.pending;
    if (p.length < 2) return null;
    const fin = (p[0] & 0x80) !== 0;
    const op = p[0] & 0x0f;
    if (p[0] & 0x70) throw new FrameRefused(1002, 'RSV bits set, and no extension was agreed');
    if (!(p[1] & 0x80)) throw new FrameRefused(1002, 'an unmasked client frame');
    if (op >= 8) {
      if (op > 10) throw new FrameRefused(1002, `unknown control opcode ${op}`);
      if (!fin || (p[1] & 0x7f) > 125) throw new FrameRefused(1002, 'a fragmented or long control frame');
    } else if (op === 0) {
      if (!this.opcode) throw new FrameRefused(1002, 'a continuation frame outside a message');
    } else if (op === 1 || op === 2) {
      if (this.opcode) throw new FrameRefused(1002, 'a new message inside a fragmented one');
    } else throw new FrameRefused(1002, `unknown opcode ${op}`);
    const short = p[1] & 0x7f;
    const lengthBytes = short === 126 ? 2 : short === 127 ? 8 : 0;
    const head = 2 + lengthBytes + 4;
    if (p.length < head) return null;
    const length = short === 126 ? BigInt(p.readUInt16BE(2)) : short === 127 ? p.readBigUInt64BE(2) : BigInt(short);
    if (op < 8 && BigInt(this.bytes) + length > BigInt(maxMessageBytes))
      throw new FrameRefused(1009, `a message over ${maxMessageBytes} bytes`);
    const end = head + Number(length);
    if (p.length < end) return null;
    const raw = p.subarray(0, end);
    this.pending = p.subarray(end);
    if (op < 8) this.bytes += end - head;
    const mask = raw.subarray(head - 4, head);
    const payload = Buffer.from(raw.subarray(head));
    for (let i = 0; i < payload.length; i++) payload[i] ^= mask[i & 3];
    return { op, fin, raw, payload };
  }
}

/** A server's close frame (unmasked) with `code` and a short reason. */
export function closeFrame(code: number, reason: string): Buffer {
  const text = Buffer.from(reason.slice(0, 120));
  return Buffer.concat([Buffer.from([0x88, 2 + text.length, code >> 8, code & 255]), text]);
}
