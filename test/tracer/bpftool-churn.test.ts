/**
 * Listing links while other links are being released: bpftool exits 255 when one vanishes between its
 * listing and its lookup; the lab's listing keeps the rest instead of failing (the suite met this
 * beside ./lab bench closing 500 probes).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { serverBinary } from '../../core/paths.ts';
import { ManagedServer } from '../../engines/managed-server.ts';
import { kernelLinkIds, openExecutable } from '../../bpf/ts/index.ts';

test('links are listed while 150 perf-event links are being released', { timeout: 180_000 }, async () => {
  await using srv = await ManagedServer.start({ binary: serverBinary, privateCopy: 'lab-churn-' });
  const saved = process.env.LAB_UPROBE_LINKS;
  process.env.LAB_UPROBE_LINKS = 'perf'; // released one by one, ~0.1 s each: a long window of churn
  try {
    const exe = await openExecutable(srv.binary);
    const probes = Array.from({ length: 150 }, () => exe.uprobe('main.demo', { pid: srv.pid }));
    for (const p of probes) p.close();
    let released = false;
    let gone = 0;
    for (const p of probes) p.detached.then(() => gone++);
    const all = Promise.all(probes.map((p) => p.detached)).then(() => void (released = true));
    // A listing counts when it started after some links had gone and others had not. How many there
    // are depends on the machine: once, listings took seconds each all through the release (2 where
    // 68 is usual; bpftool's fork waiting behind the uprobe unregistering, most likely).
    let midway = 0;
    while (!released) {
      const started = gone;
      assert.ok(kernelLinkIds() instanceof Set);
      if (started > 0 && started < probes.length) midway++;
      await new Promise((r) => setTimeout(r, 5));
    }
    await all;
    assert.ok(midway >= 1, 'no listing started while the links were going');
  } finally {
    if (saved === undefined) delete process.env.LAB_UPROBE_LINKS;
    else process.env.LAB_UPROBE_LINKS = saved;
  }
});
