import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { copyFileSync, mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ManagedServer } from '../../engines/managed-server.ts';
import { parseCrash, renderForensicsText, renderForensicsHtml } from '../../model/forensics.ts';
import { at, serverBinary } from '../../core/paths.ts';
import { buildServer, goToolchain, oldGo } from '../../core/go.ts';
import type { CrashRecording } from '../../engines/record-crash.ts';
import { within } from '../support/wait.ts';

/** Crashes a private copy of a server binary under bpftrace's uretprobe (an independent tracer). */
async function crashUnderBpftrace(binary: string) {
  const dir = mkdtempSync(join(tmpdir(), 'lab-forensics-'));
  const copy = join(dir, 'server');
  copyFileSync(binary, copy);
  await using server = await ManagedServer.start({ binary: copy });
  const bt = spawn('bpftrace', ['-p', String(server.pid), '-e', `uretprobe:${copy}:main.demo { }`], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
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
    const exit = await within(server.exited, 5000, undefined);
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
    // The runtime's own marks on the hex dump: SP and FP of the bad frame, return addresses symbolized.
    const marksAt = (address: string) => f.words.find((w) => w.address === BigInt(address))?.marks ?? [];
    assert.ok(marksAt(f.frame!.sp).includes('SP'), `SP mark: ${marksAt(f.frame!.sp)}`);
    assert.ok(marksAt(f.frame!.fp).includes('FP'), `FP mark: ${marksAt(f.frame!.fp)}`);
    assert.ok(
      f.words.some((w) => w.marks.some((m) => m.startsWith('<main.'))),
      'no word symbolized as <main.…>',
    );
    // Go ≤ 1.20 prints the bad word with a `!`.
    if (label === 'Go 1.19')
      assert.ok(marksAt(f.slot.address).includes('bad'), `slot marks: ${marksAt(f.slot.address)}`);
    const text = renderForensicsText(f);
    assert.match(text, new RegExp(`hijacked return slot: ${f.slot.address}`));
    assert.match(text, /\[uprobes\]/);
    assert.match(renderForensicsHtml(f), /hijacked return address/);
  });
}

test('the crash the site shows (docs/data/crash-recording.json) parses: victim frame, slot at FP-8, [uprobes], whole dump', () => {
  const rec = JSON.parse(readFileSync(at('docs', 'data', 'crash-recording.json'), 'utf8')) as CrashRecording;
  const f = parseCrash(rec.stderr, rec.maps);
  assert.ok(f && f.frames.length > 1);
  const probed = f.frames.find((fr) => fr.hijacked);
  assert.equal(probed?.func, rec.symbol);
  assert.equal(BigInt(f.slot!.value), BigInt(f.hijackedPc!));
  assert.equal(
    BigInt(f.slot!.address),
    BigInt(probed.fp!) - 8n,
    "the forged return address is not at the victim frame's FP-8",
  );
  assert.equal(f.uprobesVma?.name, '[uprobes]');
  const { lo, hi } = f.stackBounds!;
  for (const fr of f.frames)
    assert.ok(BigInt(fr.sp!) >= BigInt(lo) && BigInt(fr.fp!) <= BigInt(hi), `${fr.func} outside the stack`);
  // Every line of the runtime's hex dump is read: a first line holding only its second word, a last
  // line holding only its first.
  const read = new Set(f.words.map((w) => w.address));
  for (const m of rec.stderr.matchAll(/^([0-9a-f]{16}): /gm)) {
    const line = BigInt(`0x${m[1]}`);
    assert.ok(read.has(line) || read.has(line + 8n), `dump line ${m[1]} not read`);
  }
});

test('parseCrash returns nothing for a clean exit', () => {
  assert.equal(parseCrash('listening on http://127.0.0.1:1 pid 1\ndemo called with 3\n'), undefined);
});

test('recordCrash captures a real crash with the lab tracer: slot, [uprobes] mapping, victim frame', async () => {
  const { recordCrash } = await import('../../engines/record-crash.ts');
  const rec = await recordCrash({ binary: serverBinary });
  const f = rec.forensics;
  assert.equal(f.kind, 'unexpected-return-pc');
  assert.match(rec.stderr, new RegExp(`unexpected return pc for main\\.demo called from ${f.hijackedPc}`));
  assert.equal(f.uprobesVma?.name, '[uprobes]');
  assert.ok(rec.maps.includes(f.uprobesVma!.line), 'the mapping comes from the maps taken while alive');
  assert.ok(f.frames.find((fr) => fr.hijacked)?.func === 'main.demo');
  assert.equal(BigInt(f.slot!.address), BigInt(f.frame!.fp) - 8n);
});
