/**
 * The lab in a container for one learner, on the real kernel with the real Podman (issue 25): the
 * image is built from its inputs (or found: a second build does nothing and says so), the documented
 * command `./lab container start` runs the whole lab inside it, the container's Jupyter answers a
 * cell that traces the Go server with the lab's helpers, `./lab container doctor` finds kernel, BTF
 * and uprobes ready, and Ctrl-C leaves nothing: no container, no podman or conmon process, no mount.
 */
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { createInterface } from 'node:readline';
import { at, root } from '../../core/paths.ts';
import { allPids, cmdlineOf } from '../../core/procfs.ts';
import { ensureImage, imageName } from '../../engines/container/image.ts';
import { labLabel } from '../../engines/container/lab.ts';
import { podman } from '../../engines/container/podman.ts';
import { CellRunner, connect } from '../../engines/notebook/kernel-client.ts';

const lab = at('lab');
let started: ChildProcess | undefined;

/** Runs ./lab with args to its end: exit code and everything it printed. */
function labRun(args: string[]): Promise<{ code: number; out: string; err: string; pid: number }> {
  return new Promise((resolve) => {
    const child = spawn(lab, args, { cwd: root, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    child.stdout.on('data', (d) => (out += d));
    child.stderr.on('data', (d) => (err += d));
    child.on('close', (code) => resolve({ code: code ?? 1, out, err, pid: child.pid ?? 0 }));
  });
}

/**
 * This checkout's containers that a ./lab of pid `pid` started (named lab-<pid>-<command>: ./lab
 * execs the CLI, so the pid is the one spawned); all of them when no pid is given.
 */
const labContainers = async (pid?: number) =>
  (await podman(['ps', '--all', '--format={{.Names}}', `--filter=label=${labLabel}`], { capture: true }))
    .split('\n')
    .filter((n) => n && (pid === undefined || n.startsWith(`lab-${pid}-`)));

/** What of one container outlives it: its podman and conmon processes (both name it), its root's mount. */
function leftoversOf(name: string, mergedDir: string): string[] {
  const procs = allPids()
    .filter((pid) => pid !== process.pid)
    .map((pid) => ({ pid, args: cmdlineOf(pid) }))
    .filter(({ args }) => /(^|\/)(podman|conmon)( |$)/.test(args.split(' ')[0] ?? '') && args.includes(name))
    .map(({ pid, args }) => `process ${pid}: ${args.slice(0, 120)}`);
  const mounts = readFileSync('/proc/self/mountinfo', 'utf8')
    .split('\n')
    .filter((l) => mergedDir && l.split(' ')[4] === mergedDir)
    .map((l) => `mount: ${l.split(' ')[4]}`);
  return [...procs, ...mounts];
}

after(async () => {
  if (started && started.exitCode === null && started.pid) process.kill(-started.pid, 'SIGKILL');
  const mine = started?.pid ? await labContainers(started.pid).catch(() => []) : [];
  for (const name of mine) await podman(['rm', '--force', name]).catch(() => {});
});

test('the image: built from its inputs, and a second build with the same inputs does nothing, in < 2 s', async () => {
  const first = await labRun(['container', 'build']);
  assert.equal(first.code, 0, first.err);
  assert.match(
    first.err,
    /built localhost\/go-uretprobe-lab:[0-9a-f]{16}|localhost\/go-uretprobe-lab:[0-9a-f]{16} is up to date/,
  );
  const again = await labRun(['container', 'build']);
  assert.equal(again.code, 0, again.err);
  assert.match(again.err, /is up to date: its inputs did not change/);
  // The fastest of three: a loaded machine only slows a lookup down.
  const looks = [await ensureImage(), await ensureImage(), await ensureImage()];
  assert.ok(looks.every((l) => !l.built));
  const image = looks.reduce((a, b) => (a.seconds <= b.seconds ? a : b));
  assert.ok(image.seconds < 2, `the cached build took ${looks.map((l) => l.seconds).join(' s, ')} s`);
  assert.match(image.ref, new RegExp(`^${imageName}:[0-9a-f]{16}$`));
  const latest = await podman(['image', 'inspect', '--format={{.Id}}', `${imageName}:latest`], { capture: true });
  const tagged = await podman(['image', 'inspect', '--format={{.Id}}', image.ref], { capture: true });
  assert.equal(latest, tagged, ':latest is the image of these inputs');
});

test('./lab container doctor: the host kernel has what the lab needs, seen from inside the container', async () => {
  const r = await labRun(['container', 'doctor', '--json']);
  assert.match(r.err, /running: CONTAINERS_CONF=\S+ CONTAINERS_STORAGE_CONF=\S+ podman run --rm/);
  const checks = JSON.parse(r.out) as { name: string; ok: boolean; found: string }[];
  for (const wanted of [/kernel/i, /BTF/, /uprobe/i]) {
    const c = checks.filter((x) => wanted.test(x.name));
    assert.ok(c.length > 0, `doctor has a check matching ${wanted}: ${checks.map((x) => x.name).join(', ')}`);
    for (const x of c) assert.ok(x.ok, `${x.name}: ${x.found}`);
  }
  assert.deepEqual(await labContainers(r.pid), [], 'the doctor container is removed');
});

test('./lab container start: the lab answers a notebook cell that traces its server, and Ctrl-C leaves nothing', async () => {
  started = spawn(lab, ['container', 'start', '--no-app'], {
    cwd: root,
    stdio: ['ignore', 'pipe', 'pipe'],
    detached: true, // its own process group: the test's Ctrl-C reaches it as a terminal's would
  });
  let err = '';
  started.stderr?.on('data', (d) => (err += d));
  const jupyter = await new Promise<{ url: string; token: string }>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no JupyterLab URL within 240 s; stderr:\n${err}`)), 240_000);
    createInterface({ input: started!.stdout! }).on('line', (line) => {
      const m = /JupyterLab\s+(http:\/\/127\.0\.0\.1:\d+\/jupyter\/)lab\?token=([0-9a-f]+)/.exec(line);
      if (m) {
        clearTimeout(timer);
        resolve({ url: m[1], token: m[2] });
      }
    });
    started!.once('exit', (code) => reject(new Error(`./lab container start exited (${code}):\n${err}`)));
  });
  assert.match(err, /running: .*podman run --rm .*--privileged --pid=host --network=host/);
  const [name, ...more] = await labContainers(started.pid);
  assert.ok(name && more.length === 0, 'one container runs the lab');
  const mergedDir = (
    await podman(['inspect', '--format={{.GraphDriver.Data.MergedDir}}', name], { capture: true })
  ).trim();
  assert.ok(readFileSync('/proc/self/mountinfo', 'utf8').includes(` ${mergedDir} `), 'its root is mounted');

  const conn = connect(jupyter);
  const kernel = await conn.startKernel({ cwd: 'notebooks' });
  const runner = new CellRunner(kernel);
  try {
    const sum = await runner.run('const lab = require("../kernel-helpers/load.cjs");\n1 + 1');
    assert.equal(sum.status, 'ok', sum.text);
    assert.equal(sum.text.trim(), '2');
    const traced = await runner.run(
      [
        'const server = await lab.startServer("server");',
        'const exe = await lab.traced(server);',
        'const calls = await lab.attach("demo-ret", () => exe.returnProbes("main.demo", { pid: server.pid }));',
        'const events = lab.eventTable(calls);',
        'await lab.request(server, "/?arg=2000");',
        'await events.waitFor((e) => e.kind === "call" && e.args[0] === 2000n);',
        'console.log(`traced main.demo(2000) in the container; server alive: ${server.alive}`);',
      ].join('\n'),
      { timeoutMs: 120_000 },
    );
    assert.equal(traced.status, 'ok', traced.text);
    assert.match(traced.text, /traced main\.demo\(2000\) in the container; server alive: true/);
  } finally {
    runner.dispose();
    await kernel.shutdown().catch(() => undefined);
    conn.dispose();
  }

  const exited = new Promise<number | null>((resolve) => started!.once('exit', (code) => resolve(code)));
  process.kill(-started.pid!, 'SIGINT');
  const code = await Promise.race([exited, new Promise((r) => setTimeout(() => r('timeout'), 60_000).unref())]);
  assert.equal(code, 0, `./lab container start after Ctrl-C: ${code}\n${err.slice(-2000)}`);
  assert.match(err, /stopped: Jupyter, the site and the demo server are down/);
  assert.deepEqual(await labContainers(started.pid), [], 'no container is left');
  assert.deepEqual(leftoversOf(name, mergedDir), [], 'no podman or conmon process, no mount is left');
});
