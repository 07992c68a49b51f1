import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { jupyterEnv, jupyterPath, startJupyter, tslabBinary, tslabKernelJson } from '../engines/services/jupyter.ts';
import { at } from '../core/paths.ts';
import { alive, jupyterServerPid, kernelPids, managers } from './jupyter-support.ts';

test('the tslab kernelspec is project-local and points at the project tslab by absolute path', () => {
  assert.ok(tslabKernelJson().startsWith(at('.lab') + '/'), tslabKernelJson());
  const spec = JSON.parse(readFileSync(tslabKernelJson(), 'utf8')) as { argv: string[] };
  assert.equal(spec.argv[0], tslabBinary);
  const list = execFileSync(at('.venv', 'bin', 'jupyter'), ['kernelspec', 'list'], { env: jupyterEnv(), encoding: 'utf8' });
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
  const fromOrigin = (origin: string) => fetch(new URL('api/kernels', j.url), { headers: { Origin: origin, Authorization: `token ${j.token}` } });
  const site = await fromOrigin('http://127.0.0.1:3000');
  assert.equal(site.status, 200);
  assert.equal(site.headers.get('access-control-allow-origin'), 'http://127.0.0.1:3000');
  const elsewhere = await fromOrigin('http://example.com');
  assert.equal(elsewhere.headers.get('access-control-allow-origin'), null);

  const start = await fetch(new URL('api/kernels', j.url), { method: 'POST', body: JSON.stringify({ name: 'tslab' }) });
  assert.equal(start.status, 403, 'starting a kernel without the token must be refused');
  assert.notEqual(j.token.length, 0);
});

test('the tslab kernel runs TypeScript (1+1) through @jupyterlab/services, and stop() ends it', async () => {
  const j = await startJupyter();
  const { kernelManager, sessions } = managers(j);
  let kernelPid = 0;
  try {
    const kernel = await kernelManager.startNew({ name: 'tslab' });
    const out: string[] = [];
    const future = kernel.requestExecute({ code: 'const n: number = 1 + 1; n' });
    future.onIOPub = (m) => {
      if (m.header.msg_type === 'stream') out.push((m.content as { text: string }).text);
    };
    const reply = await future.done;
    assert.equal(reply.content.status, 'ok');
    assert.equal(out.join('').trim(), '2');
    const pids = kernelPids(jupyterServerPid(j.url));
    assert.equal(pids.length, 1, `one tslab kernel process, found ${pids.length}`);
    kernelPid = pids[0];
  } finally {
    // Their polls would keep the process alive.
    sessions.dispose();
    kernelManager.dispose();
    await j.stop();
  }
  assert.ok(!alive(kernelPid), `kernel ${kernelPid} still runs after stop()`);
  await assert.rejects(fetch(new URL('api/status', j.url)), 'the server still answers after stop()');
});
