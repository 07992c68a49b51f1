/**
 * Every way a tracing process can end must leave nothing attached: the exit
 * paths not covered next to the features they belong to (close, using,
 * SIGKILL and idle exit are in tracer.test.ts; kernel restart and interrupt in
 * the notebook tests).
 */
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { copyFileSync, mkdtempSync, rmSync, chmodSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ManagedServer } from '../../engines/managed-server.ts';
import { at, serverBinary } from '../../core/paths.ts';
import { openExecutable, loadedProgramIds, openProbes, programsAndLinks, tracefsUprobes } from '../../bpf/ts/index.ts';
import { tracerChild, waitGone } from '../support/kernel.ts';
import { leakedProbeBytes } from '../../engines/leftovers.ts';
import { patient } from '../../core/patience.ts';

/** int3s the kernel left in `pid`'s text with no uprobe attached (its memory compared with its file). */
const probeBytesLeftIn = (pid: number) => leakedProbeBytes().filter((l) => l.id.startsWith(`${pid}:`));

const dir = mkdtempSync(join(tmpdir(), 'lab-leaks-'));
chmodSync(dir, 0o755);
const binary = join(dir, 'server');
copyFileSync(serverBinary, binary);
after(() => rmSync(dir, { recursive: true, force: true }));

/** A tracer child's script: prints its program ids, then every event of main.demo's returns in `pid`. */
const streamReturns = (pid: number) => `
  import { openExecutable, loadedProgramIds } from ${JSON.stringify(at('bpf/ts/index.ts'))};
  import { eventJson } from ${JSON.stringify(at('bpf/ts/values.ts'))};
  const exe = await openExecutable(${JSON.stringify(binary)});
  const probe = exe.returnProbes('main.demo', { pid: ${pid} });
  console.log(JSON.stringify(loadedProgramIds()));
  for await (const e of probe) console.log(eventJson(e));
`;

for (const signal of ['SIGTERM', 'SIGINT'] as const) {
  test(`${signal} to a process streaming live events detaches everything`, async () => {
    await using srv = await ManagedServer.start({ binary });
    const { child, first, output } = await tracerChild(streamReturns(srv.pid));
    const ids = first as number[];
    assert.equal(programsAndLinks(ids).links.length, 3, 'entry, RET and exit links are live');
    assert.equal((await srv.get('/?arg=7')).status, 200);
    for (let i = 0; i < 50 && !output().includes('"kind":"call"'); i++) await new Promise((r) => setTimeout(r, 100));
    assert.match(output(), /"kind":"call"/, 'the stream was live when the signal came');
    child.kill(signal);
    await new Promise((r) => child.once('exit', r));
    assert.deepEqual(await waitGone(ids), { progs: [], links: [] });
    assert.ok(srv.alive, 'the traced server is untouched');
    assert.deepEqual(probeBytesLeftIn(srv.pid), [], 'the traced text is as the file has it');
  });
}

// A lab command (./lab bench, pairing, crash-matrix) ends on a signal through the CLI's fallback, and
// the tracer's own fallback closes the probes first: neither may wait for the other for ever.
for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  test(`${signal} to a lab command streaming live events ends it (exit ${signal === 'SIGINT' ? 130 : 143}) and detaches everything`, async () => {
    await using srv = await ManagedServer.start({ binary });
    const { child, first } = await tracerChild(
      `import { endOnSignals } from ${JSON.stringify(at('core/signals.ts'))};\nendOnSignals();\n${streamReturns(srv.pid)}`,
    );
    const ids = first as number[];
    assert.equal(programsAndLinks(ids).links.length, 3, 'entry, RET and exit links are live');
    const exited = new Promise<number | null>((r) => child.once('exit', (code) => r(code)));
    child.kill(signal);
    const code = await Promise.race([
      exited,
      new Promise<'still running'>((r) => setTimeout(r, patient(10_000), 'still running')),
    ]);
    if (code === 'still running') child.kill('SIGKILL');
    assert.equal(code, signal === 'SIGINT' ? 130 : 143, `the command ignored ${signal}`);
    assert.deepEqual(await waitGone(ids), { progs: [], links: [] });
    assert.deepEqual(probeBytesLeftIn(srv.pid), [], 'the traced text is as the file has it');
  });
}

