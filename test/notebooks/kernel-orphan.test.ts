// lab-test: concurrent — one tslab kernel of its own on Unix sockets in a private directory, nothing else
/**
 * A tslab kernel whose Jupyter is gone before the kernel's watch thread even started (Jupyter killed
 * at once, as the OOM killer may) still ends: it knows its Jupyter from JPY_PARENT_PID, not from
 * whichever parent it has when the thread starts.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { tslabKernelLauncher } from '../../engines/services/jupyter.ts';
import { alive } from '../support/jupyter-support.ts';

test('a kernel whose Jupyter died before it started watching ends by itself', { timeout: 60_000 }, async () => {
  const dir = mkdtempSync(join(tmpdir(), 'lab-kernel-orphan-'));
  const connection = join(dir, 'kernel.json');
  writeFileSync(
    connection,
    JSON.stringify({
      transport: 'ipc',
      ip: join(dir, 'k'),
      shell_port: 1,
      iopub_port: 2,
      stdin_port: 3,
      control_port: 4,
      hb_port: 5,
      key: 'a-key',
      signature_scheme: 'hmac-sha256',
    }),
  );
  // Its parent is this test, but the Jupyter it was started for (JPY_PARENT_PID) is another process, as
  // after that Jupyter died and left it to a reaper.
  const kernel = spawn(process.execPath, [tslabKernelLauncher, connection], {
    env: { ...process.env, JPY_PARENT_PID: String(process.ppid) },
    stdio: 'ignore',
  });
  try {
    const exited = new Promise<number | null>((r) => kernel.once('exit', (code) => r(code)));
    const within = await Promise.race([
      exited.then(() => true),
      new Promise((r) => setTimeout(() => r(false), 30_000)),
    ]);
    assert.ok(within, `kernel ${kernel.pid} still runs 30 s after it found its Jupyter gone`);
    assert.ok(!alive(kernel.pid!));
  } finally {
    kernel.kill('SIGKILL');
    rmSync(dir, { recursive: true, force: true });
  }
});
