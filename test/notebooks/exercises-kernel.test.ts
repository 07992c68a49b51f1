// lab-test: concurrent — its own Jupyter and progress file; probes only private server copies; checks only what its kernel holds.
// Exercises in a real tslab kernel and from the shell: the cells' vocabulary (lab.predict, lab.attempt,
// lab.check) judges on the real kernel, the attempt saved by the kernel is re-run from its source by
// ./lab exercises --check, and nothing is left attached or running afterwards.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startJupyter, type RunningJupyter } from '../../engines/services/jupyter.ts';
import { notebooksDir } from '../../engines/notebook/io.ts';
import { executeNotebook } from '../../engines/notebook/run.ts';
import { exercise, exercises, attemptSignature, type Evidence, type Task } from '../../engines/exercises/index.ts';
import { at } from '../../core/paths.ts';
import { explainLiveCrashCell } from '../support/cells.ts';
import { loadHelpersCell } from '../../model/kernel-cells.ts';

const dir = mkdtempSync(join(tmpdir(), 'lab-exercises-kernel-'));
const progress = join(dir, 'exercises.json');
let jupyter: RunningJupyter;

before(async () => {
  process.env.LAB_EXERCISES_FILE = progress; // the kernel inherits it from the Jupyter server
  jupyter = await startJupyter();
});
after(async () => {
  await jupyter?.stop();
  rmSync(dir, { recursive: true, force: true });
});

const lab = (...args: string[]) => {
  const r = spawnSync(at('lab'), ['exercises', ...args], {
    cwd: at(),
    encoding: 'utf8',
    env: { ...process.env, LAB_EXERCISES_FILE: progress },
    timeout: 300_000,
  });
  return { code: r.status, out: r.stdout + r.stderr };
};

const code = (source: string) => ({ cell_type: 'code', source, metadata: {}, outputs: [], execution_count: null });
const task = (name: string) => exercise(name) as Task;
const cellText = (c: { outputs?: { text?: string[]; data?: Record<string, unknown> }[] }) =>
  (c.outputs ?? [])
    .map((o) => (o.text ?? [String(o.data?.['text/html'] ?? o.data?.['text/plain'] ?? '')]).join(''))
    .join('');

