/**
 * The tracer on the real kernel: real probes on a private copy of the server
 * (so no one else's process is probed), filtered to the PID the test started.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { chmodSync, copyFileSync, mkdtempSync, renameSync, rmSync, writeFileSync, readFileSync } from 'node:fs';
import { execFileSync, spawn } from 'node:child_process';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ManagedServer } from '../../engines/managed-server.ts';
import { at, serverBinary } from '../../core/paths.ts';
import {
  openExecutable,
  openProbes,
  closeAllProbes,
  watchExit,
  loadedProgramIds,
  programsAndLinks,
  linksReleased,
  type Probe,
  type TraceEvent,
  type TracedExecutable,
} from '../../bpf/ts/index.ts';
import { openProbe } from '../../bpf/ts/probes.ts';
import { stallMeter } from '../../core/stall-meter.ts';
import { tracerChild, waitGone, sleep, closeAndCollect } from '../support/kernel.ts';
import { eventJson } from '../../bpf/ts/values.ts';

const dir = mkdtempSync(join(tmpdir(), 'lab-tracer-'));
chmodSync(dir, 0o755); // the unprivileged test runs as nobody
const binary = join(dir, 'server');
let exe: TracedExecutable;

before(async () => {
  copyFileSync(serverBinary, binary);
  exe = await openExecutable(binary);
});
after(() => {
  closeAllProbes();
  rmSync(dir, { recursive: true, force: true });
});

/** lab_entry, lab_ret, lab_exit, and lab_entry and lab_ret again as uprobe_multi programs (a program is one kind or the other). */
const PROGRAMS = 5;

/** Reads events until `done` holds (or `ms` pass), leaving the probe open. */
async function eventsUntil(probe: Probe, done: (es: TraceEvent[]) => boolean, ms = 10000): Promise<TraceEvent[]> {
  const out: TraceEvent[] = [];
  const it = probe[Symbol.asyncIterator]();
  const deadline = Date.now() + ms;
  while (!done(out) && Date.now() < deadline) {
    const r = await Promise.race([it.next(), sleep(deadline - Date.now()).then(() => undefined)]);
    if (!r || r.done) break;
    out.push(r.value);
  }
  return out;
}

test("uprobe reads demo's integer argument from the Go register ABI, typed from DWARF: exactly its one parameter", async () => {
  await using srv = await ManagedServer.start({ binary });
  const probe = exe.uprobe('main.demo', { pid: srv.pid });
  assert.equal((await srv.get('/?arg=42')).status, 200);
  const events = await closeAndCollect(probe);
  assert.equal(events.length, 1, eventJson(events));
  const [e] = events;
  assert.equal(e.kind, 'entry');
  assert.equal(e.symbol, 'main.demo');
  assert.deepEqual(e.args, [42n]);
  assert.deepEqual(e.params, [{ name: 'arg', type: 'int' }]);
  assert.equal(e.regs?.args[0], 42n, 'the raw register, for the pages that teach the ABI');
  assert.equal(e.pid, srv.pid);
  assert.match(e.goroutine, /^0x[0-9a-f]{6,}$/);
  assert.equal(e.latency_ns, null);
  assert.ok(probe.closed);
  assert.equal(openProbes().length, 0);
});

test('uretprobe: return value and latency at arg=3, then the server dies at arg=2000 and the tracer reports it', async () => {
  await using srv = await ManagedServer.start({ binary });
  using probe = exe.uretprobe('main.demo', { pid: srv.pid, rets: 1 });
  assert.equal((await srv.get('/?arg=3')).status, 200);
  const first = await eventsUntil(probe, (es) => es.some((e) => e.kind === 'return'));
  const ret = first.find((e) => e.kind === 'return');
  assert.ok(ret, `no return event in ${JSON.stringify(first)}`);
  assert.deepEqual(ret.ret, [3]);
  assert.equal(ret.args[0], 3);
  assert.ok(ret.latency_ns !== null && ret.latency_ns > 0);

  await srv.get('/?arg=2000', 10000);
  const exit = await srv.exited;
  assert.match(exit.stderr, /unexpected return pc/);
  const rest = await eventsUntil(probe, (es) => es.some((e) => e.kind === 'exit'));
  const died = rest.find((e) => e.kind === 'exit');
  assert.ok(died, `no exit event in ${JSON.stringify(rest)}`);
  assert.equal(died.pid, srv.pid);
  assert.equal(died.exit_code, exit.code ?? 0);
  assert.equal(died.signal, 0);
  assert.ok(
    rest.some((e) => e.kind === 'entry' && e.args[0] === 2000),
    "the fatal call's entry was traced",
  );
});

