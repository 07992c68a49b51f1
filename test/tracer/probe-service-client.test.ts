// lab-test: concurrent — its own sockets in a private temporary directory; attaches nothing.
// The probe service's client in a notebook kernel: a connection the service resets ends the probes on
// it with a LabError (never an uncaught exception that would take the kernel down), and the next
// probe connects afresh instead of inheriting the broken connection.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer, type Server, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { remoteProbe } from '../../bpf/ts/probe-service-client.ts';
import { LabError } from '../../core/errors.ts';

const listen = (path: string, onConnection: (s: Socket) => void, pauseOnConnect = false): Promise<Server> =>
  new Promise((resolve) => {
    const server = createServer({ pauseOnConnect }, onConnection);
    server.listen(path, () => resolve(server));
  });

test('a connection the service resets ends its probe with a LabError; the next probe connects afresh', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'lab-service-client-'));
  const path = join(dir, 'probe.sock');
  const uncaught: unknown[] = [];
  const onUncaught = (e: unknown) => uncaught.push(e);
  process.on('uncaughtException', onUncaught);
  try {
    // Closing a Unix socket with the peer's request still unread resets the peer's connection (ECONNRESET).
    const resetting = await listen(path, (s) => setTimeout(() => s.destroy(), 100), true);
    const first = remoteProbe(path, 'uprobe', 'main.demo', { pid: process.pid });
    await assert.rejects(first.ready, (e: unknown) => {
      assert.ok(e instanceof LabError, `not a LabError: ${e}`);
      assert.match((e as Error).message, /probe service.*ECONNRESET/);
      return true;
    });
    await new Promise<void>((r) => resetting.close(() => r()));
    rmSync(path, { force: true });

    // A service that answers: the new probe is attached through a new connection, and released on close.
    const connections: Socket[] = [];
    const answering = await listen(path, (s) => {
      connections.push(s);
      createInterface({ input: s }).on('line', (line) => {
        const m = JSON.parse(line) as { op: string; id: number };
        if (m.op === 'attach') s.write(`${JSON.stringify({ op: 'attached', id: m.id })}\n`);
        if (m.op === 'detach') s.write(`${JSON.stringify({ op: 'detached', id: m.id, kernelDrops: 0 })}\n`);
      });
    });
    const second = remoteProbe(path, 'uprobe', 'main.demo', { pid: process.pid });
    await second.ready;
    second.close();
    await second.detached;
    assert.equal(connections.length, 1, 'the second probe did not open a connection of its own');
    for (const c of connections) c.destroy();
    await new Promise<void>((r) => answering.close(() => r()));
    await new Promise((r) => setTimeout(r, 50));
    assert.deepEqual(uncaught, [], 'an error escaped to the process');
  } finally {
    process.off('uncaughtException', onUncaught);
    rmSync(dir, { recursive: true, force: true });
  }
});
