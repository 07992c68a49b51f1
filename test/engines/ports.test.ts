// lab-test: concurrent — opens and closes loopback listeners only.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer } from 'node:net';
import { ephemeralPortRange, freePort } from '../../core/ports.ts';

const listenOn = (port: number) =>
  new Promise<number>((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(port, '127.0.0.1', () => {
      const bound = (s.address() as { port: number }).port;
      s.close(() => resolve(bound));
    });
  });

test('a port the kernel hands out for port 0 lies in its ephemeral range, where connect() takes source ports', async () => {
  const [low, high] = ephemeralPortRange();
  const port = await listenOn(0);
  assert.ok(port >= low && port <= high, `${port} in ${low}–${high}`);
});

test('freePort picks ports below the ephemeral range that a listener can open later', async () => {
  const [low] = ephemeralPortRange();
  const ports = await Promise.all(Array.from({ length: 20 }, () => freePort()));
  for (const port of ports) {
    assert.ok(port >= 1024 && port < low, `${port} is below the ephemeral range (from ${low})`);
    assert.equal(await listenOn(port), port);
  }
});