test('ret mode: arg=2000 survives with one call event; 50 concurrent calls pair exactly, no double entries', async () => {
  await using srv = await ManagedServer.start({ binary });
  const calls = exe.returnProbes('main.demo', { pid: srv.pid, rets: 1 });
  const entries = exe.uprobe('main.demo', { pid: srv.pid, args: 1 });
  assert.equal((await srv.get('/?arg=2000')).status, 200);
  const replies = await Promise.all(Array.from({ length: 50 }, () => srv.get('/?arg=5')));
  assert.deepEqual(new Set(replies.map((r) => r.status)), new Set([200]));
  assert.ok(srv.alive);
  const done = await closeAndCollect(calls);
  const entered = await closeAndCollect(entries);

  assert.ok(done.every((e) => e.kind === 'call'));
  const big = done.filter((e) => e.args[0] === 2000);
  assert.equal(big.length, 1);
  assert.deepEqual(big[0].ret, [2000]);
  assert.ok(big[0].latency_ns! > 0);
  const five = done.filter((e) => e.args[0] === 5);
  assert.equal(five.length, 50);
  assert.equal(done.filter((e) => e.latency_ns === null).length, 0, 'unpaired returns');
  assert.ok(five.every((e) => e.ret[0] === 5 && e.ret_site === 0));
  // one entry per call: the entry probe sits past the morestack check
  assert.equal(entered.filter((e) => e.args[0] === 5).length, 50);
  assert.equal(entered.filter((e) => e.args[0] === 2000).length, 1);
});

test("ret mode: a goroutine's later calls pair with their own entries, not an earlier call's (the element is reused)", async () => {
  await using srv = await ManagedServer.start({ binary });
  using calls = exe.returnProbes('main.demo', { pid: srv.pid, rets: 1 });
  // One keep-alive connection after another request: net/http serves them on one goroutine.
  const args = [3, 1, 4, 1, 5, 9, 2, 6];
  for (const n of args) assert.equal((await srv.get(`/?arg=${n}`)).status, 200);
  const done = await eventsUntil(calls, (es) => es.length === args.length);
  assert.deepEqual(
    done.map((e) => e.args[0]),
    args,
  );
  assert.ok(
    done.every((e) => e.ret[0] === e.args[0] && e.latency_ns !== null),
    'each return carries its own entry',
  );
  const perGoroutine = new Map<string, number>();
  for (const e of done) perGoroutine.set(e.goroutine, (perGoroutine.get(e.goroutine) ?? 0) + 1);
  assert.ok(Math.max(...perGoroutine.values()) > 1, `some goroutine made several calls: ${[...perGoroutine.values()]}`);
});

test('ret mode pairs recursive calls by goroutine depth (growStack)', async () => {
  await using srv = await ManagedServer.start({ binary });
  const probe = exe.returnProbes('main.growStack', { pid: srv.pid, args: 1, rets: 1 });
  assert.equal((await srv.get('/?arg=5')).status, 200);
  const calls = await closeAndCollect(probe);
  assert.deepEqual(
    calls.map((e) => e.args[0]),
    [0, 1, 2, 3, 4, 5],
    'innermost call returns first',
  );
  for (const c of calls) assert.equal(c.ret[0], c.args[0], `growStack(${c.args[0]}) returns its depth`);
  for (let i = 1; i < calls.length; i++)
    assert.ok(calls[i].latency_ns! > calls[i - 1].latency_ns!, 'an outer call outlasts the inner one');
  assert.equal(new Set(calls.map((c) => c.goroutine)).size, 1);
});

