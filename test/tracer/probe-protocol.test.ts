// lab-test: concurrent — pure.
/** bpf/ts/probe-protocol.ts: a 64-bit value crosses the probe service's JSON lines and comes back the same. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { decodeEvent, encodeLine, type Reply } from '../../bpf/ts/probe-protocol.ts';
import type { TraceEvent } from '../../bpf/ts/trace-event.ts';

test('integers and registers travel as decimal strings and are BigInts again on the client', () => {
  const event = {
    kind: 'ret',
    symbol: 'main.echo64',
    args: [9223372036854775807n, 'text'],
    ret: [-9223372036854775808n],
    params: [
      { name: 'v', type: 'int64' },
      { name: 's', type: 'string' },
    ],
    results: [{ name: '~r0', type: 'int64' }],
    regs: { args: [18446744073709551615n], ret: [1n] },
  } as unknown as TraceEvent;
  const line = encodeLine({ op: 'event', id: 3, event });
  assert.ok(line.endsWith('\n') && !line.slice(0, -1).includes('\n'), 'one line');
  assert.match(line, /"9223372036854775807"/);
  const back = JSON.parse(line) as Extract<Reply, { op: 'event' }>;
  const e = decodeEvent(back.event);
  assert.deepEqual(e.args, [9223372036854775807n, 'text']);
  assert.deepEqual(e.ret, [-9223372036854775808n]);
  assert.deepEqual(e.regs, { args: [18446744073709551615n], ret: [1n] });
});
