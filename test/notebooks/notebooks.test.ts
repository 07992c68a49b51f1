// lab-test: concurrent — its own Jupyter; probes only private server copies; checks only the kernels, servers and links it saw.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { basename } from 'node:path';
import { startJupyter } from '../../engines/services/jupyter.ts';
import { codeCells, type Notebook } from '../../model/notebook-format.ts';
import { notebookPaths } from '../../engines/notebook/io.ts';
import { executeNotebook } from '../../engines/notebook/run.ts';
import { kernelLinkIds, linksHeldBy } from '../../bpf/ts/index.ts';
import { alive, jupyterServerPid, kernelPids, serverChildren } from '../support/jupyter-support.ts';

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
      for (const l of linksHeldBy(kernelPid)) seenLinks.add(l.linkId!);
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
    const left = [...seenLinks].filter((l) => kernelLinkIds().has(l));
    assert.deepEqual(left, [], `${basename(path)}: links still attached`);

    const text = outputsText(run.notebook);
    if (basename(path).startsWith('03')) {
      assert.match(text, /unexpected return pc for main\.demo called from 0x7fffffffe000/);
      assert.match(
        text,
        /<td[^>]*>entry<\/td><td[^>]*>main\.demo\(arg=2000\)<\/td>/,
        'the live entry event for arg=2000, shown as the Go call',
      );
    }
    if (basename(path).startsWith('05')) {
      assert.match(text, /server alive: true/);
      assert.match(text, /latency/);
    }
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