test('batches() yields the same decoded events as the per-event iterator, in arrays, and ends on close', async () => {
  await using srv = await ManagedServer.start({ binary });
  const one = exe.returnProbes('main.growStack', { pid: srv.pid, args: 1, rets: 1 });
  const many = exe.returnProbes('main.growStack', { pid: srv.pid, args: 1, rets: 1 });
  const batches: TraceEvent[][] = [];
  const reading = (async () => {
    for await (const batch of many.batches()) batches.push(batch);
  })();
  assert.equal((await srv.get('/?arg=300')).status, 200);
  const single = await eventsUntil(one, (es) => es.length === 301);
  while (batches.flat().length < 301) await sleep(20);
  many.close();
  await reading; // close() ends the batch iterator
  one.close();
  assert.ok(
    batches.every((b) => b.length > 0),
    'no empty batch',
  );
  // A raw event's fields are getters over its batch's copy of the record: compared as the plain
  // object it stands for (toJSON, what JSON and util.inspect show).
  const strip = (e: TraceEvent) => {
    const plain = (e as unknown as { toJSON(): TraceEvent }).toJSON();
    assert.equal(plain.symbol, 'main.growStack');
    assert.ok(plain.ts_ns > 0 && plain.pid === srv.pid && plain.goroutine.startsWith('0x'), JSON.stringify(plain));
    return { ...plain, ts_ns: 0, latency_ns: plain.latency_ns === null ? null : 1 };
  };
  assert.deepEqual(batches.flat().map(strip), single.map(strip));
  assert.deepEqual(
    batches.flat().map((e) => e.args[0]),
    Array.from({ length: 301 }, (_, i) => i),
  );
});

test('a per-event reader that stops early leaves the rest of its batch for the next reader, in order', async () => {
  await using srv = await ManagedServer.start({ binary });
  using probe = exe.returnProbes('main.growStack', { pid: srv.pid, args: 1, rets: 1 });
  assert.equal((await srv.get('/?arg=50')).status, 200);
  await sleep(200); // all 51 calls queued, so the first reader takes them as one batch and stops inside it
  const first: number[] = [];
  for await (const e of probe) {
    first.push(Number(e.args[0]));
    if (first.length === 10) break;
  }
  const rest = (await closeAndCollect(probe)).map((e) => e.args[0]);
  assert.deepEqual(
    [...first, ...rest],
    Array.from({ length: 51 }, (_, i) => i),
  );
});

test('entry probes sit past the stack check: morestack restarts fire an offset-0 probe twice, ours once', async () => {
  await using srv = await ManagedServer.start({ binary });
  // growStack(2000) recurses 2001 times and grows the goroutine stack several times on the way.
  const atZero = openProbe(
    { ...exe.plan('main.growStack', 'uprobe'), entryOffset: exe.func('main.growStack').fileOffset },
    { pid: srv.pid, args: 1 },
  );
  const entries = exe.uprobe('main.growStack', { pid: srv.pid, args: 1 });
  const calls = exe.returnProbes('main.growStack', { pid: srv.pid, args: 1, rets: 1 });
  assert.equal((await srv.get('/?arg=2000')).status, 200);
  const zero = await closeAndCollect(atZero);
  const entered = await closeAndCollect(entries);
  const done = await closeAndCollect(calls);
  assert.ok(zero.length > 2001, `offset 0 fired ${zero.length} times for 2001 calls (morestack restarts)`);
  assert.equal(entered.length, 2001);
  assert.equal(done.length, 2001);
  assert.ok(
    done.every((c) => c.latency_ns !== null && c.ret[0] === c.args[0]),
    'every call paired with its own entry, though the stack moved',
  );
  assert.equal(calls.drops(), 0);
});

