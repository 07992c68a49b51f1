// lab-test: concurrent — its own Jupyter; probes only private server copies; checks only the kernels, servers and links it saw.
// Half the notebooks run twice in one kernel (test/support/notebooks-twice.ts; the other half is
// notebooks-other-half.test.ts, the restart mid-way notebooks-rerun.test.ts, so that they overlap in
// ./lab test; ./lab notebooks' own runner is tested by notebooks-helpers), and the recordings.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { basename } from 'node:path';
import { codeCells, type Notebook } from '../../model/notebook-format.ts';
import { notebookPaths } from '../../engines/notebook/io.ts';
import { runEachTwice } from '../support/notebooks-twice.ts';

test('half the notebooks, each run twice in one kernel: no error, the second run replaces the probes and servers of the first, and nothing is left', () =>
  runEachTwice(0));

test('the committed notebooks carry recorded outputs of a real run', () => {
  for (const path of notebookPaths()) {
    const nb = JSON.parse(readFileSync(path, 'utf8')) as Notebook;
    const lab = nb.metadata.lab;
    assert.ok(
      lab?.recordedAt && lab.kernel && lab.go && lab.seconds,
      `${basename(path)}: metadata.lab = ${JSON.stringify(lab)}`,
    );
    for (const [c, i] of codeCells(nb))
      assert.ok(c.execution_count, `${basename(path)} cell ${i} was not executed when recorded`);
  }
  const nb03 = readFileSync(notebookPaths(['03-'])[0], 'utf8');
  assert.match(nb03, /unexpected return pc for main\.demo called from 0x7fffffffe000/);
  assert.match(readFileSync(notebookPaths(['05-'])[0], 'utf8'), /latency/);
});
