// lab-test: concurrent — reads the recorded matrix and the README only.
/** The matrix's labels come from its counts, and the README's matrix is the recorded one, rendered by the one writer. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { at } from '../../core/paths.ts';
import { matrixCellLabel, worstOutcome } from '../../model/crash-matrix.ts';
import { readMatrix, renderMatrixMarkdown, renderMatrixText } from '../../engines/crash-matrix.ts';

const matrix = readMatrix(at('docs', 'data', 'crash-matrix.json'));

test('a cell that crashed in any run is a crash, "crashes k of n", never ✓', () => {
  assert.equal(
    matrixCellLabel({ outcome: 'survive', runs: 5, outcomes: { survive: 3, crash: 2 } }),
    '✗ crashes 2 of 5 runs',
  );
  assert.equal(worstOutcome({ outcome: 'survive', runs: 5, outcomes: { survive: 3, crash: 2 } }), 'crash');
  assert.equal(matrixCellLabel({ outcome: 'crash', runs: 5, outcomes: { crash: 5 } }), '✗ crashes 5 of 5 runs');
  assert.equal(matrixCellLabel({ outcome: 'survive', runs: 5, outcomes: { survive: 5 } }), '✓ survives');
  assert.equal(matrixCellLabel({ outcome: 'crash' }), '✗ crash');
  assert.equal(matrixCellLabel({ outcome: 'survive-but-wrong' }), '⚠ wrong result');
  assert.equal(
    matrixCellLabel({ outcome: 'survive', runs: 3, outcomes: { survive: 2, 'survive-but-wrong': 1 } }),
    '⚠ wrong in 1 of 3 runs',
  );
});

test('every recorded cell that crashed in a run is labelled as a crash, with its counts', () => {
  for (const c of matrix.cells) {
    const crashed = c.outcomes?.crash ?? (c.outcome === 'crash' ? 1 : 0);
    const label = matrixCellLabel(c);
    if (crashed > 0) {
      assert.ok(!label.includes('✓'), `${c.go} ${c.trigger} × ${c.probe}: ${label}`);
      if (c.runs && c.runs > 1) assert.equal(label, `✗ crashes ${crashed} of ${c.runs} runs`);
    } else assert.ok(!label.includes('crash'), `${c.go} ${c.trigger} × ${c.probe}: ${label}`);
  }
});

/** Table cells compared without the padding a Markdown formatter adds. */
const normalize = (md: string) =>
  md
    .split('\n')
    .map((line) =>
      line.startsWith('|')
        ? line
            .split('|')
            .map((cell) => cell.trim().replace(/^-+$/, '---'))
            .join('|')
        : line.trim(),
    )
    .join('\n')
    .trim();

test("the README's crash matrix is the recording, rendered by renderMatrixMarkdown", () => {
  const readme = readFileSync(at('README.md'), 'utf8');
  const block = /<!-- crash-matrix:start -->\n([\s\S]*?)\n<!-- crash-matrix:end -->/.exec(readme);
  assert.ok(block, 'README.md has its generated crash-matrix block');
  assert.equal(
    normalize(block[1]),
    normalize(renderMatrixMarkdown(matrix)),
    'the README block differs from docs/data/crash-matrix.json: regenerate it (./lab crash-matrix --write, or renderMatrixMarkdown + updateReadmeBlock)',
  );
});

test('the text table uses the same labels', () => {
  const text = renderMatrixText(matrix);
  for (const c of matrix.cells)
    if (c.outcomes?.crash && c.outcome === 'survive') assert.match(text, /✗ crashes \d of \d runs/);
  assert.doesNotMatch(text, /✓ survive\s+\d\/\d/);
});