// A tslab kernel handles SIGINT itself: it means "interrupt the running cell". The helpers release
// that cell's probes; a probe an earlier cell attached keeps streaming.
test('SIGINT to a process that handles SIGINT itself (an interrupt) leaves its probes attached', async () => {
  await using srv = await ManagedServer.start({ binary });
  const { child, first, output } = await tracerChild(
    `process.on('SIGINT', () => console.log('"interrupted"'));\n${streamReturns(srv.pid)}`,
  );
  const ids = first as number[];
  const calls = () => output().split('"kind":"call"').length - 1;
  const waitFor = async (ok: () => boolean) => {
    for (let i = 0; i < 50 && !ok(); i++) await new Promise((r) => setTimeout(r, 100));
  };
  assert.equal((await srv.get('/?arg=5')).status, 200);
  await waitFor(() => calls() >= 1);
  child.kill('SIGINT');
  await waitFor(() => output().includes('"interrupted"'));
  assert.match(output(), /"interrupted"/, "the process's own handler ran");
  assert.equal(programsAndLinks(ids).links.length, 3, 'entry, RET and exit links still live after the interrupt');
  assert.equal((await srv.get('/?arg=6')).status, 200);
  await waitFor(() => calls() >= 2);
  assert.equal(calls(), 2, 'the probe still streams after the interrupt');
  child.kill('SIGTERM');
  await new Promise((r) => child.once('exit', r));
  assert.deepEqual(await waitGone(ids), { progs: [], links: [] });
});

// The detach thread unregisters links one after another (~100 ms each); a process that dies meanwhile
// kills it mid-way, the kernel logs "uprobe: node:TID failed to unregister, leaking uprobe" and the int3s
// stay in the traced process's text. Closing many probes and ending at once lands in that window.
for (const ending of ['SIGTERM', 'process.exit'] as const) {
  test(`${ending} while the detach thread unregisters leaves no int3 in the traced process`, async () => {
    await using srv = await ManagedServer.start({ binary });
    const { child, output } = await tracerChild(`
      import { openExecutable } from ${JSON.stringify(at('bpf/ts/index.ts'))};
      const exe = await openExecutable(${JSON.stringify(binary)});
      const probes = ['main.demo', 'main.classify', 'main.wordStats', 'main.scanDuringGC', 'main.panicThrough']
        .map((f) => exe.returnProbes(f, { pid: ${srv.pid} }));
      console.log(JSON.stringify(probes.length));
      setTimeout(() => {
        for (const p of probes) p.close();
        console.log('closing');
        ${ending === 'process.exit' ? 'process.exit(0);' : ''}
      }, 100);
      setInterval(() => {}, 1000);
    `);
    const exited = new Promise((r) => child.once('exit', r));
    if (ending === 'SIGTERM') {
      while (!output().includes('closing')) await new Promise((r) => setTimeout(r, 5));
      child.kill('SIGTERM');
    }
    await exited;
    assert.deepEqual(probeBytesLeftIn(srv.pid), [], 'int3s left in the traced text');
    assert.equal((await srv.get('/?arg=3')).status, 200);
    assert.ok(srv.alive);
  });
}

test('a server that crashes while attached: the probe outlives it, then closes cleanly', async () => {
  await using srv = await ManagedServer.start({ binary });
  const exe = await openExecutable(binary);
  const probe = exe.uretprobe('main.demo', { pid: srv.pid });
  const ids = loadedProgramIds();
  assert.equal((await srv.get('/?arg=3')).status, 200);
  await srv.get('/?arg=2000');
  const exit = await srv.exited;
  assert.match(exit.stderr, /unexpected return pc/);
  assert.ok(!probe.closed, 'the probe is still open after its process died');
  probe.close();
  assert.deepEqual(openProbes(), []);
  assert.deepEqual(await waitGone(ids), { progs: [], links: [] });
});

test('no legacy tracefs uprobe is ever created', () => {
  assert.deepEqual(
    tracefsUprobes().filter((l) => l.includes(binary) || /lab/.test(l)),
    [],
  );
});
