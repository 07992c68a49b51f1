// lab-test: concurrent — opens and closes loopback listeners only.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ephemeralPortRange, freePort, listenAndClose } from '../../core/ports.ts';

test('a port the kernel hands out for port 0 lies in its ephemeral range, where connect() takes source ports', async () => {
  const [low, high] = ephemeralPortRange();
  const port = await listenAndClose(0);
  assert.ok(port >= low && port <= high, `${port} in ${low}–${high}`);
});

test('freePort picks ports below the ephemeral range that a listener can open later', async () => {
  const [low] = ephemeralPortRange();
  const ports = await Promise.all(Array.from({ length: 20 }, () => freePort()));
  for (const port of ports) {
    assert.ok(port >= 1024 && port < low, `${port} is below the ephemeral range (from ${low})`);
    assert.equal(await listenAndClose(port), port);
  }
});
