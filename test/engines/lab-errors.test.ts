// lab-test: concurrent — pure.
/** core/errors.ts: one line for people, a kind for code. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { isLabError, LabError } from '../../core/errors.ts';

test('a LabError reads what went wrong and what to do on one line; code tests its kind, not its text', () => {
  const e = new LabError('main.addOne has no symbol', 'add //go:noinline', { kind: 'inlined' });
  assert.equal(e.message, 'main.addOne has no symbol — add //go:noinline');
  assert.equal(e.what, 'main.addOne has no symbol');
  assert.ok(isLabError(e, 'inlined'));
  assert.ok(isLabError(e));
  assert.ok(!isLabError(new LabError('main.addOne has no symbol: the compiler inlined it everywhere'), 'inlined'));
  assert.ok(!isLabError(new Error('inlined'), 'inlined'));
});
