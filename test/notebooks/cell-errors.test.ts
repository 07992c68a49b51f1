// lab-test: concurrent — its own Jupyter and kernel; probes only a private server copy; checks only what its kernel holds.
// Errors in the cell's own words, from a real tslab kernel: a runtime error names the cell's line and
// column with the message first and no tslab/Jupyter frame; a LabError is its one line with the fix;
// Interrupt says the cell was interrupted and what it released, without a stack. The site renders
// the kernel's error with the stack folded away (src/lib/notebook.ts).
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { startJupyter, type RunningJupyter } from '../../engines/services/jupyter.ts';
import { CellRunner, connect, type JupyterConnection, type RunResult } from '../../engines/notebook/kernel-client.ts';
import type { Output } from '../../model/notebook-format.ts';
import { linksHeldBy } from '../../bpf/ts/index.ts';
import { outputView } from '../../src/lib/notebook.ts';
import { jupyterServerPid, kernelPids } from '../support/jupyter-support.ts';
import { loadHelpersCell } from '../../model/kernel-cells.ts';
import { patient } from '../../core/patience.ts';

let jupyter: RunningJupyter;
let conn: JupyterConnection;
let runner: CellRunner;

before(async () => {
  jupyter = await startJupyter();
  conn = connect(jupyter);
  runner = new CellRunner(await conn.startKernel({ cwd: 'notebooks' }));
  const ok = await runner.run(loadHelpersCell);
  assert.equal(ok.status, 'ok', ok.text);
});
after(async () => {
  runner?.dispose();
  await runner?.kernel.shutdown().catch(() => {});
  conn?.dispose();
  await jupyter?.stop();
});

type ErrorOutput = Extract<Output, { output_type: 'error' }>;

/** Runs a cell; tslab drops requests that arrive within 200 ms of a failure, so a dropped one is sent again. */
async function run(code: string, opts: Parameters<CellRunner['run']>[1] = {}): Promise<RunResult> {
  let r: RunResult;
  do r = await runner.run(code, { stopOnError: false, ...opts });
  while (r.status === 'aborted');
  return r;
}

/** Runs a cell that must fail with one error message. */
async function failing(code: string, opts: Parameters<CellRunner['run']>[1] = {}): Promise<ErrorOutput> {
  const r = await run(code, opts);
  assert.equal(r.status, 'error', r.text);
  const errors = r.outputs.filter((o): o is ErrorOutput => o.output_type === 'error');
  assert.equal(errors.length, 1, `one error message, not text on stderr: ${JSON.stringify(r.outputs)}`);
  assert.equal(
    r.outputs.filter((o) => o.output_type === 'stream' && o.name === 'stderr').length,
    0,
    'nothing on stderr',
  );
  return errors[0];
}

const machinery = /evalmachine|tslab|jupyter\.js|node:vm|runInThisContext|cell-errors/;