test('the entry offset skips both branches of a big-frame stack check', async () => {
  const { bodyOffset } = await import('../../bpf/ts/prologue.ts');
  const bytes = readFileSync(binary);
  const code = (name: string) => {
    const f = exe.func(name);
    return bytes.subarray(f.fileOffset, f.fileOffset + 64);
  };
  // main.demo: cmp rsp,[r14+16]; jbe (6 bytes) -> body at 10. runtime.getCPUCount has a frame > 4 KiB:
  // mov r12,rsp; sub r12,N; jb; cmp r12,[r14+16]; jbe -> its body starts with push rbp (0x55).
  assert.equal(bodyOffset(code('main.demo')), 10);
  const big = code('runtime.getCPUCount');
  const off = bodyOffset(big);
  assert.ok(off > 10, `body at ${off}`);
  assert.equal(big[off], 0x55, 'push rbp');
  assert.equal(bodyOffset(code('main.square')), 0, 'a NOSPLIT leaf has no check');
});

test('ret mode tells which RET fired (classify has several) and sees a call that recovered a panic', async () => {
  await using srv = await ManagedServer.start({ binary });
  const sites = exe.retSites('main.classify').sites;
  assert.ok(sites.length > 1);
  const classify = exe.returnProbes('main.classify', { pid: srv.pid, args: 1 });
  const recover = exe.returnProbes('main.recoverInside', { pid: srv.pid, args: 1, rets: 1 });
  for (const n of [0, 7, 2000, 7]) assert.equal((await srv.get(`/classify?arg=${n}`)).status, 200);
  assert.match((await srv.get('/recover?arg=4')).body, /= 8/);
  const c = await closeAndCollect(classify);
  assert.deepEqual(
    c.map((e) => e.args[0]),
    [0, 7, 2000, 7],
  );
  assert.ok(c.every((e) => e.ret_site! >= 0 && e.ret_site! < sites.length && e.latency_ns !== null));
  assert.equal(c[1].ret_site, c[3].ret_site, 'same path, same RET');
  assert.ok(
    new Set(c.map((e) => e.ret_site)).size > 1,
    `different paths leave by different RETs: ${c.map((e) => e.ret_site)}`,
  );
  const r = await closeAndCollect(recover);
  assert.equal(r.length, 1);
  assert.deepEqual([r[0].args[0], r[0].ret[0]], [4, 8]);
});

test('a Go string argument (ptr+len) and two results: wordStats', async () => {
  await using srv = await ManagedServer.start({ binary });
  const entry = exe.uprobe('main.wordStats', { pid: srv.pid, stringArg: 0 });
  const calls = exe.returnProbes('main.wordStats', { pid: srv.pid, stringArg: 0, rets: 2 });
  assert.equal((await srv.get('/words?s=hello')).status, 200);
  const long = 'go '.repeat(40);
  assert.equal((await srv.get(`/words?s=${encodeURIComponent(long)}`)).status, 200);
  const [e1, e2] = await closeAndCollect(entry);
  assert.equal(e1.str, 'hello');
  assert.equal(e1.args[1], 5, 'the length register');
  assert.equal(e2.str, long.slice(0, 64), 'long strings are cut at 64 bytes');
  const [c1, c2] = await closeAndCollect(calls);
  assert.equal(c1.str, 'hello');
  assert.deepEqual(c1.ret, [1, 2]);
  assert.deepEqual(c2.ret, [40, 40]);
});

test('watchExit reports an exit code and a killing signal', async () => {
  const quits = spawn('sh', ['-c', 'sleep 0.5; exit 3']);
  const killed = spawn('sleep', ['30']);
  const [a, b] = [watchExit(quits.pid!), watchExit(killed.pid!)];
  const ids = loadedProgramIds();
  killed.kill('SIGKILL');
  assert.deepEqual(await a, { pid: quits.pid, code: 3, signal: 0 });
  assert.deepEqual(await b, { pid: killed.pid, code: 0, signal: 9 });
  await assert.rejects(watchExit(killed.pid!), /no running process with pid/);
  assert.deepEqual(
    await waitGone(ids),
    { progs: [], links: [] },
    'nothing stays loaded once nothing is watched (after the short linger)',
  );
  assert.deepEqual(loadedProgramIds(), []);
});

