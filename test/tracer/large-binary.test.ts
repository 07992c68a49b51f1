/**
 * A Go binary of 1.2 GB (a server with a gigabyte appended, as embedded assets would make it)
 * is traced like any other, and the tracer reads only the pieces it needs: its memory does not
 * grow with the file.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { appendFileSync, copyFileSync, statSync, truncateSync } from 'node:fs';
import { join } from 'node:path';
import { at } from '../../core/paths.ts';
import { LabError } from '../../core/errors.ts';
import { openExecutable } from '../../bpf/ts/index.ts';
import { serverBuilds, tempDir } from '../support/fixtures/binaries.ts';
import { tracerChild } from '../support/kernel.ts';

const [{ binary: server }] = await serverBuilds();
const bigSize = 1_200_000_000;

/** Traces main.demo in a fresh Node process and reports what it saw and its peak memory. */
async function traceInChild(
  binary: string,
): Promise<{ maxRssMb: number; calls: string[][]; params: string[]; retSites: number }> {
  const { child, first } = await tracerChild(`
    import { openExecutable } from ${JSON.stringify(at('bpf/ts/index.ts'))};
    import { ManagedServer } from ${JSON.stringify(at('engines/managed-server.ts'))};
    const exe = await openExecutable(${JSON.stringify(binary)});
    const params = (exe.signature('main.demo').signature?.params ?? []).map((p) => p.name);
    const retSites = exe.retSites('main.demo').sites.length;
    const srv = await ManagedServer.start({ binary: ${JSON.stringify(binary)} });
    const probe = exe.returnProbes('main.demo', { pid: srv.pid });
    const reply = await srv.get('/?arg=7');
    probe.close();
    const calls = [];
    for await (const e of probe) if (e.kind === 'call') calls.push([String(e.args[0]), String(e.ret[0]), String(reply.status)]);
    await srv.stop();
    console.log(JSON.stringify({ maxRssMb: process.resourceUsage().maxRSS / 1024, calls, params, retSites }));
  `);
  await new Promise((r) => child.once('exit', r));
  return first as Awaited<ReturnType<typeof traceInChild>>;
}

test("a 1.2 GB Go binary: traced end to end, and the tracer's peak memory is that of tracing the 14 MB original", async () => {
  using dir = tempDir('lab-large-');
  const big = join(dir.path, 'server-big');
  copyFileSync(server, big);
  truncateSync(big, bigSize); // sparse: a gigabyte of zeros after the last section, as the kernel and Go ignore
  assert.equal(statSync(big).size, bigSize);

  const small = await traceInChild(server);
  const large = await traceInChild(big);
  for (const r of [small, large]) {
    assert.deepEqual(r.calls, [['7', '7', '200']], 'one call of demo(7) = 7, traced by its RETs');
    assert.deepEqual(r.params, ['arg'], 'DWARF read: the parameter by name');
    assert.ok(r.retSites > 0);
  }
  const extra = large.maxRssMb - small.maxRssMb;
  console.log(`peak RSS: ${small.maxRssMb.toFixed(0)} MB (original) vs ${large.maxRssMb.toFixed(0)} MB (1.2 GB)`);
  // Reading the file whole would add its 1144 MB; noise between two Node processes is tens of MB.
  assert.ok(
    extra < 100,
    `peak RSS ${large.maxRssMb.toFixed(0)} MB for the 1.2 GB binary vs ${small.maxRssMb.toFixed(0)} MB for the original (+${extra.toFixed(0)} MB)`,
  );
});

test('a binary rewritten between two reads: the later read refuses to mix the two files', async () => {
  using dir = tempDir('lab-large-');
  const path = join(dir.path, 'server');
  copyFileSync(server, path);
  const exe = await openExecutable(path); // reads headers and symbols now, DWARF and code later
  appendFileSync(path, Buffer.alloc(4096)); // rewritten in place: same inode, new size
  assert.throws(
    () => exe.signature('main.demo'),
    (e) =>
      e instanceof LabError &&
      /server changed while it was being read \(rebuilt or copied over\) — wait for whatever writes it to finish, then open it again/.test(
        e.message,
      ),
  );
  const again = await openExecutable(path);
  assert.deepEqual(
    again.signature('main.demo').signature?.params.map((p) => p.name),
    ['arg'],
  );
});
