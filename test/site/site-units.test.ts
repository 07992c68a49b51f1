// lab-test: concurrent — pure functions.
// The site's pure pieces, without a browser: ANSI → HTML, .ipynb → page model, the explorer's steps
// (on the crash the lab recorded; test/forensics.test.ts covers the crash parser itself).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { ansiToHtml } from '../../src/lib/ansi.ts';
import { notebookView } from '../../src/lib/notebook.ts';
import { parseCrash, parseMaps } from '../../model/forensics.ts';
import { explorerModel } from '../../src/components/StackExplorer/model.ts';
import { at } from '../../core/paths.ts';
import type { CrashRecording } from '../../src/lib/data-types.ts';

test('ANSI colours become styled spans and text is HTML-escaped', () => {
  assert.equal(ansiToHtml('a <b> & c'), 'a &lt;b&gt; &amp; c');
  assert.equal(ansiToHtml('\x1b[31mred\x1b[0m plain'), '<span style="color:#cd3131">red</span> plain');
  assert.equal(
    ansiToHtml('\x1b[1;32mok\x1b[39m!'),
    '<span style="font-weight:bold;color:#0dbc79">ok</span><span style="font-weight:bold">!</span>',
  );
  assert.match(ansiToHtml('\x1b[38;5;196mx'), /color:rgb\(255,0,0\)/);
  assert.match(ansiToHtml('\x1b[38;2;1;2;3mx'), /color:rgb\(1,2,3\)/);
  assert.equal(ansiToHtml('\x1b[2Kcleared'), 'cleared');
});

test('a notebook becomes markdown, mermaid and code cells with every kind of recorded output', () => {
  const png = 'iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR4nGNgYGBgAAAABQABpfZFQAAAAABJRU5ErkJggg==';
  const nb = {
    metadata: {
      lab: { recordedAt: '2026-01-02T03:04:05Z', kernel: '6.18.0', go: 'go1.26.0' },
      kernelspec: { name: 'tslab' },
    },
    cells: [
      {
        cell_type: 'markdown',
        source: [
          '# 09 · Title here\n',
          '\n',
          'First paragraph with `code`.\n',
          '\n',
          '```mermaid\n',
          'flowchart LR\n',
          '  A --> B\n',
          '```\n',
        ],
      },
      {
        cell_type: 'code',
        execution_count: 3,
        source: 'console.log(1)',
        outputs: [
          { output_type: 'stream', name: 'stdout', text: ['\x1b[32mgreen\x1b[0m\n'] },
          {
            output_type: 'display_data',
            data: { 'text/html': ['<table><tr><td>x</td></tr></table>'], 'text/plain': 'x' },
          },
          { output_type: 'display_data', data: { 'image/png': png } },
          { output_type: 'execute_result', data: { 'text/plain': '"done"' } },
          {
            output_type: 'error',
            ename: 'Error',
            evalue: 'boom',
            traceback: ['\x1b[31mError: boom\x1b[0m', '    at <cell>'],
          },
        ],
      },
      { cell_type: 'raw', source: 'ignored' },
    ],
  };
  const v = notebookView('09-Title Here.ipynb', JSON.stringify(nb));
  assert.equal(v.slug, '09-title-here');
  assert.equal(v.title, '09 · Title here');
  assert.equal(v.summary, 'First paragraph with code.');
  assert.deepEqual(v.recording, nb.metadata.lab);
  assert.equal(v.kernelName, 'tslab');
  assert.equal(v.cells.length, 2);
  const md = v.cells[0];
  assert.ok(md.kind === 'markdown');
  assert.ok(!JSON.stringify(md).includes('Title here'), 'the title heading is shown twice');
  assert.deepEqual(md.parts[1], { mermaid: 'flowchart LR\n  A --> B' });
  const code = v.cells[1];
  assert.ok(code.kind === 'code');
  assert.equal(code.count, 3);
  assert.deepEqual(
    code.outputs.map((o) => o.kind),
    ['stream', 'html', 'png', 'text', 'error'],
  );
  assert.ok(
    code.outputs[0].kind === 'stream' && code.outputs[0].html.includes('<span style="color:#0dbc79">green</span>'),
  );
  assert.ok(code.outputs[2].kind === 'png' && code.outputs[2].base64 === png);
  // The message first; the frames one click away.
  const error = code.outputs[4];
  assert.ok(error.kind === 'error' && error.html.includes('boom') && !error.html.includes('at &lt;cell&gt;'));
  assert.ok(error.more?.includes('at &lt;cell&gt;'), 'the stack is kept behind the message');
});

test('the stack explorer has a step per stage and every address in it comes from the recording', () => {
  const rec = JSON.parse(readFileSync(at('docs', 'data', 'crash-recording.json'), 'utf8')) as CrashRecording;
  const model = explorerModel(rec)!;
  assert.ok(model.steps.length >= 6);
  const recorded = new Set([...rec.stderr.matchAll(/0x[0-9a-f]+/g)].map((m) => BigInt(m[0])));
  for (const w of parseCrash(rec.stderr, rec.maps)!.words) recorded.add(w.address);
  for (const m of parseMaps(rec.maps)) [m.start, m.end].forEach((a) => recorded.add(BigInt(a)));
  const derived = new Set<bigint>();
  for (const s of model.steps) for (const r of s.rows) if (r.slot) derived.add(BigInt(r.slot.address));
  for (const step of model.steps) {
    const text = JSON.stringify(step);
    for (const m of text.matchAll(/0x[0-9a-f]{5,}/g)) {
      const a = BigInt(m[0]);
      // Return slots are FP-8 of recorded frames; the old stack bound and guard are derived from stack=[lo,hi).
      const fromFrame = recorded.has(a + 8n) || derived.has(a);
      assert.ok(
        recorded.has(a) || fromFrame || step.rows.some((r) => r.kind === 'guard' && r.label.includes(m[0])),
        `${m[0]} in "${step.title}" is not from the recording`,
      );
    }
  }
});
