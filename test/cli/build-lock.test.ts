/**
 * One build at a time (core/lock.ts): two `./lab build server` started while a build holds the lock
 * both say another build is running, wait, and both succeed once it is done. The lock is held by this
 * test, so the commands meet it whatever the timing (an up-to-date build takes milliseconds).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { at } from '../../core/paths.ts';
import { withLock } from '../../core/lock.ts';

function labBuild(): { output: () => string; exited: Promise<number | null>; said: (text: string) => Promise<void> } {
  const child = spawn(at('lab'), ['build', 'server'], { cwd: at(), stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  const waiting: [string, () => void][] = [];
  const onData = (d: Buffer) => {
    out += d;
    for (const [text, resolve] of waiting) if (out.includes(text)) resolve();
  };
  child.stdout.on('data', onData);
  child.stderr.on('data', onData);
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  return {
    output: () => out,
    exited,
    said: (text) =>
      Promise.race([
        new Promise<void>((resolve) => (out.includes(text) ? resolve() : waiting.push([text, resolve]))),
        exited.then(() => {
          if (!out.includes(text)) throw new Error(`./lab build exited without saying "${text}": ${out}`);
        }),
      ]),
  };
}

test('two ./lab build server while another build runs: both say so, wait for it, and succeed', async () => {
  const builds: ReturnType<typeof labBuild>[] = [];
  await withLock('build', 'build', async () => {
    builds.push(labBuild(), labBuild());
    await Promise.all(builds.map((b) => b.said('another build is running')));
    for (const b of builds) assert.match(b.output(), new RegExp(`another build is running \\(pid ${process.pid}\\)`));
  });
  const codes = await Promise.all(builds.map((b) => b.exited));
  assert.deepEqual(codes, [0, 0], builds.map((b) => b.output()).join('\n---\n'));
});
