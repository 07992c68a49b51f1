// lab-test: concurrent — its own Jupyters; probes only private server copies; checks only the kernels, servers and links it saw.
// Notebooks run again in one kernel, and a kernel restarted mid-way: what a run leaves is what the next
// run (or the restart) cleans up. (Apart from notebooks.test.ts, so that the two overlap in ./lab test.)
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { basename } from 'node:path';
import { startJupyter } from '../../engines/services/jupyter.ts';
import { codeCells, sourceOf, type Notebook } from '../../model/notebook-format.ts';
import { notebookPaths } from '../../engines/notebook/io.ts';
import { CellRunner, connect } from '../../engines/notebook/kernel-client.ts';
import { kernelLinkIds, linksHeldBy } from '../../bpf/ts/index.ts';
import { alive, jupyterServerPid, kernelPids, serverChildren } from '../support/jupyter-support.ts';

test('every notebook run twice top to bottom in one kernel replaces, not adds, its probes and servers', async () => {
  await using j = await startJupyter();
  const conn = connect(j);
  try {
    for (const path of notebookPaths()) {
      const name = basename(path);
      const nb = JSON.parse(readFileSync(path, 'utf8')) as Notebook;
      // Without the final resetLab: what a run leaves is what the next run must clean up.
      const body = codeCells(nb)
        .map(([c]) => sourceOf(c))
        .filter((c) => !c.includes('resetLab'));
      const session = await conn.open(path);
      const runner = new CellRunner(session.kernel!);
      try {
        const kernel = kernelPids(jupyterServerPid(j.url)).find((p) => !seenKernels.has(p))!;
        seenKernels.add(kernel);
        const snapshots = [];
        for (let round = 1; round <= 2; round++) {
          for (const code of body) {
            const r = await runner.run(code);
            assert.equal(r.status, 'ok', `${name} round ${round}: ${r.text.slice(-1500)}`);
          }
          snapshots.push({ links: linksHeldBy(kernel).map((l) => l.linkId!), servers: serverChildren(kernel) });
        }
        const [first, second] = snapshots;
        assert.equal(
          second.links.length,
          first.links.length,
          `${name}: links after run 1 ${first.links}, after run 2 ${second.links}`,
        );
        assert.equal(
          second.servers.length,
          first.servers.length,
          `${name}: servers after run 1 ${first.servers}, after run 2 ${second.servers}`,
        );
        assert.ok(
          first.servers.every((p) => !alive(p)),
          `${name}: a server of run 1 is still running`,
        );
        // The tracer session's own exit-watch link lives as long as the kernel; every probe link is new.
        const shared = first.links.filter((l) => second.links.includes(l));
        assert.ok(shared.length <= 1, `${name}: links kept across the re-run: ${shared}`);
        assert.deepEqual(
          first.links.filter((l) => !shared.includes(l) && kernelLinkIds().has(l)),
          [],
          `${name}: run 1 links still attached`,
        );
      } finally {
        runner.dispose();
        await session.shutdown().catch(() => undefined);
      }
    }
  } finally {
    conn.dispose();
  }
});
const seenKernels = new Set<number>();

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
