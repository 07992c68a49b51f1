// lab-test: concurrent — a timer and a busy loop, no probes
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { stallMeter } from '../../core/stall-meter.ts';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

test('a loop that blocks the event loop for 80 ms is a stall of its own', async () => {
  const meter = stallMeter();
  await sleep(20);
  const until = performance.now() + 80;
  while (performance.now() < until);
  await sleep(20);
  const { own, wall } = meter.stop();
  assert.ok(own >= 70, `own stall ${own.toFixed(1)} ms`);
  assert.ok(wall >= own - 1, `wall ${wall.toFixed(1)} ms ≥ own ${own.toFixed(1)} ms`);
});
