/**
 * The ring buffer read in place (bpf/addon maps the ring; JS reads each batch's records in the
 * ring's own pages, and the consumer position moves past them once JS has returned): every record a
 * BPF program sends arrives exactly once, in order, with its content, across many wrap-arounds of
 * the 8 MiB ring and records that straddle its end (read through the second mapping), and what did
 * not arrive is what the program itself counted as dropped. The producer is the ring-buffer
 * benchmark's (bench/bpf/burst.bpf.c, run with BPF_PROG_TEST_RUN): main.work(seq) = 2 × seq calls.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { inspect } from 'node:util';
import { closeAllProbes, openExecutable, type TraceEvent } from '../../bpf/ts/index.ts';
import { existingSession } from '../../bpf/ts/session.ts';
import { eventJson } from '../../bpf/ts/values.ts';
import { buildBenchTools, goloopBinary } from '../../bench/build.ts';
import { GoLoop } from '../../bench/goloop.ts';
import { produce, type Produced } from '../../bench/ringbuf.ts';

before(() => buildBenchTools());
after(closeAllProbes);

/** The session's batch handler, watched: the bounds of every batch the addon hands JS. */
interface Batches {
  ringBytes: number;
  count: number;
  bytes: number;
  largest: number;
  /** Batches that run past the ring's end into its second mapping (a record straddling the end, read whole). */
  pastTheEnd: number;
  restore(): void;
}

function watchBatches(): Batches {
  const session = existingSession() as unknown as {
    onBatch(ring: ArrayBuffer, start: number, end: number, ...block: unknown[]): void;
  };
  const seen: Batches = {
    ringBytes: 0,
    count: 0,
    bytes: 0,
    largest: 0,
    pastTheEnd: 0,
    restore: () => delete (session as { onBatch?: unknown }).onBatch,
  };
  const onBatch = Object.getPrototypeOf(session).onBatch as typeof session.onBatch;
  session.onBatch = function (ring, start, end, ...block) {
    seen.ringBytes = ring.byteLength / 2; // the data area is mapped twice in a row
    seen.count++;
    seen.bytes += end - start;
    seen.largest = Math.max(seen.largest, end - start);
    if (end > seen.ringBytes) seen.pastTheEnd++;
    assert.ok(
      start >= 0 && start < seen.ringBytes && end > start && end <= ring.byteLength,
      `batch [${start}, ${end})`,
    );
    onBatch.call(this, ring, start, end, ...block); // and the block of the batch's events
  };
  return seen;
}

/** Reads a raw main.work probe while the producer sends `events`; checks each event as it arrives. */
/** Waits up to 5 s for the reader to have everything (the assertions after it say what was missing). */
async function receivedOrGaveUp(done: () => boolean): Promise<void> {
  for (let waited = 0; !done() && waited < 5000; waited += 20) await new Promise((r) => setTimeout(r, 20));
}

async function burst(events: number, policy: 'lab' | 'kernel') {
  await using idle = await GoLoop.start(); // gives the probe a process: main.work is never called in it
  const exe = await openExecutable(goloopBinary);
  const probe = exe.uprobe('main.work', { pid: idle.pid, args: 1, rets: 1 });
  const id = (probe as unknown as { id: number }).id;
  const batches = watchBatches();
  let received = 0;
  let lastTs = 0;
  const pids = new Set<number>();
  const wrong: string[] = [];
  const check = (e: TraceEvent) => {
    const seq = received++;
    if (e.kind !== 'call' || e.args.length !== 1 || e.ret.length !== 1 || e.args[0] !== seq || e.ret[0] !== 2 * seq)
      wrong.push(`event ${seq}: ${e.kind} ${e.symbol}(${e.args}) = (${e.ret})`);
    if (e.latency_ns !== 0 || e.ts_ns < lastTs)
      wrong.push(`event ${seq}: ts ${e.ts_ns} after ${lastTs}, latency ${e.latency_ns}`);
    lastTs = e.ts_ns;
    pids.add(e.pid);
  };
  let expected = Infinity;
  let produced: Produced | undefined;
  try {
    const reading = (async () => {
      for await (const batch of probe.batches()) {
        for (const e of batch) if (wrong.length < 5) check(e);
        if (received >= expected) break;
      }
    })();
    produced = await produce(process.pid, events, id, policy);
    expected = produced.sent - produced.drops;
    // What the producer sent is in the ring: the flush timer (10 ms) brings the last of it.
    await receivedOrGaveUp(() => received >= expected);
    probe.close();
    await reading;
  } finally {
    batches.restore();
    probe.close();
  }
  return { produced, received, wrong, pids, batches, drops: probe.dropCounts() };
}

