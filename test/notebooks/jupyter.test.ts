// lab-test: concurrent — its own Jupyters on free ports; looks only for its own token.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import {
  jupyterEnv,
  jupyterPath,
  startJupyter,
  tslabKernelJson,
  tslabKernelLauncher,
} from '../../engines/services/jupyter.ts';
import { at } from '../../core/paths.ts';
import { alive, jupyterServerPid, kernelPids, pids } from '../support/jupyter-support.ts';
import { CellRunner, connect } from '../../engines/notebook/kernel-client.ts';
import { tracerChild } from '../support/kernel.ts';

test("the tslab kernelspec is project-local and starts the project's tslab by absolute path", () => {
  assert.ok(tslabKernelJson().startsWith(at('.lab') + '/'), tslabKernelJson());
  const spec = JSON.parse(readFileSync(tslabKernelJson(), 'utf8')) as { argv: string[] };
  assert.ok(spec.argv.includes(tslabKernelLauncher), spec.argv.join(' '));
  assert.ok(
    spec.argv.every((a) => a.startsWith('/') || a.startsWith('-') || !a.includes('/')),
    spec.argv.join(' '),
  );
  const list = execFileSync(at('.venv', 'bin', 'jupyter'), ['kernelspec', 'list'], {
    env: jupyterEnv(),
    encoding: 'utf8',
  });
  assert.match(list, new RegExp(`tslab\\s+${jupyterPath()}/kernels/tslab`));
});

test('Jupyter listens on 127.0.0.1 only and refuses requests without its token', async () => {
  await using j = await startJupyter();
  const url = new URL(j.url);
  assert.equal(url.hostname, '127.0.0.1');
  const listening = execFileSync('ss', ['-Hltn', `sport = :${url.port}`], { encoding: 'utf8' });
  const locals = [...listening.matchAll(/^\S+\s+\d+\s+\d+\s+(\S+):\d+/gm)].map((m) => m[1]);
  assert.deepEqual([...new Set(locals)], ['127.0.0.1'], listening);

  for (const path of ['api/kernels', 'api/sessions', 'api/contents/notebooks']) {
    const anonymous = await fetch(new URL(path, j.url));
    assert.equal(anonymous.status, 403, `${path} without token → ${anonymous.status}`);
    const wrong = await fetch(new URL(path, j.url), { headers: { Authorization: 'token not-the-token' } });
    assert.equal(wrong.status, 403, `${path} with a wrong token → ${wrong.status}`);
    const right = await fetch(new URL(path, j.url), { headers: { Authorization: `token ${j.token}` } });
    assert.equal(right.status, 200, `${path} with the token → ${right.status}`);
  }
  // Live cells of the docs site (a loopback origin) may call it with the token; a browser page from any other
  // origin gets no CORS grant, so it cannot read the answers (nor does it know the token).
  const fromOrigin = (origin: string) =>
    fetch(new URL('api/kernels', j.url), { headers: { Origin: origin, Authorization: `token ${j.token}` } });
  const site = await fromOrigin('http://127.0.0.1:3000');
  assert.equal(site.status, 200);
  assert.equal(site.headers.get('access-control-allow-origin'), 'http://127.0.0.1:3000');
  const elsewhere = await fromOrigin('http://example.com');
  assert.equal(elsewhere.headers.get('access-control-allow-origin'), null);

  const start = await fetch(new URL('api/kernels', j.url), { method: 'POST', body: JSON.stringify({ name: 'tslab' }) });
  assert.equal(start.status, 403, 'starting a kernel without the token must be refused');
  assert.notEqual(j.token.length, 0);
});