test('close() and an exception inside a using block leave no program or link behind', async () => {
  await using srv = await ManagedServer.start({ binary });
  const probe = exe.returnProbes('main.demo', { pid: srv.pid });
  const ids = loadedProgramIds();
  assert.equal(ids.length, PROGRAMS);
  const live = programsAndLinks(ids);
  assert.equal(live.progs.length, PROGRAMS);
  assert.equal(live.links.length, 1 + 1 + 1, 'entry, the RET sites, the exit tracepoint');
  probe.close();
  probe.close(); // idempotent
  assert.deepEqual(await waitGone(ids), { progs: [], links: [] });

  let inside: number[] = [];
  assert.throws(() => {
    using p = exe.uretprobe('main.demo', { pid: srv.pid });
    inside = loadedProgramIds();
    assert.ok(!p.closed);
    throw new Error('boom');
  }, /boom/);
  assert.equal(inside.length, PROGRAMS);
  assert.equal(openProbes().length, 0);
  assert.deepEqual(await waitGone(inside), { progs: [], links: [] });
  assert.ok(srv.alive);
});

test('SIGKILL of a tracing process leaves no program or link behind', async () => {
  await using srv = await ManagedServer.start({ binary });
  const { child, first } = await tracerChild(`
    import { openExecutable, loadedProgramIds } from ${JSON.stringify(at('bpf/ts/index.ts'))};
    const exe = await openExecutable(${JSON.stringify(binary)});
    exe.returnProbes('main.classify', { pid: ${srv.pid} });
    console.log(JSON.stringify(loadedProgramIds()));
    setInterval(() => {}, 1000);
  `);
  const ids = first as number[];
  // uprobe_multi: one link for the entry, one for every RET site, and the exit tracepoint's.
  assert.equal(programsAndLinks(ids).links.length, 1 + 1 + 1, `classify has ${sitesOf('main.classify')} RET sites`);
  child.kill('SIGKILL');
  await new Promise((r) => child.once('exit', r));
  assert.deepEqual(await waitGone(ids), { progs: [], links: [] });
});

const sitesOf = (symbol: string) => exe.retSites(symbol).sites.length;

test('an idle probe does not keep Node alive, and exiting detaches it', async () => {
  await using srv = await ManagedServer.start({ binary });
  const { child, first } = await tracerChild(`
    import { openExecutable, loadedProgramIds } from ${JSON.stringify(at('bpf/ts/index.ts'))};
    const exe = await openExecutable(${JSON.stringify(binary)});
    exe.uprobe('main.demo', { pid: ${srv.pid} });
    console.log(JSON.stringify(loadedProgramIds()));
  `);
  const code = child.exitCode ?? (await new Promise((r) => child.once('exit', (c) => r(c))));
  assert.equal(code, 0);
  const ids = first as number[];
  assert.equal(ids.length, PROGRAMS);
  assert.deepEqual(await waitGone(ids), { progs: [], links: [] });
});

test('clear one-line errors, and the process carries on tracing afterwards', async () => {
  const oneLine = (re: RegExp) => (e: Error) => {
    assert.equal(e.name, 'LabError');
    assert.doesNotMatch(e.message, /\n/);
    assert.match(e.message, re);
    return true;
  };
  await assert.rejects(openExecutable(join(dir, 'nope')), oneLine(/no file at .*nope/));
  await assert.rejects(openExecutable('/etc/passwd'), oneLine(/not an ELF/));
  await assert.rejects(openExecutable('/bin/true'), oneLine(/not a Go binary/));
  assert.throws(() => exe.uprobe('main.demoo'), oneLine(/no function main.demoo .*did you mean main.demo\?/));
  assert.throws(() => exe.returnProbes('main.addOne'), oneLine(/inlined it everywhere.*main\.routes/));
  const stripped = join(dir, 'stripped');
  execFileSync('objcopy', ['--strip-all', binary, stripped]);
  const s = await openExecutable(stripped);
  assert.throws(() => s.uprobe('main.demo'), oneLine(/stripped/));
  const gone = spawn('true');
  await new Promise((r) => gone.once('exit', r));
  assert.throws(() => exe.uprobe('main.demo', { pid: gone.pid }), oneLine(/no running process with pid/));
  assert.throws(() => exe.uprobe('main.demo', { args: 12 }), oneLine(/args: 12/));
  const other = join(dir, 'other-copy');
  copyFileSync(binary, other);
  {
    await using elsewhere = await ManagedServer.start({ binary: other });
    assert.throws(
      () => exe.uprobe('main.demo', { pid: elsewhere.pid }),
      oneLine(/process \d+ does not run .*server \(it runs .*other-copy\)/),
    );
    const viaProc = await openExecutable(`/proc/${elsewhere.pid}/exe`);
    viaProc.uprobe('main.demo', { pid: elsewhere.pid }).close();
  }
  assert.equal(openProbes().length, 0);

  await using srv = await ManagedServer.start({ binary });
  const probe = exe.uprobe('main.demo', { pid: srv.pid });
  await srv.get('/?arg=7');
  assert.equal((await closeAndCollect(probe))[0]?.args[0], 7n);
});