test('every record of a burst arrives once, in order, intact, across wrap-arounds of the ring; drops are the program’s own count', async () => {
  const events = 200_000; // 304-byte events in 312-byte records: ~60 MB through an 8 MiB ring
  const r = await burst(events, 'lab');
  assert.deepEqual(r.wrong, []);
  assert.equal(r.produced?.sent, events, 'the program handled every event it was asked for');
  assert.equal(r.produced?.drops, 0, 'the producer paces itself to the reader: the ring never filled');
  assert.equal(r.received, events, 'every record arrived, once');
  assert.deepEqual(r.drops, { ring: 0, reader: 0 });
  assert.equal(r.pids.size, 1, 'one producing process');
  assert.ok(!r.pids.has(process.pid));
  assert.equal(r.batches.ringBytes, 8 << 20);
  assert.equal(r.batches.bytes, events * 312, 'the batches cover every record and nothing else');
  assert.ok(r.batches.bytes > 6 * r.batches.ringBytes, `${r.batches.bytes} bytes went round the ring`);
  assert.ok(r.batches.pastTheEnd >= 6, `${r.batches.pastTheEnd} batches read past the ring's end`);
  // A batch stops at the first record past 256 KiB (bpf/addon kBatchBytes), so its events die young.
  assert.ok(r.batches.largest < (256 << 10) + 312, `the largest batch: ${r.batches.largest} bytes`);
});

test('the kernel’s own wake-up policy (a wake-up whenever the reader had caught up) delivers the same', async () => {
  const events = 50_000;
  const r = await burst(events, 'kernel');
  assert.deepEqual(r.wrong, []);
  assert.equal(r.produced?.sent, events);
  assert.equal(r.produced?.drops, 0);
  assert.equal(r.received, events);
  assert.deepEqual(r.drops, { ring: 0, reader: 0 });
});

test('a session released from inside a batch’s reader stops reading, and the ring is unmapped only after', async () => {
  await using idle = await GoLoop.start();
  const exe = await openExecutable(goloopBinary);
  const probe = exe.uprobe('main.work', { pid: idle.pid, args: 1, rets: 1 });
  const id = (probe as unknown as { id: number }).id;
  let received = 0;
  let atRelease = 0;
  const reading = (async () => {
    for await (const batch of probe.batches()) {
      received += batch.length;
      if (atRelease === 0) {
        // Still inside the addon's delivery of this batch (its microtasks): the ring is unmapped once it returns.
        existingSession()?.release();
        atRelease = received;
        probe.close();
      }
    }
  })();
  // Fewer than half the ring holds: the producer never waits for a reader that is gone.
  const produced = await produce(process.pid, 12_000, id, 'lab');
  await reading;
  assert.equal(produced.sent, 12_000);
  assert.ok(atRelease > 0 && received === atRelease, `${received} events, ${atRelease} at the release`);
  assert.equal(existingSession(), undefined);
});

test('events a reader keeps from its first batch keep their values after the ring has gone round several times (raw and typed, decoded only then)', async () => {
  for (const typed of [false, true]) {
    await using idle = await GoLoop.start();
    const exe = await openExecutable(goloopBinary);
    // Typed: main.work(x int) int from DWARF, its values decoded when first read (here, long after the ring moved on).
    const probe = exe.uprobe('main.work', typed ? { pid: idle.pid } : { pid: idle.pid, args: 1, rets: 1 });
    const id = (probe as unknown as { id: number }).id;
    const events = 100_000; // ~31 MB of records through the 8 MiB ring
    let held: TraceEvent[] | undefined;
    let received = 0;
    try {
      const reading = (async () => {
        for await (const batch of probe.batches()) {
          held ??= batch;
          received += batch.length;
          if (received >= events) break;
        }
      })();
      const produced = await produce(process.pid, events, id, 'lab');
      assert.equal(produced.sent - produced.drops, events);
      await receivedOrGaveUp(() => received >= events);
      probe.close();
      await reading;
    } finally {
      probe.close();
    }
    assert.equal(received, events);
    assert.ok(held && held.length > 100, `the first batch held ${held?.length} events`);
    const wrong = held.flatMap((e, seq) => {
      const want = typed ? [BigInt(seq), BigInt(2 * seq)] : [seq, 2 * seq];
      return e.kind === 'call' && e.args.length === 1 && e.args[0] === want[0] && e.ret[0] === want[1] && e.ts_ns > 0
        ? []
        : [`event ${seq}: ${e.kind} (${e.args}) = (${e.ret}), ts ${e.ts_ns}`];
    });
    assert.deepEqual(wrong.slice(0, 5), [], `${typed ? 'typed' : 'raw'} events changed under their reader`);
    // Shown whole, as the plain object it stands for: its values read as it is written out.
    const json = JSON.parse(eventJson(held[1])) as Record<string, unknown>;
    assert.deepEqual(json.args, typed ? ['1'] : [1]);
    assert.deepEqual(json.ret, typed ? ['2'] : [2]);
    if (!typed)
      assert.deepEqual(Object.keys(json), [
        'kind',
        'symbol',
        'pid',
        'tid',
        'goroutine',
        'ts_ns',
        'args',
        'ret',
        'latency_ns',
        'ret_site',
      ]);
    assert.match(inspect(held[1]), typed ? /args: \[ 1n \]/ : /args: \[ 1 \]/);
  }
});