test("the tslab kernel runs TypeScript (1+1) through the lab's kernel client (@jupyterlab/services), uncoloured whatever the caller's terminal asks, and stop() ends it", async () => {
  // What node:test gives its children under a terminal: the kernel must not inherit it.
  const callerColour = process.env.FORCE_COLOR;
  process.env.FORCE_COLOR = '1';
  const j = await startJupyter().finally(() => {
    if (callerColour === undefined) delete process.env.FORCE_COLOR;
    else process.env.FORCE_COLOR = callerColour;
  });
  const conn = connect(j);
  let kernelPid = 0;
  try {
    const runner = new CellRunner(await conn.startKernel());
    const reply = await runner.run('const n: number = 1 + 1; console.log("logged", n); n');
    runner.dispose();
    assert.equal(reply.status, 'ok');
    assert.equal(reply.text.trim(), 'logged 2\n2');
    const pids = kernelPids(jupyterServerPid(j.url));
    assert.equal(pids.length, 1, `one tslab kernel process, found ${pids.length}`);
    kernelPid = pids[0];
  } finally {
    conn.dispose(); // its polls would keep the process alive
    await j.stop();
  }
  assert.ok(!alive(kernelPid), `kernel ${kernelPid} still runs after stop()`);
  await assert.rejects(fetch(new URL('api/status', j.url)), 'the server still answers after stop()');
});

/** Every file under dir but `skip` (a directory we may not enter is skipped: nobody else may either). */
function filesUnder(dir: string, skip: string[] = []): string[] {
  if (skip.includes(dir)) return [];
  try {
    return readdirSync(dir, { withFileTypes: true }).flatMap((e) =>
      e.isDirectory() ? filesUnder(join(dir, e.name), skip) : e.isFile() ? [join(dir, e.name)] : [],
    );
  } catch {
    return [];
  }
}

test('the token is on no command line, in no file another user can read, and terminals are off', async () => {
  await using j = await startJupyter();
  const cmdlines = pids().map((p) => {
    try {
      return readFileSync(`/proc/${p}/cmdline`, 'utf8');
    } catch {
      return '';
    }
  });
  assert.ok(
    cmdlines.some((c) => c.includes('jupyter-lab')),
    'no jupyter-lab process seen',
  );
  assert.deepEqual(
    cmdlines.filter((c) => c.includes(j.token)),
    [],
    'the token is on a command line',
  );

  // A file holding the token must be the owner's alone, and so must every directory on the way to it.
  // Not the container image store under .lab/container: Jupyter writes nothing there, and containers
  // come and go under it while this runs.
  const holders = [...filesUnder(at('.lab'), [at('.lab', 'container')]), ...filesUnder(j.runtimeDir)].filter((f) => {
    try {
      return readFileSync(f, 'utf8').includes(j.token);
    } catch {
      return false; // gone since it was listed
    }
  });
  assert.ok(
    holders.some((f) => /jpserver-\d+\.json$/.test(f)),
    `Jupyter wrote no runtime file with its token: ${holders.join(', ')}`,
  );
  for (const f of holders)
    assert.equal(statSync(f).mode & 0o077, 0, `${f} is readable by others (${(statSync(f).mode & 0o777).toString(8)})`);
  for (const dir of [jupyterEnv().JUPYTER_RUNTIME_DIR!, j.runtimeDir])
    assert.equal(statSync(dir).mode & 0o077, 0, `the runtime directory ${dir} is open to others`);

  const headers = { Authorization: `token ${j.token}` };
  const terminals = await fetch(new URL('api/terminals', j.url), { method: 'POST', headers });
  assert.equal(
    terminals.status,
    404,
    `POST api/terminals with the token → ${terminals.status} (terminals must be off)`,
  );
  assert.equal((await fetch(new URL('api/status', j.url), { headers })).status, 200);
});

test('terminals only when asked for', async () => {
  await using j = await startJupyter({ terminals: true });
  const list = await fetch(new URL('api/terminals', j.url), { headers: { Authorization: `token ${j.token}` } });
  assert.equal(list.status, 200);
});

