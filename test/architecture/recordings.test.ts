/** Committed recordings are made from the committed sources; a stale one names its refresh command. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { describeStale, recordings, staleRecordings } from '../../engines/recordings.ts';

test('every committed recording matches the sources it was made from', () => {
  assert.ok(recordings.length >= 2);
  const stale = staleRecordings().map(describeStale);
  assert.deepEqual(stale, [], stale.join('\n'));
});
