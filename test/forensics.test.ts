import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { copyFileSync, mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ManagedServer } from '../kernel-helpers/server.ts';
import { parseCrash, renderForensicsText, renderForensicsHtml } from '../kernel-helpers/forensics.ts';
import { serverBinary } from '../cli/paths.ts';
import { buildServer, goToolchain, oldGo } from '../cli/go.ts';

/** Crashes a private copy of a server binary under bpftrace's uretprobe (an independent tracer). */
async function crashUnderBpftrace(binary: string) {
  const dir = mkdtempSync(join(tmpdir(), 'lab-forensics-'));
  const copy = join(dir, 'server');
  copyFileSync(binary, copy);
  await using server = await ManagedServer.start({ binary: copy });
  const bt = spawn('bpftrace', ['-p', String(server.pid), '-e', `uretprobe:${copy}:main.demo { }`], { stdio: ['ignore', 'pipe', 'pipe'] });
  try {
    await new Promise<void>((resolve, reject) => {
      let out = '';
      const onData = (d: Buffer) => ((out += d), /Attaching/.test(out) && resolve());
      bt.stdout.on('data', onData);
      bt.stderr.on('data', onData);
      bt.once('exit', (c) => reject(new Error(`bpftrace exited ${c}: ${out}`)));
    });
    await new Promise((r) => setTimeout(r, 300));
    assert.equal((await server.get('/?arg=3')).status, 200, 'a shallow call survives the uretprobe');
    const maps = readFileSync(`/proc/${server.pid}/maps`, 'utf8');
    await server.get('/?arg=2000', 5000);
    const exit = await Promise.race([server.exited, new Promise((r) => setTimeout(() => r(undefined), 5000))]);
    assert.ok(exit, 'the server died under the uretprobe');
    return { stderr: server.stderr, maps };
  } finally {
    bt.kill('SIGINT');
  }
}

for (const [label, binary] of [
  ['current Go', async () => serverBinary],
  ['Go 1.19', async () => buildServer(await goToolchain(oldGo))],
] as const) {
  test(`forensics finds the hijacked slot and the [uprobes] mapping in a real crash (${label})`, async () => {
    const { stderr, maps } = await crashUnderBpftrace(await binary());
    const f = parseCrash(stderr, maps);
    assert.ok(f, 'the crash text parses');
    assert.equal(f.kind, 'unexpected-return-pc');
    assert.equal(f.victim, 'main.demo');
    assert.match(f.during ?? '', /copystack/);
    assert.ok(f.slot, 'the hijacked slot is found in the hex dump');
    assert.equal(BigInt(f.slot.value), BigInt(f.hijackedPc!));
    assert.equal(BigInt(f.slot.address), BigInt(f.frame!.fp) - 8n, 'the slot is the return-address slot below FP');
    assert.equal(f.uprobesVma?.name, '[uprobes]');
    assert.ok(f.frames.some((fr) => fr.func === 'main.growStack'));
    const text = renderForensicsText(f);
    assert.match(text, new RegExp(`hijacked return slot: ${f.slot.address}`));
    assert.match(text, /\[uprobes\]/);
    assert.match(renderForensicsHtml(f), /hijacked return address/);
  });
}

test('parseCrash returns nothing for a clean exit', () => {
  assert.equal(parseCrash('listening on http://127.0.0.1:1 pid 1\ndemo called with 3\n'), undefined);
});

test('recordCrash captures a real crash with the lab tracer: slot, [uprobes] mapping, victim frame', async () => {
  const { recordCrash } = await import('../kernel-helpers/record-crash.ts');
  const rec = await recordCrash({ binary: serverBinary });
  const f = rec.forensics;
  assert.equal(f.kind, 'unexpected-return-pc');
  assert.match(rec.stderr, new RegExp(`unexpected return pc for main\\.demo called from ${f.hijackedPc}`));
  assert.equal(f.uprobesVma?.name, '[uprobes]');
  assert.ok(rec.maps.includes(f.uprobesVma!.line), 'the mapping comes from the maps taken while alive');
  assert.ok(f.frames.find((fr) => fr.hijacked)?.func === 'main.demo');
  assert.equal(BigInt(f.slot!.address), BigInt(f.frame!.fp) - 8n);
});