/** Waits for `done` to hold, checking every 100 ms; false when it did not within `ms`. */
async function eventually(done: () => boolean, ms: number): Promise<boolean> {
  for (const end = Date.now() + ms; !done(); await new Promise((r) => setTimeout(r, 100)))
    if (Date.now() > end) return false;
  return true;
}

test('a kernel ends with its Jupyter even when Jupyter is killed outright in a busy cell, and the process that started Jupyter still ends', {
  timeout: 300_000,
}, async () => {
  // As `./lab start` met it: Jupyter killed (the OOM killer), its kernel busy; after stop() the command must
  // end by itself, nothing of Jupyter's holding it up.
  const { child, first } = await tracerChild(`
    import { startJupyter } from ${JSON.stringify(at('engines/services/jupyter.ts'))};
    import { CellRunner, connect } from ${JSON.stringify(at('engines/notebook/kernel-client.ts'))};
    import { jupyterServerPid, kernelPids } from ${JSON.stringify(at('test/support/jupyter-support.ts'))};
    // @jupyterlab/services logs its WebSockets: the first line is ours.
    for (const level of ['log', 'info', 'debug'] as const) console[level] = () => {};
    const j = await startJupyter();
    const conn = connect(j);
    const runner = new CellRunner(await conn.startKernel());
    await runner.run('1');
    // A cell that never yields: the kernel's main thread handles no signal.
    void runner.run('while (true) {}', { timeoutMs: Number.POSITIVE_INFINITY }).catch(() => undefined);
    const server = jupyterServerPid(j.url);
    const [kernel] = kernelPids(server);
    process.stdout.write(JSON.stringify({ kernel }) + '\\n');
    process.kill(server, 'SIGKILL');
    conn.dispose();
    await j.stop();
  `);
  const { kernel } = first as { kernel: number };
  assert.ok(kernel > 0, 'a tslab kernel ran');
  const code = child.exitCode ?? (await new Promise((r) => child.once('exit', (c) => r(c))));
  assert.equal(code, 0, 'the process that ran Jupyter ended by itself after stop()');
  assert.ok(await eventually(() => !alive(kernel), 30_000), `kernel ${kernel} outlived its Jupyter`);
});

test('another user can neither reach a kernel nor subscribe to its outputs: no TCP port, Unix sockets in a private directory', async () => {
  await using j = await startJupyter();
  const conn = connect(j);
  try {
    const runner = new CellRunner(await conn.startKernel());
    assert.equal((await runner.run('"secret output"')).status, 'ok');
    runner.dispose();
    const [kernel] = kernelPids(jupyterServerPid(j.url));
    const listening = (proto: string) =>
      execFileSync('ss', ['-Hlp', proto], { encoding: 'utf8' })
        .split('\n')
        .filter((l) => l.includes(`pid=${kernel},`));
    assert.deepEqual(listening('-tn'), [], 'the kernel listens on TCP');
    const sockets = listening('-x').map((l) => l.split(/\s+/)[4]);
    assert.equal(sockets.length, 5, `the kernel's five channels as Unix sockets: ${sockets.join(' ')}`);
    // Connecting to each: root can (the probe works), nobody is refused.
    const tryConnect = `
import socket, sys
for path in sys.argv[1:]:
    s = socket.socket(socket.AF_UNIX)
    try:
        s.connect(path); print("connected")
    except OSError as e:
        print(type(e).__name__)
`;
    const connectAs = (...user: string[]) =>
      execFileSync('setpriv', [...user, '/usr/bin/python3', '-c', tryConnect, ...sockets], { encoding: 'utf8' })
        .trim()
        .split('\n');
    assert.deepEqual(connectAs(), Array(5).fill('connected'), 'root reaches its own kernel');
    assert.deepEqual(
      connectAs('--reuid=nobody', '--regid=nogroup', '--clear-groups'),
      Array(5).fill('PermissionError'),
      'nobody reached a channel of the kernel',
    );
  } finally {
    conn.dispose();
  }
});
