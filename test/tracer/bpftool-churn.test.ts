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
    const all = Promise.all(probes.map((p) => p.detached)).then(() => void (released = true));
    let lists = 0;
    while (!released) {
      assert.ok(kernelLinkIds() instanceof Set);
      lists++;
      await new Promise((r) => setTimeout(r, 5));
    }
    await all;
    assert.ok(lists > 10, `listed ${lists} times while the links went`);
  } finally {
    if (saved === undefined) delete process.env.LAB_UPROBE_LINKS;
    else process.env.LAB_UPROBE_LINKS = saved;
  }
});
