// Running notebooks twice in one kernel and checking what each run leaves (notebooks.test.ts and
// notebooks-other-half.test.ts, a half of the notebooks each).
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { basename } from 'node:path';
import { startJupyter } from '../../engines/services/jupyter.ts';
import { codeCells, sourceOf, type Notebook } from '../../model/notebook-format.ts';
import { notebookPaths } from '../../engines/notebook/io.ts';
import { CellRunner, connect } from '../../engines/notebook/kernel-client.ts';
import { kernelLinkIds, linksHeldBy } from '../../bpf/ts/index.ts';
import { alive, jupyterServerPid, kernelPids, serverChildren } from './jupyter-support.ts';

/**
 * The notebooks of one `half`: longest first (by the seconds their recorded run took), each to the half
 * with fewer seconds so far, so that the two files that take a half each end about together.
 */
function half(k: 0 | 1): string[] {
  const secondsOf = (path: string) => (JSON.parse(readFileSync(path, 'utf8')) as Notebook).metadata.lab?.seconds ?? 0;
  const halves: { paths: string[]; seconds: number }[] = [
    { paths: [], seconds: 0 },
    { paths: [], seconds: 0 },
  ];
  const all = notebookPaths().map((path) => ({ path, seconds: secondsOf(path) }));
  assert.ok(all.length >= 8, `${all.length} notebooks`);
  for (const nb of all.sort((a, b) => b.seconds - a.seconds || a.path.localeCompare(b.path))) {
    const to = halves[0].seconds <= halves[1].seconds ? halves[0] : halves[1];
    to.paths.push(nb.path);
    to.seconds += nb.seconds;
  }
  return halves[k].paths.sort();
}

/**
 * The notebooks of `k`'s half, each run twice top to bottom in one kernel: the first run without its
 * final resetLab, so that what a run leaves is what the second run must replace; the second run whole,
 * so that its resetLab and the kernel's end leave nothing.
 */
export async function runEachTwice(k: 0 | 1): Promise<void> {
  const paths = half(k);
  await using j = await startJupyter();
  const conn = connect(j);
  const seenKernels = new Set<number>();
  try {
    for (const path of paths) {
      const name = basename(path);
      const cells = codeCells(JSON.parse(readFileSync(path, 'utf8')) as Notebook).map(([c]) => sourceOf(c));
      const body = cells.filter((c) => !c.includes('resetLab'));
      const resets = cells.filter((c) => c.includes('resetLab'));
      const session = await conn.open(path);
      const runner = new CellRunner(session.kernel!);
      const kernel = kernelPids(jupyterServerPid(j.url)).find((p) => !seenKernels.has(p))!;
      assert.ok(kernel > 0, `${name}: saw no kernel process`);
      seenKernels.add(kernel);
      const servers = new Set<number>();
      const links = new Set<number>();
      const watch = () => {
        serverChildren(kernel).forEach((p) => servers.add(p));
        for (const l of linksHeldBy(kernel)) links.add(l.linkId!);
      };
      const runAll = async (code: string[], round: number) => {
        const ids = [];
        for (const source of code) {
          const r = await runner.run(source);
          watch();
          assert.equal(r.status, 'ok', `${name} run ${round}: ${r.text.slice(-1500)}`);
          ids.push(r.id);
        }
        return ids;
      };
      const held = () => ({ links: linksHeldBy(kernel).map((l) => l.linkId!), servers: serverChildren(kernel) });
      let outputs = '';
      try {
        await runAll(body, 1);
        const first = held();
        const ids = await runAll(body, 2);
        const second = held();
        ids.push(...(await runAll(resets, 2)));
        // Read last: a live table made by one cell keeps updating while later cells run.
        outputs = JSON.stringify(ids.map((id) => runner.outputsOf(id)));
        assert.equal(
          second.links.length,
          first.links.length,
          `${name}: links after run 1 ${first.links}, after run 2 ${second.links}`,
        );
        assert.equal(
          second.servers.length,
          first.servers.length,
          `${name}: servers after run 1 ${first.servers}, after run 2 ${second.servers}`,
        );
        assert.ok(
          first.servers.every((p) => !alive(p)),
          `${name}: a server of run 1 is still running`,
        );
        // The tracer session's own exit-watch link lives as long as the kernel; every probe link is new.
        const shared = first.links.filter((l) => second.links.includes(l));
        assert.ok(shared.length <= 1, `${name}: links kept across the re-run: ${shared}`);
        assert.deepEqual(
          first.links.filter((l) => !shared.includes(l) && kernelLinkIds().has(l)),
          [],
          `${name}: run 1 links still attached`,
        );
        if (resets.length > 0) assert.deepEqual(serverChildren(kernel), [], `${name}: a server outlived resetLab`);
      } finally {
        runner.dispose();
        await session.shutdown().catch(() => undefined);
      }
      const deadline = Date.now() + 15_000;
      while (alive(kernel) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
      assert.ok(!alive(kernel), `${name}: kernel ${kernel} outlived its session`);
      for (const p of servers) assert.ok(!alive(p), `${name}: server ${p} outlived the notebook`);
      assert.deepEqual(
        [...links].filter((l) => kernelLinkIds().has(l)),
        [],
        `${name}: links still attached`,
      );
      if (name.startsWith('03')) {
        assert.match(outputs, /unexpected return pc for main\.demo called from 0x7fffffffe000/);
        assert.match(
          outputs,
          /<td[^>]*>entry<\/td><td[^>]*>main\.demo\(arg=2000\)<\/td>/,
          'the live entry event for arg=2000, shown as the Go call',
        );
      }
      if (name.startsWith('05')) {
        assert.match(outputs, /server alive: true/);
        assert.match(outputs, /latency/);
      }
    }
  } finally {
    conn.dispose();
  }
}
