import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { basename } from 'node:path';
import { startJupyter } from '../cli/jupyter.ts';
import { CellRunner, codeCells, connect, executeNotebook, notebookPaths, sourceOf, type Notebook } from '../cli/commands/notebooks.ts';
import { alive, bpftoolLinkIds, childrenOf, jupyterServerPid, kernelPids, linkIdsOf, serverChildren } from './jupyter-support.ts';

const outputsText = (nb: Notebook) => JSON.stringify(nb.cells.map((c) => c.outputs ?? []));

test('every notebook executes headless without an error, leaving no server and no probe', async () => {
  const paths = notebookPaths();
  assert.ok(paths.length >= 8, `${paths.length} notebooks`);
  await using j = await startJupyter();
  const jupyterPid = jupyterServerPid(j.url);
  for (const path of paths) {
    const seenServers = new Set<number>();
    const seenLinks = new Set<number>();
    let kernelPid = 0;
    const watch = () => {
      if (!kernelPid) return;
      serverChildren(kernelPid).forEach((p) => seenServers.add(p));
      linkIdsOf(kernelPid).forEach((l) => seenLinks.add(l));
    };
    const run = await executeNotebook(path, j, {
      onCell: () => {
        kernelPid ||= kernelPids(jupyterPid)[0] ?? 0;
        watch();
      },
    });
    assert.deepEqual(run.failures, [], `${basename(path)} failed`);
    assert.ok(kernelPid > 0, 'saw the kernel process');
    assert.ok(!alive(kernelPid), `${basename(path)}: kernel ${kernelPid} outlived its session`);
    for (const p of seenServers) assert.ok(!alive(p), `${basename(path)}: server ${p} outlived the notebook`);
    const left = [...seenLinks].filter((l) => bpftoolLinkIds().has(l));
    assert.deepEqual(left, [], `${basename(path)}: links still attached`);

    const text = outputsText(run.notebook);
    if (basename(path).startsWith('03')) {
      assert.match(text, /unexpected return pc for main\.demo called from 0x7fffffffe000/);
      assert.match(text, /<td[^>]*>entry<\/td><td[^>]*>main\.demo<\/td>(<td[^>]*>[^<]*<\/td>){3}<td[^>]*>2000<\/td>/, 'the live entry event for arg=2000');
    }
    if (basename(path).startsWith('05')) {
      assert.match(text, /server alive: true/);
      assert.match(text, /latency/);
    }
  }
});

test('running a notebook twice in one kernel, then restarting the kernel mid-way, leaves no probe and no server', async () => {
  const path = notebookPaths(['02-'])[0];
  const nb = JSON.parse(readFileSync(path, 'utf8')) as Notebook;
  const cells = codeCells(nb).map(([c]) => sourceOf(c));
  const body = cells.filter((c) => !c.includes('resetLab'));
  assert.ok(body.length < cells.length, 'the notebook ends with resetLab; the test runs it without');
  await using j = await startJupyter();
  const conn = connect(j);
  const session = await conn.open(path);
  const runner = new CellRunner(session.kernel!);
  try {
    const kernel = () => kernelPids(jupyterServerPid(j.url))[0];
    const runAll = async (codes: string[]) => {
      for (const code of codes) {
        const r = await runner.run(code);
        assert.equal(r.status, 'ok', r.text);
      }
    };
    await runAll(body);
    const k1 = kernel();
    const links1 = linkIdsOf(k1);
    const servers1 = serverChildren(k1);
    assert.ok(links1.length > 0, 'the first run attached probes');
    assert.equal(servers1.length, 1, 'the first run started one server');

    await runAll(body);
    const links2 = linkIdsOf(k1);
    const servers2 = serverChildren(k1);
    assert.equal(links2.length, links1.length, 'a second run replaces the probes, it does not add to them');
    // The tracer session's own exit-watch link lives as long as the kernel; every probe link is new.
    const kept = links1.filter((l) => links2.includes(l));
    assert.ok(kept.length <= 1, `links kept across the re-run: ${kept}`);
    assert.deepEqual(links1.filter((l) => !kept.includes(l) && bpftoolLinkIds().has(l)), [], "the first run's probe links are detached");
    assert.equal(servers2.length, 1, 'still one server');
    assert.ok(servers1.every((p) => !alive(p)), "the first run's server was stopped");

    // Mid-way: the server runs and a probe is attached, then the kernel restarts.
    const half = body.findIndex((c) => c.includes('eventTable')) + 1;
    await runAll(body.slice(0, half));
    const links3 = linkIdsOf(k1);
    const servers3 = serverChildren(k1);
    assert.ok(links3.length > 0 && servers3.length === 1);
    await session.kernel!.restart();
    const deadline = Date.now() + 15000;
    while (alive(k1) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
    assert.ok(!alive(k1), 'the old kernel is gone');
    const k2 = kernel();
    assert.notEqual(k2, k1);
    assert.ok([...servers1, ...servers2, ...servers3].every((p) => !alive(p)), 'no server survived the restart');
    assert.deepEqual([...links1, ...links2, ...links3].filter((l) => bpftoolLinkIds().has(l)), [], 'no link survived the restart');
    assert.deepEqual(linkIdsOf(k2), []);
    assert.deepEqual(childrenOf(k2).filter((p) => serverChildren(k2).includes(p)), []);
  } finally {
    runner.dispose();
    await session.shutdown().catch(() => undefined);
    conn.dispose();
  }
});
