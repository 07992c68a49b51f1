// lab-test: concurrent — a timer and a busy loop, no probes
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import { stallMeter } from '../../core/stall-meter.ts';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** This thread's time on a CPU (schedstat's first field), in ms. */
const cpuMs = () => Number(readFileSync('/proc/thread-self/schedstat', 'latin1').split(' ')[0]) / 1e6;

test('a loop that blocks the event loop for 80 ms of CPU is a stall of its own, however loaded the machine', async () => {
  const meter = stallMeter();
  await sleep(20);
  // 80 ms on a CPU, not by the clock: on a busy machine the spin also waits its turn, and that wait is not ours.
  const until = cpuMs() + 80;
  while (cpuMs() < until);
  await sleep(20);
  const { own, wall } = meter.stop();
  assert.ok(own >= 70, `own stall ${own.toFixed(1)} ms`);
  assert.ok(wall >= own - 1, `wall ${wall.toFixed(1)} ms ≥ own ${own.toFixed(1)} ms`);
});