test('without privileges the error names the missing capabilities', () => {
  const script = `import { openExecutable } from ${JSON.stringify(at('bpf/ts/index.ts'))};
    const exe = await openExecutable(${JSON.stringify(binary)});
    try { exe.uprobe('main.demo'); } catch (e) { console.log(e.message); }`;
  const file = join(dir, 'unprivileged.mts');
  writeFileSync(file, script);
  const out = execFileSync(
    'setpriv',
    ['--reuid=65534', '--regid=65534', '--clear-groups', process.execPath, '--import', 'tsx', file],
    {
      cwd: at(),
      encoding: 'utf8',
    },
  );
  assert.match(out, /needs CAP_BPF and CAP_PERFMON \(or CAP_SYS_ADMIN\).*lacks CAP_BPF and CAP_PERFMON/);
  assert.equal(out.trim().split('\n').length, 1);
});

test('a Go 1.19 build traces the same: register-ABI args, ret-mode pairing across stack growth', async () => {
  const { buildServer, goToolchain, oldGo } = await import('../../core/go.ts');
  const old = join(dir, 'server-go1.19');
  copyFileSync(await buildServer(await goToolchain(oldGo)), old);
  const exe19 = await openExecutable(old);
  assert.match(exe19.goVersion ?? '', /^go1\.19/);
  await using srv = await ManagedServer.start({ binary: old });
  const calls = exe19.returnProbes('main.demo', { pid: srv.pid, rets: 1 });
  assert.equal((await srv.get('/?arg=2000')).status, 200);
  await Promise.all([1, 2, 3].map((n) => srv.get(`/?arg=${n}`)));
  const done = await closeAndCollect(calls);
  assert.deepEqual(
    done.map((e) => Number(e.args[0])).sort((a, b) => a - b),
    [1, 2, 3, 2000],
  );
  assert.ok(done.every((e) => e.ret[0] === e.args[0] && e.latency_ns !== null));
});

test('a kernel without uprobes (the PMU hidden in a private mount namespace) gets a clear error', () => {
  const file = join(dir, 'no-uprobes.mts');
  writeFileSync(
    file,
    `import { openExecutable } from ${JSON.stringify(at('bpf/ts/index.ts'))};
    const exe = await openExecutable(${JSON.stringify(binary)});
    try { exe.uprobe('main.demo'); } catch (e) { console.log(e.message); }`,
  );
  const out = execFileSync(
    'unshare',
    [
      '--mount',
      'sh',
      '-c',
      'mount -t tmpfs none /sys/bus/event_source/devices && exec "$0" --import tsx "$1"',
      process.execPath,
      file,
    ],
    {
      cwd: at(),
      encoding: 'utf8',
    },
  );
  assert.match(out, /^this kernel has no uprobe support .* — use a kernel built with CONFIG_UPROBE_EVENTS=y\n$/);
});

