// lab-test: concurrent — its own marked process and its own server; it only looks for those.
/**
 * engines/leftovers.ts, what `./lab test` and `./lab doctor` ask: a process of a run outlives it, an orphan
 * of the lab is reparented to PID 1, and the int3 a failed unregistration would leave in a traced process's
 * text (written here the way the kernel writes it: through the process's memory) — each found, then gone.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { closeSync, openSync, readFileSync, readSync, writeSync } from 'node:fs';
import { ManagedServer } from '../../engines/managed-server.ts';
import {
  labLeftovers,
  leakedProbeBytes,
  orphanedProcesses,
  processesOfRun,
  runMarkVariable,
} from '../../engines/leftovers.ts';
import { root, serverBinary } from '../../core/paths.ts';
import { openExecutable } from '../../bpf/ts/index.ts';
import { alive } from '../support/jupyter-support.ts';

/** A `sleep` whose parent has exited (so it is reparented), started in the lab's directory with `env`; its pid. */
function orphanSleep(env: NodeJS.ProcessEnv): number {
  const out = spawnSync('sh', ['-c', 'sleep 300 >/dev/null 2>&1 & echo $!'], { cwd: root, env, encoding: 'utf8' });
  return Number(out.stdout.trim());
}

async function gone(pid: number): Promise<void> {
  process.kill(pid, 'SIGKILL');
  while (alive(pid)) await new Promise((r) => setTimeout(r, 20));
}

test('a process of a test run that outlives the run is found by its mark, wherever it was reparented', async () => {
  const mark = `leftovers-test-${process.pid}`;
  assert.deepEqual(processesOfRun(mark), []);
  const pid = orphanSleep({ ...process.env, [runMarkVariable]: mark });
  try {
    const found = (await labLeftovers({ run: mark })).filter((l) => l.kind === 'process');
    assert.deepEqual(
      found.map((l) => l.id),
      [String(pid)],
    );
    assert.match(found[0].what, /sleep 300/);
    // Working in the lab's directory with PID 1 for a parent: an orphan of the lab for doctor too.
    assert.ok(
      orphanedProcesses().some((l) => l.id === String(pid)),
      'doctor does not see the orphan',
    );
  } finally {
    await gone(pid);
  }
  assert.deepEqual(processesOfRun(mark), []);
});

test('an int3 in a traced process where its file has none is named, with its address', async () => {
  await using srv = await ManagedServer.start({ binary: serverBinary, privateCopy: 'lab-leftovers-' });
  assert.deepEqual(
    leakedProbeBytes().filter((l) => l.id.startsWith(`${srv.pid}:`)),
    [],
  );
  // main.demo's first instruction, as a uprobe the kernel failed to unregister leaves it.
  const nm = spawnSync('go', ['tool', 'nm', srv.binary], { encoding: 'utf8' }).stdout;
  const address = Number.parseInt(/^\s*([0-9a-f]+) T main\.demo$/m.exec(nm)![1], 16);
  const [, start, offset] = /^([0-9a-f]+)-[0-9a-f]+ r-xp ([0-9a-f]+) /m.exec(
    readFileSync(`/proc/${srv.pid}/maps`, 'utf8'),
  )!;
  const original = Buffer.alloc(1);
  const file = openSync(srv.binary, 'r');
  readSync(file, original, 0, 1, address - Number.parseInt(start, 16) + Number.parseInt(offset, 16));
  closeSync(file);
  const mem = openSync(`/proc/${srv.pid}/mem`, 'r+');
  try {
    writeSync(mem, Buffer.from([0xcc]), 0, 1, address);
    const found = leakedProbeBytes().filter((l) => l.id.startsWith(`${srv.pid}:`));
    assert.deepEqual(
      found.map((l) => l.id),
      [`${srv.pid}:${address.toString(16)}`],
    );
    assert.match(found[0].what, new RegExp(`int3 left at 0x${address.toString(16)}`));
    assert.ok(
      (await labLeftovers()).some((l) => l.id === `${srv.pid}:${address.toString(16)}`),
      'a byte that stays is what ./lab doctor and the suite report',
    );
  } finally {
    // The file's byte back: the process runs on as if nothing happened.
    writeSync(mem, original, 0, 1, address);
    closeSync(mem);
  }
  assert.deepEqual(
    leakedProbeBytes().filter((l) => l.id.startsWith(`${srv.pid}:`)),
    [],
  );
  assert.equal((await srv.get('/?arg=3')).status, 200);
});

test('a process that starts a server and is killed outright (SIGKILL) takes the server with it', async () => {
  const script = `
    const { ManagedServer } = await import(${JSON.stringify(`${root}/engines/managed-server.ts`)});
    const s = await ManagedServer.start();
    console.log('server pid ' + s.pid);
    setInterval(() => {}, 1000);`;
  const child = spawn(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], {
    cwd: root,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  child.stdout.on('data', (d) => (out += d));
  child.stderr.on('data', (d) => (out += d));
  try {
    const serverPid = await new Promise<number>((resolve, reject) => {
      const poll = setInterval(() => {
        const m = /server pid (\d+)/.exec(out);
        if (m) {
          clearInterval(poll);
          resolve(Number(m[1]));
        }
      }, 20);
      child.once('exit', (code) => {
        clearInterval(poll);
        reject(new Error(`the starter exited (${code}) before its server listened: ${out}`));
      });
    });
    assert.ok(alive(serverPid), `the server ${serverPid} runs while its starter does: ${out}`);
    child.kill('SIGKILL');
    for (let i = 0; i < 50 && alive(serverPid); i++) await new Promise((r) => setTimeout(r, 100));
    assert.ok(!alive(serverPid), `server ${serverPid} outlived the process that started it`);
  } finally {
    child.kill('SIGKILL');
  }
});

test('the int3s of a probe being closed are no leak: ./lab doctor and the suite wait for the kernel to restore them', async () => {
  await using srv = await ManagedServer.start({ binary: serverBinary, privateCopy: 'lab-leftovers-' });
  const exe = await openExecutable(srv.binary);
  for (let i = 0; i < 8; i++) {
    // ret mode: an int3 at every RET of main.demo, restored only after the link is released.
    const probe = exe.probe('ret', 'main.demo', { pid: srv.pid });
    assert.equal((await srv.get('/?arg=3')).status, 200);
    probe.close();
    const reported = (await labLeftovers()).filter((l) => l.kind === 'probe bytes' && l.id.startsWith(`${srv.pid}:`));
    assert.deepEqual(reported, [], `round ${i}: a closing probe's bytes were reported as leaked`);
    await probe.detached;
  }
  assert.equal((await srv.get('/?arg=3')).status, 200);
});