test('in tslab: a locked-in prediction, a solved and a failed attempt are judged on the kernel; the CLI re-runs the saved attempts', async () => {
  const path = join(notebooksDir, `exercises-check-${process.pid}.ipynb`);
  const nb = {
    cells: [
      code(loadHelpersCell),
      code(`await lab.attempt("06-which-ret", ${attemptSignature} {\n${task('06-which-ret').starter}\n});`),
      code('await lab.predict("05-demo-ret-count", "1");'),
      code('await lab.predict("05-demo-ret-count", "2");'),
      code('await lab.check("05-demo-ret-count");'),
      code(`await lab.attempt("05-survive-growth", ${attemptSignature} {\n${task('05-survive-growth').solution}\n});`),
      code(`await lab.attempt("05-survive-panic", ${attemptSignature} {\n${task('05-survive-panic').starter}\n});`),
      code('await lab.hint("05-survive-panic");\nawait lab.hint("05-survive-panic");'),
      code(
        `await lab.attempt("05-survive-panic", ${attemptSignature} {\n  return exe.returnProbes("main.panicThrough", { pid: server.pid, args: 1 });\n});`,
      ),
      code('await lab.exercise("05-survive-growth");'),
      // Explain the evidence on a live crash in this kernel, with the catalog's solution.
      code(explainLiveCrashCell(exercise('04-hijacked-slot') as Evidence)),
      // The kernel's own view (fdinfo) of the links this kernel process still holds, its exit tracepoint aside.
      code(
        [
          'const fs = require("fs");',
          'const held = fs.readdirSync("/proc/self/fd").filter((fd) => { try { return fs.readlinkSync(`/proc/self/fd/${fd}`) === "anon_inode:bpf_link" && !/link_type:\\s*raw_tracepoint/.test(fs.readFileSync(`/proc/self/fdinfo/${fd}`, "utf8")); } catch { return false; } });',
          'console.log(`uprobe links held: ${held.length}`);',
          'const servers = fs.readdirSync("/proc").filter((p) => { try { const st = fs.readFileSync(`/proc/${p}/stat`, "utf8"); return Number(st.slice(st.lastIndexOf(")") + 2).split(" ")[1]) === process.pid && /lab-exercise-/.test(fs.readlinkSync(`/proc/${p}/exe`)); } catch { return false; } });',
          'console.log(`check servers running: ${servers.length}`);',
        ].join('\n'),
      ),
    ],
    metadata: { kernelspec: { name: 'tslab', display_name: 'TypeScript', language: 'typescript' } },
    nbformat: 4,
    nbformat_minor: 5,
  };
  try {
    writeFileSync(path, JSON.stringify(nb));
    const run = await executeNotebook(path, jupyter);
    assert.deepEqual(run.failures, []);
    const all = run.notebook.cells.map((c) => cellText(c as Parameters<typeof cellText>[0]));
    const starterOut = all[1];
    const out = [all[0], ...all.slice(2)];
    assert.match(starterOut, /✗ not yet · 06-which-ret: your uprobe's events carry no RET #/);
    assert.match(out[1], /05-demo-ret-count: locked in 1/);
    assert.match(
      out[2],
      /locked in as 1 \(await lab\.retry\("05-demo-ret-count"\) to answer again\)/,
      'a second answer does not replace the first',
    );
    assert.match(out[3], /✓ pass · 05-demo-ret-count: right: 1\) 1 — the disassembler finds 1 RET/);
    assert.match(out[4], /✓ pass · 05-survive-growth: the server survived demo\(2000\)/);
    assert.match(out[5], /✗ not yet · 05-survive-panic: the server died: unexpected return pc for main\.panicThrough/);
    assert.match(out[6], /hint 1\/3: .*\nhint 2\/3: /);
    assert.match(out[7], /✗ not yet · 05-survive-panic: the server survived but your RET-site probes saw nothing/);
    assert.match(out[8], /data-exercise="05-survive-growth"|Trace returns and survive/);
    assert.match(
      out[9],
      /✓ pass · 04-hijacked-slot: 0x[0-9a-f]+ held 0x7fffffffe000, main\.demo's return address — 0x7fffffffe000 lies in \[uprobes\]/,
    );
    assert.match(out[9], /✗ not yet · 04-hijacked-slot: the slot is right, the frame is wrong: /);
    assert.match(out[9], /still passed from an earlier attempt \(1\. \S+ main\.demo ✓ · 2\. \S+ main\.growStack ✗\)/);
    assert.match(out[10], /uprobe links held: 0/, 'the kernel holds no uprobe link after the checks');
    assert.match(
      out[10],
      /check servers running: 0/,
      'the kernel left no check server running (its children, from the process table)',
    );
  } finally {
    rmSync(path, { force: true });
  }
  const saved = JSON.parse(readFileSync(progress, 'utf8'));
  assert.match(
    saved['05-survive-growth'].attempt,
    /returnProbes\("main\.demo"/,
    'the kernel saved the attempt as source',
  );
  assert.equal(saved['06-which-ret'], undefined, 'running the unchanged starter is not an attempt');
  assert.equal(saved['04-hijacked-slot'].result.pass, true, 'a later wrong explain does not undo the pass');
  assert.deepEqual(
    saved['04-hijacked-slot'].attempts.map((a: { pass: boolean }) => a.pass),
    [true, false],
    'both attempts listed',
  );
  assert.match(saved['04-hijacked-slot'].evidence.stderr, /unexpected return pc/, 'with the crash it points into');
  assert.match(
    saved['05-survive-panic'].attempt,
    /returnProbes\("main\.panicThrough"/,
    'the edited attempt is kept, the unchanged starter was not',
  );

  const solved = lab('--check', '05-survive-growth');
  assert.equal(solved.code, 0, solved.out);
  assert.match(solved.out, /✓ pass · 05-survive-growth/);
  const failed = lab('--check', '05-survive-panic');
  assert.equal(failed.code, 1, failed.out);
  assert.match(failed.out, /✗ not yet · 05-survive-panic: the server survived but your RET-site probes saw nothing/);
  const evidence = lab('--check', '04-hijacked-slot');
  assert.equal(evidence.code, 1, evidence.out);
  assert.match(
    evidence.out,
    /the slot is right, the frame is wrong: /,
    'the CLI re-reads the saved crash with the forensics',
  );
  assert.match(evidence.out, /passed before: /, 'and says the pass is kept');
  const table = lab();
  assert.match(table.out, /^05\s+05-survive-growth\s+do\s+pass\b/m);
  assert.match(table.out, /^05\s+05-survive-panic\s+do\s+fail\b/m);
});

test('./lab exercises: the table, --names, an unsolved --check fails with its message, --answer locks in, --reset forgets', () => {
  rmSync(progress, { force: true });
  const table = lab();
  assert.equal(table.code, 0, table.out);
  const rows = table.out.split('\n').filter((l) => /^\d{2}\s/.test(l));
  assert.equal(rows.length, exercises.length);
  assert.ok(rows.length >= 12);
  const names = lab('--names').out.trim().split('\n');
  assert.deepEqual(
    names,
    exercises.map((e) => e.name),
  );
  for (const name of ['06-which-ret', '04-hijacked-slot', '06-classify-ret-count']) {
    const r = lab('--check', name);
    assert.equal(r.code, 1, r.out);
    assert.match(r.out.trim(), /^✗ not yet · \S+: not (attempted|answered) — /);
    assert.equal(r.out.trim().split('\n').length, 1, 'one line');
  }
  assert.equal(lab('--answer', '06-classify-ret-count=5').code, 0);
  const wrong = lab('--check', '06-classify-ret-count');
  assert.equal(wrong.code, 1);
  assert.match(wrong.out, /you said 5\) .*; this machine shows 6\)/);
  assert.doesNotMatch(wrong.out, /\*\*|`/, 'a terminal line, not markdown');
  const again = lab('--answer', '06-classify-ret-count=6');
  assert.equal(again.code, 1, 'a locked-in answer stays');
  assert.match(again.out, /locked in as 5 — \.\/lab exercises --retry 06-classify-ret-count/);
  assert.equal(lab('--answer', '06-square-calls=1').code, 0, 'another exercise of the notebook');
  assert.equal(lab('--retry', '06-classify-ret-count').code, 0);
  assert.equal(lab('--answer', '06-classify-ret-count=6').code, 0);
  assert.equal(lab('--check', '06-classify-ret-count').code, 0);
  const kept = JSON.parse(readFileSync(progress, 'utf8'));
  assert.deepEqual(
    kept['06-classify-ret-count'].attempts.map((a: { answer: string; pass: boolean }) => [a.answer, a.pass]),
    [
      ['5', false],
      ['6', true],
    ],
    'the first answer is recorded, the retry listed after it',
  );
  assert.equal(kept['06-square-calls'].answer, '1', 'retrying one exercise leaves the others alone');
  assert.match(lab().out, /^06\s+06-classify-ret-count\s+predict\s+pass ×2\b/m);
  assert.match(lab('--reset', '06').out, /forgot \d+ exercise/);
  const bad = lab('--check', 'no-such-exercise');
  assert.equal(bad.code, 1);
  assert.match(bad.out, /no exercise named "no-such-exercise" — see \.\/lab exercises --names/);
});