test('when the reader stalls, the ring buffer drops and counts what it cannot hold: delivered + dropped = fired', async () => {
  await using srv = await ManagedServer.start({ binary });
  const probe = exe.uprobe('main.growStack', { pid: srv.pid, args: 1 });
  // spawnSync blocks this event loop, so nothing drains while 6 x 10001 calls (~17 MB of events) hit an 8 MiB ring.
  const url = new URL('/?arg=10000', srv.url).href;
  execFileSync('sh', ['-c', 'for i in 1 2 3 4 5 6; do curl -fsS "$0" >/dev/null || exit 1; done', url]);
  const ringDropped = probe.dropCounts().ring;
  // Closing drains what the ring holds into the probe's queue; beyond its limit, those count as the reader's drops.
  const events = await closeAndCollect(probe);
  const dropped = probe.dropCounts();
  assert.ok(ringDropped > 0, 'the stall overflowed the ring buffer');
  assert.equal(dropped.ring, ringDropped, 'the kernel counted nothing more once the load was over');
  assert.equal(events.length + dropped.ring + dropped.reader, 6 * 10001);
  assert.equal(probe.drops(), dropped.ring + dropped.reader, 'drops() still answers after close()');
  assert.ok(srv.alive);
});

test("the event types are generated from the object's BTF: a field added in C appears in TypeScript", async () => {
  const { generate } = await import('../../bpf/codegen/gen-events.ts');
  assert.equal(
    readFileSync(at('bpf/ts/events.gen.ts'), 'utf8'),
    generate(at('bpf/build/entry.bpf.o'), ['lab_event']),
    'events.gen.ts is up to date',
  );
  const header = readFileSync(at('bpf/events.h'), 'utf8').replace(
    '\tchar str[LAB_STR_MAX];',
    '\t__u32 added_in_c;\n\tchar str[LAB_STR_MAX];',
  );
  writeFileSync(join(dir, 'events.h'), header);
  writeFileSync(join(dir, 'probe.bpf.c'), '#include "vmlinux.h"\n#include "events.h"\nstruct lab_event lab_sample;\n');
  const obj = join(dir, 'probe.bpf.o');
  execFileSync('clang', [
    '-O2',
    '-g',
    '-target',
    'bpf',
    '-I',
    dir,
    '-I',
    at('bpf'),
    '-c',
    join(dir, 'probe.bpf.c'),
    '-o',
    obj,
  ]);
  const ts = generate(obj, ['lab_event']);
  assert.match(ts, /^ {2}added_in_c\(at: number\): number \{\n {4}return this\.u32\[\(at \+ \d+\) >> 2\];$/m);
});

test('a binary replaced since it was read: attaching is refused (copied over in place, or renamed over); replaced while attached: reported, and detached when rewritten in place', async () => {
  const { buildServer, goToolchain, oldGo } = await import('../../core/go.ts');
  const other = await buildServer(await goToolchain(oldGo)); // the same program, other code at other offsets
  const oneLine = (re: RegExp) => (e: Error) => {
    assert.equal(e.name, 'LabError');
    assert.doesNotMatch(e.message, /\n/);
    assert.match(e.message, re);
    return true;
  };
  const path = join(dir, 'replaced');
  copyFileSync(binary, path);
  const stale = await openExecutable(path);
  assert.match(stale.identity?.buildId ?? '', /\//, 'the Go build id is recorded');
  copyFileSync(other, path); // cp new over: same inode, new bytes
  assert.throws(
    () => stale.returnProbes('main.demo'),
    oneLine(/replaced was rewritten in place since it was opened.* — open it again/),
  );
  const renamed = join(dir, 'replaced.new');
  copyFileSync(binary, renamed);
  const stale2 = await openExecutable(path);
  renameSync(renamed, path); // a rebuild renamed over it: another inode
  assert.throws(() => stale2.uprobe('main.demo'), oneLine(/replaced was replaced by another file since it was opened/));
  assert.equal(openProbes().length, 0);
  {
    // The process started from the file as it is now is never probed with the old offsets.
    await using srv = await ManagedServer.start({ binary: path });
    assert.throws(() => stale.returnProbes('main.demo', { pid: srv.pid }), /since it was opened/);
    assert.equal((await srv.get('/?arg=2000')).status, 200);
    assert.ok(srv.alive);
  }

  // While attached: a rename is told (the probes stay on the old inode), a rewrite detaches.
  const notices: string[] = [];
  const fresh = await openExecutable(path);
  const probe = fresh.returnProbes('main.demo', { onNotice: (m) => notices.push(m) });
  copyFileSync(other, renamed);
  renameSync(renamed, path);
  for (let i = 0; i < 50 && notices.length === 0; i++) await sleep(100);
  assert.match(
    notices[0] ?? '',
    /replaced by another file while ret main\.demo was attached: the probes stay on the old file/,
  );
  assert.ok(!probe.closed);
  probe.close();
  const inPlace = await openExecutable(path);
  const attached = inPlace.returnProbes('main.demo', { onNotice: (m) => notices.push(m) });
  copyFileSync(binary, path);
  for (let i = 0; i < 50 && !attached.closed; i++) await sleep(100);
  assert.ok(attached.closed, 'a file rewritten under its probes is detached');
  assert.match(notices.at(-1)!, /rewritten in place while ret main\.demo was attached: its probes were detached/);
  await using srv = await ManagedServer.start({ binary: path });
  assert.equal((await srv.get('/?arg=2000')).status, 200);
  assert.ok(srv.alive, 'the process started from the rewritten file runs untouched');
});

test('closing 500 probes never blocks the event loop for more than 50 ms, and every link goes', async () => {
  await using srv = await ManagedServer.start({ binary });
  const probes = Array.from({ length: 500 }, (_, i) =>
    exe.probe(i % 2 ? 'ret' : 'uprobe', 'main.demo', { pid: srv.pid }),
  );
  const ids = loadedProgramIds();
  assert.equal(programsAndLinks(ids).links.length, 250 * 1 + 250 * 2 + 1, 'the probes are attached');
  const meter = stallMeter();
  const started = performance.now();
  for (const p of probes) p.close();
  await Promise.all(probes.map((p) => p.detached));
  const took = performance.now() - started;
  const worst = meter.stop();
  assert.ok(
    worst.own < 50,
    `the event loop was blocked for ${worst.own.toFixed(1)} ms at once while 500 probes closed (in ${took.toFixed(0)} ms; ${worst.wall.toFixed(1)} ms by the wall clock, waits for a CPU included)`,
  );
  await linksReleased();
  assert.deepEqual(
    programsAndLinks(ids).links,
    [],
    "every link is gone, the exit tracepoint's too (the objects linger without links)",
  );
  assert.ok(srv.alive);
});

test('the cookie packer, the enums and the LAB_* constants are generated from bpf/events.h for TypeScript and Go, and round-trip', async () => {
  const { generateConstants, readHeader, generateTs } = await import('../../bpf/codegen/gen-constants.ts');
  const { ts, go } = generateConstants();
  assert.equal(readFileSync(at('bpf/ts/constants.gen.ts'), 'utf8'), ts, 'constants.gen.ts is up to date (./lab build)');
  assert.equal(
    readFileSync(at('bpf/cilium/constants.gen.go'), 'utf8'),
    go,
    'constants.gen.go is up to date (./lab build)',
  );
  const { labCookie, readCookie } = await import('../../bpf/ts/constants.gen.ts');
  const fields = { probe: 65534, retSite: 0xffff, mode: 3, nargs: 9, nrets: 2, strSlot: -1 };
  assert.deepEqual(readCookie(labCookie(fields)), fields);
  assert.equal(labCookie({ ...fields, strSlot: 7 }) >> 56n, 8n, 'STR_SLOT is stored as slot + 1');
  // A field moved in the header's table moves in the generated packer: nothing else to edit.
  const moved = readFileSync(at('bpf/events.h'), 'utf8').replace('X(NRETS, 48, 8, 0)', 'X(NRETS, 48, 4, 0)');
  assert.match(generateTs(readHeader(moved)), /BigInt\(f\.nrets & 0xf\) << 48n/);
});
