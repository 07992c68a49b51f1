/**
 * The event pipeline on the real kernel: a typed probe's events carry their raw fields at once and
 * decode their values when first read, to exactly what a probe that decodes on arrival shows; a
 * consumer that reads only raw fields decodes nothing. (Its speed is measured in bench/ringbuf.ts.)
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { closeAllProbes, openExecutable, type TraceEvent } from '../../bpf/ts/index.ts';
import { typedDecodes } from '../../bpf/ts/values-probe.ts';
import { eventJson } from '../../bpf/ts/values.ts';
import { serverBinary } from '../../core/paths.ts';
import { buildGoLoop, GoLoop, goloopBinary } from '../../engines/overhead.ts';
import { ManagedServer } from '../../engines/managed-server.ts';
import { closeAndCollect, sleep } from '../support/kernel.ts';

before(() => buildGoLoop());
after(closeAllProbes);

const callsOf = async (probe: Parameters<typeof closeAndCollect>[0]) =>
  (await closeAndCollect(probe)).filter((e) => e.kind === 'call');
/** Everything a decode gives an event, as JSON (BigInts exact). */
const decoded = (e: TraceEvent) =>
  eventJson({ args: e.args, ret: e.ret, params: e.params, results: e.results, regs: e.regs });
/** main.work in engines/goloop: work(i) for i = 0…n-1 returns i ^ (i >> 3) + 1. */
const work = (i: number) => [BigInt(i), BigInt((i ^ (i >> 3)) + 1)];

test('typed values decoded when first read equal those decoded on arrival: a probed loop, strings, an error', async () => {
  await using loop = await GoLoop.start();
  const exe = await openExecutable(goloopBinary);
  const onRead = exe.returnProbes('main.work', { pid: loop.pid });
  const onArrival = exe.returnProbes('main.work', { pid: loop.pid, decodeOnArrival: true });
  assert.ok(await loop.run(400), 'the loop ran');
  await sleep(50);
  const lazy = await callsOf(onRead);
  const eager = await callsOf(onArrival);
  assert.equal(lazy.length, 400);
  assert.deepEqual(lazy.map(decoded), eager.map(decoded));
  assert.deepEqual(
    lazy.map((e) => [e.args[0], e.ret[0]]),
    Array.from({ length: 400 }, (_, i) => work(i)),
  );

  const server = await openExecutable(serverBinary);
  await using srv = await ManagedServer.start({ binary: serverBinary });
  for (const [symbol, path] of [
    ['main.wordStats', '/words?s=h%C3%A9llo%20w%C3%B6rld'],
    ['main.wordStats', '/shapes/long?n=5000'],
    ['main.mayFail', '/shapes/error?fail=1'],
  ]) {
    const a = server.returnProbes(symbol, { pid: srv.pid });
    const b = server.returnProbes(symbol, { pid: srv.pid, decodeOnArrival: true });
    assert.equal((await srv.get(path)).status, 200, path);
    await sleep(50);
    const [x, y] = [await callsOf(a), await callsOf(b)];
    assert.equal(x.length, 1, `${symbol} ${path}: one call`);
    assert.deepEqual(x.map(decoded), y.map(decoded), `${symbol} ${path}`);
    assert.ok(x[0].args.length > 0 && x[0].ret.length > 0, `${symbol}: values decoded`);
  }
});

test('a consumer that reads only raw fields decodes nothing; reading a value decodes that one event, once', async () => {
  await using loop = await GoLoop.start();
  const exe = await openExecutable(goloopBinary);
  const probe = exe.returnProbes('main.work', { pid: loop.pid });
  assert.ok(await loop.run(300), 'the loop ran');
  await sleep(50);
  const before = typedDecodes();
  const events = await callsOf(probe);
  assert.equal(events.length, 300);
  const raw = events.map((e) => [e.kind, e.symbol, e.pid, e.tid, e.goroutine, e.goid, e.ts_ns, e.latency_ns]);
  assert.ok(
    raw.every(([, symbol, pid, , , goid, , latency]) => symbol === 'main.work' && pid === loop.pid && goid && latency),
    'raw fields as they came',
  );
  assert.equal(typedDecodes(), before, 'no value decoded');
  assert.deepEqual([events[7].args[0], events[7].ret[0]], work(7));
  assert.equal(events[7].params?.[0].type, 'int');
  assert.equal(typedDecodes(), before + 1, 'one event decoded, once');
  assert.deepEqual(JSON.parse(eventJson(events[8])).args, ['8'], 'JSON shows the values');
  assert.equal(typedDecodes(), before + 2);
});
