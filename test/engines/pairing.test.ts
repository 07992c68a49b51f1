import { test } from 'node:test';
import assert from 'node:assert/strict';
import { measurePairing } from '../../engines/pairing.ts';

test('goroutines that hop threads: the goroutine key pairs every call, a thread key gets some wrong or loses them', async () => {
  const p = await measurePairing({ requests: 20 });
  assert.equal(p.calls, 20, 'every request completed one traced call');
  assert.deepEqual(p.goroutineKey, { right: 20, wrong: 0, unpaired: 0 });
  assert.ok(p.movedThreads > 0, 'some calls returned on another thread');
  assert.ok(p.threadKey.wrong + p.threadKey.unpaired >= p.movedThreads, JSON.stringify(p));
  assert.equal(p.threadKey.right + p.threadKey.wrong + p.threadKey.unpaired, 20);
});
