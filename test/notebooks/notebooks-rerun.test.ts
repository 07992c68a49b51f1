// lab-test: concurrent — its own Jupyters; probes only private server copies; checks only the kernels, servers and links it saw.
// A kernel restarted mid-way through a notebook: what the run had attached and started goes with the
// old kernel. (Apart from notebooks.test.ts, so that the two overlap in ./lab test.)
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { startJupyter } from '../../engines/services/jupyter.ts';
import { codeCells, sourceOf, type Notebook } from '../../model/notebook-format.ts';
import { notebookPaths } from '../../engines/notebook/io.ts';
import { CellRunner, connect } from '../../engines/notebook/kernel-client.ts';
import { kernelLinkIds, linksHeldBy } from '../../bpf/ts/index.ts';
import { alive, jupyterServerPid, kernelPids, serverChildren } from '../support/jupyter-support.ts';

test('restarting the kernel mid-way through a notebook leaves no probe and no server', async () => {
  const path = notebookPaths(['02-'])[0];
  const nb = JSON.parse(readFileSync(path, 'utf8')) as Notebook;
  const body = codeCells(nb).map(([c]) => sourceOf(c));
  await using j = await startJupyter();
  const conn = connect(j);
  const session = await conn.open(path);
  const runner = new CellRunner(session.kernel!);
  try {
    // Mid-way: the server runs and a probe is attached (and events flow), then the kernel restarts.
    const half = body.findIndex((c) => c.includes('waitFor')) + 1;
    for (const code of body.slice(0, half)) assert.equal((await runner.run(code)).status, 'ok');
    const k1 = kernelPids(jupyterServerPid(j.url))[0];
    const links = linksHeldBy(k1).map((l) => l.linkId!);
    const servers = serverChildren(k1);
    assert.ok(links.length > 0 && servers.length === 1, `mid-way: ${links.length} links, ${servers.length} servers`);
    await session.kernel!.restart();
    const deadline = Date.now() + 15000;
    while (alive(k1) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
    assert.ok(!alive(k1), 'the old kernel is gone');
    assert.ok(
      servers.every((p) => !alive(p)),
      'no server survived the restart',
    );
    assert.deepEqual(
      links.filter((l) => kernelLinkIds().has(l)),
      [],
      'no link survived the restart',
    );
    const k2 = kernelPids(jupyterServerPid(j.url))[0];
    assert.ok(k2 && k2 !== k1, 'a new kernel runs');
    assert.deepEqual(
      linksHeldBy(k2).map((l) => l.linkId!),
      [],
    );
    assert.deepEqual(serverChildren(k2), []);
    // And the restarted kernel runs the notebook again from the top.
    for (const code of body) assert.equal((await runner.run(code)).status, 'ok');
  } finally {
    runner.dispose();
    await session.shutdown().catch(() => undefined);
    conn.dispose();
  }
});
