// lab-test: concurrent — reads the notebooks, writes only its own temp dir.
// The one notebook format module (model/notebook-format.ts) and its files (io.ts): what the site,
// the workshop and ./lab notebooks all read and write.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  codeCells,
  fileOutput,
  NotebookFormatError,
  outputText,
  parseNotebook,
  plainOutput,
  serializeNotebook,
  sourceOf,
} from '../../model/notebook-format.ts';
import { notebookPaths, readNotebookFile, writeNotebookFile } from '../../engines/notebook/io.ts';
import { LabError } from '../../core/errors.ts';

test('every committed notebook reads and writes back byte for byte (a re-recording changes outputs only)', () => {
  const paths = notebookPaths();
  assert.ok(paths.length >= 8);
  for (const p of paths) {
    const text = readFileSync(p, 'utf8');
    const nb = parseNotebook(text, p);
    assert.ok(codeCells(nb).length > 0, p);
    assert.equal(serializeNotebook(nb), text, p);
  }
});

test('what is not a notebook is refused with its name and the reason', () => {
  assert.throws(
    () => parseNotebook('{', 'a.ipynb'),
    (e) => e instanceof NotebookFormatError && /a\.ipynb is not JSON/.test(e.message),
  );
  assert.throws(() => parseNotebook('[]', 'b.ipynb'), /b\.ipynb has no cells list/);
  assert.throws(
    () => parseNotebook('{"cells":[{"cell_type":"code","source":3}]}', 'c.ipynb'),
    /c\.ipynb: cell 0 is not an nbformat cell/,
  );
  assert.throws(
    () => parseNotebook('{"cells":[{"cell_type":"code","source":"x","outputs":{}}]}'),
    /outputs that are not a list/,
  );
  // A file that is no notebook is a LabError (one line, what to do) for the commands.
  const dir = mkdtempSync(join(tmpdir(), 'lab-nb-'));
  try {
    writeFileSync(join(dir, 'bad.ipynb'), 'not json');
    assert.throws(
      () => readNotebookFile(join(dir, 'bad.ipynb')),
      (e) => e instanceof LabError && /bad\.ipynb is not JSON/.test(e.message),
    );
    assert.throws(
      () => readNotebookFile(join(dir, 'missing.ipynb')),
      (e) => e instanceof LabError && /ENOENT/.test(e.message),
    );
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('outputs: joined for views, lines and no transient part for files, readable text for failures', () => {
  const live = {
    output_type: 'display_data' as const,
    data: { 'text/plain': ['a\n', 'b'], 'application/json': { x: 1 } },
    metadata: {},
    transient: { display_id: 't1' },
  };
  assert.deepEqual((plainOutput(live) as typeof live).data, { 'text/plain': 'a\nb', 'application/json': { x: 1 } });
  assert.equal('transient' in fileOutput(live), false, 'display ids are live only');
  assert.deepEqual(fileOutput({ output_type: 'stream', name: 'stdout', text: 'x\ny\n' }), {
    output_type: 'stream',
    name: 'stdout',
    text: ['x\n', 'y\n'],
  });
  assert.equal(
    outputText([
      { output_type: 'stream', name: 'stdout', text: ['hi\n'] },
      { output_type: 'error', ename: 'TypeError', evalue: 'no', traceback: [] },
    ]),
    'hi\nTypeError: no',
  );
});

test('a notebook is written atomically: whole or not at all, no temporary file left', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'lab-nb-'));
  try {
    const path = join(dir, 'n.ipynb');
    const nb = parseNotebook(
      JSON.stringify({
        cells: [{ cell_type: 'code', source: 'console.log(1)\nconsole.log(2)', metadata: {}, outputs: [] }],
        metadata: {},
        nbformat: 4,
        nbformat_minor: 5,
      }),
    );
    await writeNotebookFile(path, nb);
    assert.deepEqual(readdirSync(dir), ['n.ipynb']);
    const back = readNotebookFile(path);
    assert.deepEqual(back.cells[0].source, ['console.log(1)\n', 'console.log(2)'], 'sources as lines, like Jupyter');
    assert.equal(sourceOf(back.cells[0]), 'console.log(1)\nconsole.log(2)');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