test('a cell that throws at its line 3: the message first, then line 3 of this cell; no evalmachine or tslab frame', async () => {
  const e = await failing('const a = 1;\nconst b: number = a + 1;\nthrow new Error(`boom at ${b + 1}`);');
  assert.equal(e.traceback[0], 'Error: boom at 3');
  assert.equal(e.traceback[1], '    at line 3, column 7 of this cell');
  for (const l of e.traceback) assert.doesNotMatch(l, machinery);
  // TypeScript types stripped and top-level names rewritten by tslab (exports.o): still the cell's line and column.
  const t = await failing('const o: any = undefined;\nconst n: number = 2;\nconst x: number = n + o.foo.bar;');
  assert.match(t.traceback[0], /^TypeError: Cannot read properties of undefined \(reading 'foo'\)$/);
  assert.equal(t.traceback[1], '    at line 3, column 25 of this cell');
  // Inside a function of the cell: where it threw, then the call.
  const f = await failing('function inner(x: number) {\n  return (undefined as any).y + x;\n}\ninner(3);');
  assert.match(f.traceback[1], /^ {4}at line 2, column \d+ of this cell \(in inner\)$/);
  assert.equal(f.traceback[2], '    at line 4, column 1 of this cell');
  for (const l of [...t.traceback, ...f.traceback]) assert.doesNotMatch(l, machinery);

  // The site shows the message and the line; the rest of the stack is one click away.
  const view = outputView(f);
  assert.ok(view?.kind === 'error');
  assert.match(view.html, /TypeError: Cannot read properties of undefined \(reading &#39;y&#39;\)|reading 'y'/);
  assert.match(view.html, /at line 2, column \d+ of this cell/);
  assert.doesNotMatch(view.html, /line 4/);
  assert.match(view.more ?? '', /at line 4, column 1 of this cell/);
});

test('a lab error (a missing symbol) is one line: what went wrong — what to do; no excerpt of the lab, no stack', async () => {
  const started = await run('const server = await lab.startServer("server");\nconst exe = await lab.traced(server);');
  assert.equal(started.status, 'ok', started.text);
  const e = await failing('const p = exe.uprobe("main.nope", { pid: server.pid });');
  assert.equal(e.ename, 'LabError');
  assert.equal(e.traceback.length, 1, e.traceback.join('\n'));
  assert.match(e.traceback[0], /^no function main\.nope in \S+ — check the name: Go symbols are package\.Function/);
  assert.doesNotMatch(e.traceback[0], /bpf\/ts|index\.ts|did you mean/);
  const view = outputView(e);
  assert.ok(view?.kind === 'error' && view.more === undefined, 'nothing folded away either');
  // A name that says it does not exist is not os.IsNotExist: no suggestion from another package.
  const other = await failing('exe.uprobe("main.doesNotExist", { pid: server.pid });');
  assert.deepEqual(other.traceback, [other.evalue]);
  assert.match(other.evalue, /^no function main\.doesNotExist in \S+ — check the name/);
});

test('Interrupt: the cell says it was interrupted and what it released, without a stack; the probe is gone from the kernel', async () => {
  const kernelPid = kernelPids(jupyterServerPid(jupyter.url)).at(-1)!;
  const uprobeLinks = () => linksHeldBy(kernelPid).filter((l) => l.detail !== 'raw_tracepoint');
  // A probe of an earlier cell: the interrupt is not about it.
  const early = await run(
    'const early = await lab.attach("early", () => exe.uprobe("main.classify", { pid: server.pid }));\nawait early.ready;',
  );
  assert.equal(early.status, 'ok', early.text);
  const earlyLinks = uprobeLinks().map((l) => l.linkId);
  assert.ok(earlyLinks.length > 0, "the earlier cell's probe is attached");
  let interrupted = false;
  const e = await failing(
    'const held = await lab.attach("held", () => exe.uprobe("main.demo", { pid: server.pid }));\nawait held.ready;\nconsole.log("waiting");\nawait new Promise((r) => setTimeout(r, 600_000));',
    {
      // Interrupt once the probe is kept: when the cell has said so.
      onOutput: (type, content) => {
        if (!interrupted && type === 'stream' && /waiting/.test(String(content.text))) {
          interrupted = true;
          void runner.kernel.interrupt();
        }
      },
    },
  );
  assert.ok(interrupted);
  assert.equal(e.ename, 'Interrupted');
  assert.deepEqual(e.traceback, ['Interrupted: this cell was interrupted — released what it had kept: held']);
  const after = await run('console.log(JSON.stringify({ kept: lab.kept(), released: lab.releasedAtInterrupt() }));');
  const state = JSON.parse(after.text);
  assert.deepEqual(state, { kept: ['server', 'early'], released: ['held'] }, 'what earlier cells kept stays');
  const linkIds = () => uprobeLinks().map((l) => l.linkId);
  for (let i = 0; i < 50 && linkIds().length > earlyLinks.length; i++) await new Promise((r) => setTimeout(r, 100));
  assert.deepEqual(
    linkIds(),
    earlyLinks,
    "the kernel's fdinfo: the interrupted cell's probe gone, the earlier one kept",
  );
  // Jupyter signals the kernel's whole process group: the server a cell started is not in it.
  const alive = await run('const r = await server.get("/?arg=3");\nconsole.log(r.status, server.alive);');
  assert.equal(alive.text.trim(), '200 true', 'the server of an earlier cell still answers after the interrupt');
  await run('await lab.release("early");');
  // The detach thread unregisters after the cell's reply, later on a loaded machine.
  for (let i = 0; i < 50 && uprobeLinks().length > 0; i++) await new Promise((r) => setTimeout(r, patient(100)));
  assert.deepEqual(uprobeLinks(), [], 'released on request: no uprobe link left in the notebook kernel');
});
