// lab-test: concurrent — its own Jupyter; probes only private server copies; checks only the kernels, servers and links it saw.
// Every notebook runs twice top to bottom in one kernel: the first run without its final resetLab, so
// that what a run leaves is what the second run must replace; the second run whole, so that its
// resetLab and the kernel's end leave nothing. (The restart mid-way is in notebooks-rerun.test.ts, so
// that the two overlap in ./lab test; ./lab notebooks' own runner is tested by notebooks-helpers.)
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

test('every notebook, run twice in one kernel: no error, the second run replaces the probes and servers of the first, and nothing is left', async () => {
  const paths = notebookPaths();
  assert.ok(paths.length >= 8, `${paths.length} notebooks`);
  await using j = await startJupyter();
  const conn = connect(j);
  const seenKernels = new Set<number>();
  try {
    for (const path of paths) {
      const name = basename(path);
      const cells = codeCells(JSON.parse(readFileSync(path, 'utf8')) as Notebook).map(([c]) => sourceOf(c));
      const body = cells.filter((c) => !c.includes('resetLab'));
      const resets = cells.filter((c) => c.includes('resetLab'));
      const session = await conn.open(path);
      const runner = new CellRunner(session.kernel!);
      const kernel = kernelPids(jupyterServerPid(j.url)).find((p) => !seenKernels.has(p))!;
      assert.ok(kernel > 0, `${name}: saw no kernel process`);
      seenKernels.add(kernel);
      const servers = new Set<number>();
      const links = new Set<number>();
      const watch = () => {
        serverChildren(kernel).forEach((p) => servers.add(p));
        for (const l of linksHeldBy(kernel)) links.add(l.linkId!);
      };
      const runAll = async (code: string[], round: number) => {
        const ids = [];
        for (const source of code) {
          const r = await runner.run(source);
          watch();
          assert.equal(r.status, 'ok', `${name} run ${round}: ${r.text.slice(-1500)}`);
          ids.push(r.id);
        }
        return ids;
      };
      const held = () => ({ links: linksHeldBy(kernel).map((l) => l.linkId!), servers: serverChildren(kernel) });
      let outputs = '';
      try {
        await runAll(body, 1);
        const first = held();
        const ids = await runAll(body, 2);
        const second = held();
        ids.push(...(await runAll(resets, 2)));
        // Read last: a live table made by one cell keeps updating while later cells run.
        outputs = JSON.stringify(ids.map((id) => runner.outputsOf(id)));
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
        if (resets.length > 0) assert.deepEqual(serverChildren(kernel), [], `${name}: a server outlived resetLab`);
      } finally {
        runner.dispose();
        await session.shutdown().catch(() => undefined);
      }
      const deadline = Date.now() + 15_000;
      while (alive(kernel) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
      assert.ok(!alive(kernel), `${name}: kernel ${kernel} outlived its session`);
      for (const p of servers) assert.ok(!alive(p), `${name}: server ${p} outlived the notebook`);
      assert.deepEqual(
        [...links].filter((l) => kernelLinkIds().has(l)),
        [],
        `${name}: links still attached`,
      );
      if (name.startsWith('03')) {
        assert.match(outputs, /unexpected return pc for main\.demo called from 0x7fffffffe000/);
        assert.match(
          outputs,
          /<td[^>]*>entry<\/td><td[^>]*>main\.demo\(arg=2000\)<\/td>/,
          'the live entry event for arg=2000, shown as the Go call',
        );
      }
      if (name.startsWith('05')) {
        assert.match(outputs, /server alive: true/);
        assert.match(outputs, /latency/);
      }
    }
  } finally {
    conn.dispose();
  }
});

test('the committed notebooks carry recorded outputs of a real run', () => {
  for (const path of notebookPaths()) {
    const nb = JSON.parse(readFileSync(path, 'utf8')) as Notebook;
    const lab = nb.metadata.lab as { recordedAt?: string; kernel?: string; go?: string } | undefined;
    assert.ok(lab?.recordedAt && lab.kernel && lab.go, `${basename(path)}: metadata.lab = ${JSON.stringify(lab)}`);
    for (const [c, i] of codeCells(nb))
      assert.ok(c.execution_count, `${basename(path)} cell ${i} was not executed when recorded`);
  }
  const nb03 = readFileSync(notebookPaths(['03-'])[0], 'utf8');
  assert.match(nb03, /unexpected return pc for main\.demo called from 0x7fffffffe000/);
  assert.match(readFileSync(notebookPaths(['05-'])[0], 'utf8'), /latency/);
});
