/**
 * The server under a loopback load (keep-alive, bounded) while traced in ret mode: every request
 * comes back as exactly one 'call' event or is counted as dropped — for our tracer and for the
 * cilium/ebpf peer. Counts only; no timing is asserted.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { tracedLoad } from '../../bench/server-load.ts';
import { closeAllProbes } from '../../bpf/ts/index.ts';

for (const tracer of ['ours', 'cilium'] as const) {
  test(`ret mode under load (${tracer}): requests == call events + drops, arguments match`, async () => {
    try {
      const r = await tracedLoad(tracer, { requests: 1500, concurrency: 12, maxMs: 60000 });
      assert.equal(r.failed, 0, `every request answered: ${JSON.stringify(r)}`);
      assert.equal(r.calls + r.drops, r.requests, `nothing silently lost: ${JSON.stringify(r)}`);
      if (r.drops === 0)
        assert.ok(r.args_match, `each request's argument came back in exactly one call event: ${JSON.stringify(r)}`);
      assert.ok(r.server_alive);
    } finally {
      closeAllProbes();
    }
  });
}
