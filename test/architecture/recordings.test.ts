// lab-test: concurrent — reads the committed recordings and their sources only.
/** Committed recordings are made from the committed sources; a stale one names its refresh command. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { at, root } from '../../core/paths.ts';
import { describeStale, recordings, staleRecordings } from '../../engines/recordings.ts';

test('every committed recording matches the sources it was made from', () => {
  assert.ok(recordings.length >= 2);
  const stale = staleRecordings().map(describeStale);
  assert.deepEqual(stale, [], stale.join('\n'));
});

test('recorded notebook outputs name no directory of the recording machine', () => {
  for (const r of recordings.filter((x) => x.name.startsWith('notebook '))) {
    const outputs = JSON.stringify(
      (JSON.parse(readFileSync(at(r.path), 'utf8')) as { cells: { outputs?: unknown[] }[] }).cells.map(
        (c) => c.outputs ?? [],
      ),
    );
    assert.ok(!outputs.includes(`${root}/`), `${r.path} shows ${root}/ — re-record it with ${r.refresh}`);
    assert.ok(
      !/\/tmp\/lab-[\w-]+\//.test(outputs),
      `${r.path} shows a private /tmp/lab-… path — re-record it with ${r.refresh}`,
    );
  }
});

test('every recording the site draws from (docs/data/) and every script there that writes one is in the recordings list', () => {
  const dir = at('docs', 'data');
  const known = new Set(recordings.map((r) => r.path));
  const unknownData = readdirSync(dir)
    .filter((f) => !f.endsWith('.ts'))
    .map((f) => `docs/data/${f}`)
    .filter((p) => !known.has(p));
  assert.deepEqual(unknownData, [], 'add each to engines/recordings.ts with its inputs and refresh command');
  const refreshes = recordings.map((r) => r.refresh).join('\n');
  const unknownRecorders = readdirSync(dir)
    .filter((f) => f.endsWith('.ts') && /\bwriteFile(Atomic|Sync)?\(/.test(readFileSync(`${dir}/${f}`, 'utf8')))
    .map((f) => `docs/data/${f}`)
    .filter((p) => !refreshes.includes(p));
  assert.deepEqual(unknownRecorders, [], "a recorder is some recording's refresh command in engines/recordings.ts");
});
