import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { startJupyter } from '../../engines/services/jupyter.ts';
import { notebooksDir } from '../../engines/notebook/io.ts';
import { executeNotebook } from '../../engines/notebook/run.ts';
import { keep, kept, release, releaseAll } from '../../kernel-helpers/registry.ts';
import { LabServer } from '../../kernel-helpers/lab-server.ts';
import { serverBinary } from '../../core/paths.ts';
import { alive } from '../support/jupyter-support.ts';

const code = (source: string) => ({ cell_type: 'code', source, metadata: {}, outputs: [], execution_count: null });

test('./lab notebooks logic fails on a throwing cell and on a type error, and stops at the first failure', async () => {
  const path = join(notebooksDir, `failing-check-${process.pid}.ipynb`);
  const nb = {
    cells: [
      code('const x: number = 2;\nconsole.log("before", x);'),
      code('throw new Error("boom from cell 1");'),
      code('console.log("never");'),
    ],
    metadata: { kernelspec: { name: 'tslab', display_name: 'TypeScript', language: 'typescript' } },
    nbformat: 4,
    nbformat_minor: 5,
  };
  await using j = await startJupyter();
  try {
    writeFileSync(path, JSON.stringify(nb));
    const thrown = await executeNotebook(path, j);
    assert.equal(thrown.failures.length, 1);
    assert.equal(thrown.failures[0].cell, 1);
    assert.match(thrown.failures[0].text, /boom from cell 1/);
    assert.match(JSON.stringify(thrown.notebook.cells[0].outputs), /before 2/);
    assert.deepEqual(thrown.notebook.cells[2].outputs, [], 'the cell after the failure did not run');

    nb.cells = [code('const y: number = "not a number";')];
    writeFileSync(path, JSON.stringify(nb));
    const typeError = await executeNotebook(path, j);
    assert.equal(typeError.failures.length, 1);
    assert.match(typeError.failures[0].text, /not assignable to type 'number'/);
  } finally {
    rmSync(path, { force: true });
  }
});

test('the kernel registry replaces what a name held, and releaseAll stops everything', async () => {
  assert.ok(existsSync(serverBinary), 'build the server first (./lab build)');
  const first = await keep('registry-check', await LabServer.start('registry-check', serverBinary));
  const firstPid = first.pid;
  assert.equal((await first.get('/?arg=5')).status, 200);
  const second = await keep('registry-check', await LabServer.start('registry-check', serverBinary));
  assert.ok(!alive(firstPid), 'keeping a new server under the same name stopped the old one');
  assert.ok(second.alive);
  assert.deepEqual(kept(), ['registry-check']);
  const other = await keep('registry-other', await LabServer.start('registry-other', serverBinary));
  assert.deepEqual((await releaseAll()).sort(), ['registry-check', 'registry-other']);
  assert.ok(!second.alive && !other.alive);
  assert.deepEqual(kept(), []);
  await release('nothing-here'); // releasing an unknown name is a no-op
  assert.ok(!existsSync(second.binary), 'the private copy of the binary is removed');
});
