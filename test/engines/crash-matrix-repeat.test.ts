/** `./lab crash-matrix --repeat N`: a repeated cell records how often each outcome happened in its N runs. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { at } from '../../core/paths.ts';
import { mergeMatrix, readMatrix, type CrashMatrix } from '../../engines/crash-matrix.ts';

test('crash-matrix --repeat 2 on plain × none: the cell carries outcome counts that sum to 2, and nothing is written', () => {
  const recorded = readFileSync(at('docs', 'data', 'crash-matrix.json'), 'utf8');
  const r = spawnSync(
    at('lab'),
    ['crash-matrix', '--trigger=plain', '--probe=none', '--repeat=2', '--go=go', '--json'],
    { encoding: 'utf8', timeout: 180_000 },
  );
  assert.equal(r.status, 0, r.stderr);
  const m = JSON.parse(r.stdout) as CrashMatrix;
  assert.equal(m.cells.length, 1, 'one cell: plain × none on one Go');
  const [cell] = m.cells;
  assert.equal(cell.trigger, 'plain');
  assert.equal(cell.probe, 'none');
  assert.equal(cell.runs, 2);
  assert.ok(cell.outcomes, 'a repeated cell records its outcome counts');
  assert.equal(
    Object.values(cell.outcomes).reduce((a, b) => a + (b ?? 0), 0),
    2,
    JSON.stringify(cell.outcomes),
  );
  assert.equal(cell.outcomes[cell.outcome], 2, 'the unprobed plain call has one outcome in every run');
  assert.equal(cell.rate, (cell.outcomes.crash ?? 0) / 2);
  assert.equal(
    readFileSync(at('docs', 'data', 'crash-matrix.json'), 'utf8'),
    recorded,
    'without --write the recording is untouched',
  );
});

test('crash-matrix --repeat refuses a count that is not a positive whole number, in one line', () => {
  const r = spawnSync(at('lab'), ['crash-matrix', '--repeat=0'], { encoding: 'utf8', timeout: 60_000 });
  assert.notEqual(r.status, 0);
  assert.match(r.stderr, /repeat/);
  assert.doesNotMatch(r.stderr, /\n\s+at /, 'no stack trace');
});

test('the recorded matrix holds 5 runs of each cell that differs between Go versions, on every Go, and a merge keeps them', () => {
  const m = readMatrix(at('docs', 'data', 'crash-matrix.json'));
  assert.ok(m.toolchains.length >= 3, `recorded on ${m.toolchains.join(', ')}`);
  for (const trigger of ['thread-hop', 'recover-inside', 'gc'])
    for (const go of m.toolchains) {
      const c = m.cells.find((x) => x.go === go && x.trigger === trigger && x.probe === 'uretprobe');
      assert.ok(c, `${go} ${trigger} × uretprobe recorded`);
      assert.equal(
        c.runs,
        5,
        `${go} ${trigger} × uretprobe: ./lab crash-matrix --trigger=${trigger} --probe=uretprobe --repeat=5 --write`,
      );
      assert.equal(
        Object.values(c.outcomes ?? {}).reduce((a, b) => a + (b ?? 0), 0),
        5,
      );
      assert.equal(c.rate, (c.outcomes?.crash ?? 0) / 5);
    }
  // A later single run of another cell leaves the repeated cells as they are.
  const other = m.cells.find((c) => c.trigger === 'plain' && c.probe === 'none')!;
  const merged = mergeMatrix(m, { ...m, cells: [other] });
  assert.equal(merged.cells.length, m.cells.length);
  assert.deepEqual(
    merged.cells.filter((c) => c.runs),
    m.cells.filter((c) => c.runs),
  );
});
