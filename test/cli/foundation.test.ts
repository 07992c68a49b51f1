import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { ManagedServer } from '../../engines/managed-server.ts';
import { at } from '../../core/paths.ts';

const lab = (...args: string[]) =>
  execFileSync(at('lab'), args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });

test('./lab help lists the core commands', () => {
  const help = lab('help');
  for (const c of ['start', 'test', 'setup', 'build', 'run-app']) assert.match(help, new RegExp(`^  ${c} `, 'm'));
});

test('./lab setup on a ready machine installs nothing and says so', () => {
  const out = execFileSync(at('lab'), ['setup'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
  void out;
  const err = execFileSync('sh', ['-c', `${at('lab')} setup 2>&1 >/dev/null`], { encoding: 'utf8' });
  assert.match(err, /nothing to install/);
});

test('an unknown command and a bad flag give one clear line and a non-zero exit', () => {
  assert.throws(
    () => lab('frobnicate'),
    (e: { status: number; stderr: string }) => e.status === 2 && /run \.\/lab help/.test(e.stderr),
  );
  assert.throws(
    () => lab('build', '--nope'),
    (e: { status: number; stderr: string }) => e.status === 2 && /--nope/.test(e.stderr),
  );
});

test('the server answers demo(arg) and rejects bad input with 400', async () => {
  await using server = await ManagedServer.start();
  const ok = await server.get('/?arg=42');
  assert.equal(ok.status, 200);
  assert.match(ok.body, /42/);
  for (const bad of ['/?arg=abc', '/?arg=-3', '/?arg=1e99', '/']) {
    const r = await server.get(bad);
    assert.equal(r.status, 400, `${bad} → ${r.status} ${r.body}`);
  }
  assert.match(server.stdout, /demo called with 42/);
  assert.ok(server.alive);
});
