/**
 * How a traced program died, said from what happened (classifyDeath), on the real kernel: a Go
 * tool that exits 2 on its own under a uretprobe is not a crash; the runtime's "unexpected return
 * pc … 0x7fffffffe000" throw and a SIGILL at the trampoline are the probe's — each in its words.
 */
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync, chmodSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ManagedServer } from '../../engines/managed-server.ts';
import { classifyDeath } from '../../model/forensics.ts';
import { run } from '../../core/proc.ts';
import { at, serverBinary } from '../../core/paths.ts';
import { openExecutable, closeAllProbes } from '../../bpf/ts/index.ts';
import { sleep } from '../support/kernel.ts';

const dir = mkdtempSync(join(tmpdir(), 'lab-deaths-'));
chmodSync(dir, 0o755);
after(() => {
  closeAllProbes();
  rmSync(dir, { recursive: true, force: true });
});

/** ./lab run-tracer in the background, with its output so far. */
function tracer(...args: string[]) {
  const child = spawn(at('lab'), ['run-tracer', ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  child.stdout!.on('data', (d) => (out += d));
  child.stderr!.on('data', (d) => (out += d));
  const exited = new Promise((r) => child.once('exit', r));
  return { child, output: () => out, exited };
}

async function until(cond: () => boolean, what: string, ms = 30000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!cond() && Date.now() < deadline) await sleep(100);
  assert.ok(cond(), what);
}

test('gofmt exiting 2 on a file with syntax errors, under a uretprobe, is "exited with status 2 — not a probe crash"', async () => {
  const gofmt = join(dir, 'gofmt');
  await run('go', ['build', '-o', gofmt, 'cmd/gofmt'], { env: { ...process.env, CGO_ENABLED: '0' }, capture: true });
  const bad = join(dir, 'bad.go');
  writeFileSync(bad, 'package main\n\nfunc main() {\n\tx := \n}\n');
  const t = tracer('--mode', 'uretprobe', '--symbol', 'go/scanner.(*Scanner).next', '--binary', gofmt);
  try {
    await until(() => /attached uretprobe/.test(t.output()), `the tracer attached: ${t.output()}`);
    const r = spawnSync(gofmt, [bad], { encoding: 'utf8' });
    assert.equal(r.status, 2, 'gofmt exits 2 on its own');
    assert.match(r.stderr, /bad\.go:\d+:\d+: expected/);
    await until(() => /traced process \d+ died/.test(t.output()), `the tracer saw gofmt die: ${t.output()}`);
    assert.match(t.output(), new RegExp(`traced process ${r.pid} died: exited with status 2 — not a probe crash`));
    assert.doesNotMatch(t.output(), /uretprobe crash the lab is about/);
    assert.match(
      t.output(),
      /^go\/scanner\.\(\*Scanner\)\.next\(s=0x[0-9a-f]+\)  [\d.]+µs  g\d+$/m,
      'its calls were traced, typed',
    );
    // The same death from its stderr, as the crash matrix and the notebooks classify it.
    assert.equal(classifyDeath({ code: r.status, signal: r.signal, stderr: r.stderr }).kind, 'exit-status');
  } finally {
    t.child.kill('SIGTERM');
    await t.exited;
  }
});

test('a SIGILL at the uretprobe trampoline (a return on another OS thread) is explained as a SIGILL in the [uprobes] page', async () => {
  const exe = await openExecutable(serverBinary);
  await using srv = await ManagedServer.start({ binary: serverBinary });
  const probe = exe.uretprobe('main.hopThreads', { pid: srv.pid });
  try {
    // A return on another OS thread SIGILLs only when the goroutine really moved (chance decides,
    // see the crash matrix's rates): ask again until it dies, a bounded number of times.
    let exit: Awaited<typeof srv.exited> | undefined;
    for (let i = 0; i < 20 && !exit; i++) {
      await srv.get('/hop?arg=100', 10000).catch(() => undefined);
      exit = await Promise.race([srv.exited, sleep(1000).then(() => undefined)]);
    }
    assert.ok(exit, 'the server survived 20 thread hops under a uretprobe');
    const death = classifyDeath(exit);
    assert.equal(death.kind, 'trampoline-signal', death.summary);
    assert.ok(death.probeCrash);
    assert.match(death.summary, /^SIGILL at PC=0x7fffffffe0[0-9a-f]{2}, in the \[uprobes\] page: /);
    assert.doesNotMatch(death.summary, /unexpected return pc/);
  } finally {
    probe.close();
  }
});

test("run-tracer says SIGILL for the same death (its witnesses saw the runtime's signal handler), and unexpected return pc for stack growth", async () => {
  for (const [path, symbol, said] of [
    ['/hop?arg=100', 'main.hopThreads', /died: SIGILL at PC=0x7fffffffe0[0-9a-f]{2}, in the \[uprobes\] page/],
    ['/?arg=2000', 'main.demo', /died: the Go runtime threw "unknown caller pc"/],
  ] as const) {
    await using srv = await ManagedServer.start({ binary: serverBinary });
    const t = tracer('--mode', 'uretprobe', '--symbol', symbol, '--pid', String(srv.pid));
    try {
      await until(() => /attached uretprobe/.test(t.output()), `the tracer attached: ${t.output()}`);
      // The hop kills only when the goroutine really moved threads: ask again, a bounded number of times.
      let died = false;
      for (let i = 0; i < 20 && !died; i++) {
        await srv.get(path, 10000).catch(() => undefined);
        died = (await Promise.race([srv.exited.then(() => true), sleep(1000).then(() => false)])) as boolean;
      }
      assert.ok(died, `${path} never killed the server under a uretprobe in 20 tries`);
      await until(() => /traced process \d+ died/.test(t.output()), `the tracer saw the server die: ${t.output()}`);
      assert.match(t.output(), said);
      assert.match(t.output(), /this is the uretprobe crash the lab is about/);
    } finally {
      t.child.kill('SIGTERM');
      await t.exited;
    }
  }
});

test('classifyDeath reads what happened, not that something died', () => {
  assert.equal(classifyDeath({ code: 0 }).kind, 'exit-0');
  assert.equal(
    classifyDeath({ code: 1, stderr: 'usage: tool [flags]\n' }).summary,
    'exited with status 1 — not a probe crash (no runtime throw, no fatal signal)',
  );
  assert.equal(classifyDeath({ code: null, signal: 'SIGKILL' }).kind, 'killed');
  const segv =
    'SIGSEGV: segmentation violation\nPC=0x4a1b2c m=0 sigcode=1\n\ngoroutine 1 [running]:\nmain.deref(...)\n\t/x/main.go:5 +0x1\n';
  const own = classifyDeath({ code: 2, stderr: segv });
  assert.equal(own.probeCrash, false, own.summary);
  assert.match(own.summary, /the program's own fault/);
});
