/**
 * Reading a file someone else controls — an attendee's ~/.lab/exercises.json, read by root for the
 * room view. The attendee can make that path anything: a FIFO (a plain open() waits for a writer
 * forever, holding one of libuv's four pool threads — four of them and the whole process stops
 * reading files), a symlink to /dev/zero or to root's files, a file of gigabytes. So the read here:
 *
 * - opens with O_NOFOLLOW | O_NONBLOCK (a symlink is refused; a FIFO or device opens at once),
 * - fstat()s the open descriptor: a regular file, owned by whom it must be, not over the size limit,
 * - reads at most the limit (and refuses a file that grew past it meanwhile),
 * - runs on a worker thread of its own, never on libuv's pool, and gives up after a timeout: a read
 *   stuck in the kernel (a hung FUSE mount) costs that worker, which is abandoned, and nothing else.
 */
import { Worker } from 'node:worker_threads';

export type UntrustedRead =
  | { ok: true; text: string }
  /** missing: no such file (nothing to read); refused: it is not a file we read; timeout: the read did not finish. */
  | { ok: false; reason: 'missing' | 'refused' | 'timeout'; why: string };

export interface UntrustedReadOptions {
  /** The uid the file must belong to (the attendee's); any owner when absent. */
  owner?: number;
  /** At most this many bytes; a larger file is refused. 256 KiB unless told. */
  maxBytes?: number;
  /** Give up after this long. 2 s unless told. */
  timeoutMs?: number;
}

export const defaultMaxBytes = 256 * 1024;

// The worker's code: plain JavaScript, synchronous calls on the worker's own thread.
const workerSource = `
const { parentPort } = require('node:worker_threads');
const fs = require('node:fs');
const { O_RDONLY, O_NOFOLLOW, O_NONBLOCK, O_NOCTTY, O_CLOEXEC } = fs.constants;
function readOnce(path, owner, maxBytes) {
  const refused = (why) => ({ ok: false, reason: 'refused', why: path + ' ' + why });
  let fd;
  try {
    fd = fs.openSync(path, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_NOCTTY | (O_CLOEXEC || 0));
  } catch (e) {
    if (e.code === 'ENOENT' || e.code === 'ENOTDIR') return { ok: false, reason: 'missing', why: path + ' does not exist' };
    if (e.code === 'ELOOP') return refused('is a symbolic link (not followed)');
    return refused('cannot be opened (' + e.code + ')');
  }
  try {
    const st = fs.fstatSync(fd);
    if (!st.isFile()) return refused('is not a regular file');
    if (owner !== undefined && owner !== null && st.uid !== owner) return refused('belongs to uid ' + st.uid + ', not ' + owner);
    if (st.size > maxBytes) return refused('is larger than ' + maxBytes + ' bytes');
    const buf = Buffer.alloc(maxBytes + 1);
    let n = 0;
    for (;;) {
      const got = fs.readSync(fd, buf, n, buf.length - n, n);
      if (got === 0) break;
      n += got;
      if (n > maxBytes) return refused('grew past ' + maxBytes + ' bytes while being read');
    }
    return { ok: true, text: buf.toString('utf8', 0, n) };
  } catch (e) {
    return refused('cannot be read (' + (e.code || e.message) + ')');
  } finally {
    fs.closeSync(fd);
  }
}
parentPort.on('message', (m) => parentPort.postMessage({ id: m.id, result: readOnce(m.path, m.owner, m.maxBytes) }));
`;

interface Pending {
  path: string;
  owner?: number;
  maxBytes: number;
  timeoutMs: number;
  resolve: (r: UntrustedRead) => void;
  timer?: NodeJS.Timeout;
}

/** Workers given up on (stuck in the kernel) that have not ended yet: past this many, reads are refused at once. */
const maxStuck = 4;
let worker: Worker | undefined;
let stuck = 0;
let nextId = 1;
/** Reads sent to the current worker, in the order it answers them. */
const inFlight = new Map<number, Pending>();

function startWorker(): Worker {
  const w = new Worker(workerSource, { eval: true });
  w.on('message', (m: { id: number; result: UntrustedRead }) => {
    const p = inFlight.get(m.id);
    if (!p) return;
    inFlight.delete(m.id);
    clearTimeout(p.timer);
    // Idle, the worker does not keep the process alive; busy, it does (someone awaits its answer).
    if (inFlight.size === 0) w.unref();
    p.resolve(m.result);
    armHead();
  });
  const lost = (why: string) => {
    if (worker !== w) return;
    worker = undefined;
    const waiting = [...inFlight.values()];
    inFlight.clear();
    for (const p of waiting) clearTimeout(p.timer);
    for (const p of waiting) p.resolve({ ok: false, reason: 'refused', why: `${p.path}: ${why}` });
  };
  w.on('error', (e) => lost(`the reader failed (${e.message})`));
  w.on('exit', () => lost('the reader stopped'));
  w.unref();
  return w;
}

/** Only the oldest read runs (the worker answers in order): its timer is the one that counts. */
function armHead(): void {
  const [id, head] = inFlight.entries().next().value ?? [];
  if (head === undefined || id === undefined || head.timer) return;
  head.timer = setTimeout(() => giveUp(id), head.timeoutMs);
  head.timer.unref();
}

/** The oldest read did not finish: abandon its worker, answer it "timeout", and send the rest to a fresh one. */
function giveUp(id: number): void {
  const head = inFlight.get(id);
  const w = worker;
  if (!head || !w) return;
  inFlight.delete(id);
  const rest = [...inFlight.values()];
  inFlight.clear();
  worker = undefined;
  stuck++;
  w.unref();
  w.removeAllListeners('exit');
  w.once('exit', () => stuck--);
  void w.terminate().catch(() => {});
  head.resolve({ ok: false, reason: 'timeout', why: `${head.path} did not finish reading in ${head.timeoutMs} ms` });
  for (const p of rest) send({ ...p, timer: undefined });
}

function send(p: Pending): void {
  if (stuck >= maxStuck) {
    p.resolve({ ok: false, reason: 'timeout', why: `${p.path} not read: earlier reads are still stuck in the kernel` });
    return;
  }
  worker ??= startWorker();
  const id = nextId++;
  inFlight.set(id, p);
  worker.postMessage({ id, path: p.path, owner: p.owner, maxBytes: p.maxBytes });
  worker.ref();
  armHead();
}

/** Reads a file another user controls (see above); never throws, never hangs past the timeout. */
export function readUntrusted(path: string, opts: UntrustedReadOptions = {}): Promise<UntrustedRead> {
  return new Promise((resolve) =>
    send({
      path,
      owner: opts.owner,
      maxBytes: opts.maxBytes ?? defaultMaxBytes,
      timeoutMs: opts.timeoutMs ?? 2000,
      resolve,
    }),
  );
}
