// lab-test: concurrent — its own progress file; probes only private server copies; checks only what this process holds.
// Every exercise's check on the real kernel: its solution passes, wrong attempts fail with their
// message, and no probe, link or server is left after any check.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  exercises,
  attemptSignature,
  judge,
  checkedNames,
  exerciseScreen,
  Sandbox,
  checkSaved,
  readProgress,
  save,
  type Exercise,
  type Submission,
} from '../../engines/exercises/index.ts';
import { bestAttempt, readAddress, readChoice, readNumber, withAttempt } from '../../model/exercises/judging.ts';
import { parseCrash } from '../../model/forensics.ts';
import { withExerciseCells } from '../../engines/exercises/cells.ts';
import { at } from '../../core/paths.ts';
import { allPids, exeOf, statOf } from '../../core/procfs.ts';
import { liveServers } from '../../engines/managed-server.ts';
import { linksHeldBy, loadedProgramIds, openProbes } from '../../bpf/ts/index.ts';

const dir = mkdtempSync(join(tmpdir(), 'lab-exercises-test-'));
before(() => (process.env.LAB_EXERCISES_FILE = join(dir, 'exercises.json')));
after(() => rmSync(dir, { recursive: true, force: true }));

const attempt = (body: string) => `${attemptSignature} {\n${body}\n}`;

/** Servers this process started for a check (private copies in lab-exercise-* directories), from the process table. */
function exerciseServers(): number[] {
  return allPids().filter((pid) => statOf(pid)?.ppid === process.pid && /lab-exercise-[^/]+\/server/.test(exeOf(pid)));
}

const uprobeLinks = () => linksHeldBy(process.pid).filter((l) => l.detail !== 'raw_tracepoint');

/** Judges and then proves nothing of the check is left: no probe, no BPF link or program held by this process, no server. */
async function judged(name: string, s: Submission) {
  const v = await judge(name, s);
  assert.deepEqual(openProbes(), [], `${name}: probes left open`);
  // The tracer keeps its session (the exit tracepoint) a moment for the next probe: uprobe links must be gone now.
  assert.deepEqual(uprobeLinks(), [], `${name}: uprobe links left in this process (kernel's fdinfo)`);
  assert.deepEqual(liveServers(), [], `${name}: servers left running`);
  assert.deepEqual(exerciseServers(), [], `${name}: server processes left in the process table`);
  assert.equal(v.message.includes('\n'), false, 'a verdict is one line');
  return v;
}

/** Wrong attempts of each "do it" exercise beside its starter, and the message each must fail with. */
const wrong: Record<string, [string, RegExp][]> = {
  '02-read-the-string': [
    ['return exe.uprobe("main.wordStats", { pid: server.pid, args: 2 });', /none carries the string/],
    [
      'return exe.uprobe("main.demo", { pid: server.pid, args: 2, stringArg: 0 });',
      /your probe is on main\.demo; the task asks for main\.wordStats/,
    ],
    [
      'return { symbol: "main.wordStats", kind: "uprobe", closed: false, batches: () => [[{ kind: "entry", str: "checks read" }]] };',
      /not a probe the tracer attached/,
    ],
  ],
  '03-kill-the-server': [
    ['exe.uprobe("main.demo", { pid: server.pid });\nawait server.get("/?arg=2000");', /still alive/],
    ['process.kill(server.pid, "SIGKILL");', /without a Go crash/],
  ],
  '03-smallest-crashing-arg': [
    ['return 2000;', /crashes it too/],
    ['return 3;', /does not crash/],
    ['return "19";', /not an integer|an integer from 1/],
  ],
  '05-survive-growth': [
    ['return exe.uretprobe("main.demo", { pid: server.pid, args: 1 });', /the server died: unexpected return pc/],
    ['return exe.uprobe("main.demo", { pid: server.pid, args: 1 });', /never return: no latency/],
    ['return exe.returnProbes("main.growStack", { pid: server.pid, args: 1 });', /your probe is on main\.growStack/],
  ],
  '05-survive-panic': [
    [
      'return exe.uretprobe("main.panicThrough", { pid: server.pid, args: 1 });',
      /the server died: unexpected return pc for main\.panicThrough/,
    ],
    ['return exe.returnProbes("main.panicThrough", { pid: server.pid, args: 1 });', /never reaches a RET/],
  ],
  '06-which-ret': [
    ['return exe.uprobe("main.classify", { pid: server.pid, args: 1 });', /carry no RET #/],
    ['return exe.returnProbes("main.demo", { pid: server.pid, args: 1 });', /your probe is on main\.demo/],
    ['throw new Error("not yet")', /your attempt threw: not yet/],
  ],
  '07-go-version-matters': [
    ['return "stack-growth";', /crashes under a uretprobe on go1\.\d+\.\d+ too/],
    ['return "plain";', /survives a uretprobe on go1\.19\.\d+ too/],
    ['return "no-such-trigger";', /unknown trigger/],
  ],
};

test('every exercise of the catalog has a check, notebooks 02-07 have 2 to 4 each, names start with their notebook', () => {
  // An explain exercise needs no check of its own: its evidence is judged by kind (judgeEvidence).
  const explained = exercises.filter((e) => e.kind === 'explain').map((e) => e.name);
  assert.deepEqual([...checkedNames(), ...explained].sort(), exercises.map((e) => e.name).sort());
  for (const nb of ['02', '03', '04', '05', '06', '07']) {
    const n = exercises.filter((e) => e.notebook === nb).length;
    assert.ok(n >= 2 && n <= 4, `notebook ${nb} has ${n} exercises`);
  }
  for (const e of exercises) assert.ok(e.name.startsWith(`${e.notebook}-`), e.name);
  for (const e of exercises.filter((x) => x.kind === 'do'))
    assert.ok(wrong[e.name]?.length, `${e.name} has wrong attempts in this test`);
});

test('answers are read as the evidence prints them; attempts keep the first and the best', () => {
  const a = 0x11b0e8a7988n;
  for (const t of ['0000011b0e8a7988', '0x0000011b0e8a7988', '0x11b0e8a7988', '11B0E8A7988', '0000011b 0e8a7988'])
    assert.equal(readAddress(t), a, t);
  for (const t of ['0x…', 'main.demo', '', '0x1_0000_0000_0000_0000']) assert.equal(readAddress(t), undefined, t);
  for (const t of ['12345', '12,345', '12_345', '12 345']) assert.equal(readNumber(t), 12345, t);
  assert.equal(readNumber('12,34'), undefined);
  const ret = exercises.find((e) => e.name === '05-demo-ret-count') as Extract<Exercise, { kind: 'predict' }>;
  assert.equal(readChoice(ret, ' 1 '), '1');
  const reg = exercises.find((e) => e.name === '02-arg-register') as Extract<Exercise, { kind: 'predict' }>;
  assert.equal(readChoice(reg, 'B)'), 'b');
  assert.equal(readChoice(reg, 'e'), undefined);
  let tries = withAttempt(undefined, { answer: 'first', pass: false, message: '', at: '1' });
  tries = withAttempt(tries, { answer: 'pass', pass: true, message: '', at: '2' });
  for (let i = 0; i < 30; i++) tries = withAttempt(tries, { answer: `late ${i}`, pass: false, message: '', at: '3' });
  assert.equal(tries.length, 20);
  assert.equal(tries[0].answer, 'first', 'the first attempt is never dropped');
  assert.equal(tries.at(-1)?.answer, 'late 29');
  assert.equal(bestAttempt(tries)?.answer, 'pass', 'the pass is never dropped either');
  assert.equal(bestAttempt(withAttempt(undefined, { pass: false, message: 'x', at: '1' }))?.pass, false);
  assert.equal(
    bestAttempt([
      { answer: 'a', pass: true, message: '', at: '1' },
      { answer: 'b', pass: false, message: '', at: '2' },
    ])?.answer,
    'a',
  );
});

test('the workshop can put any exercise on screen: card, hints, solution', () => {
  for (const e of exercises) {
    const s = exerciseScreen(e.name)!;
    assert.match(s.html, new RegExp(`data-exercise="${e.name}"`));
    assert.deepEqual(s.hints, e.hints);
    assert.ok(s.solution.length > 0 && s.why.length > 0);
  }
  assert.equal(exerciseScreen('no-such-exercise'), undefined);
});

test("the exercise cells of notebooks 02-07 are the catalog's (./lab exercises --write-cells changes nothing)", () => {
  for (const f of readdirSync(at('notebooks')).filter((n) => /^0[2-7]-.*\.ipynb$/.test(n))) {
    const nb = JSON.parse(readFileSync(at('notebooks', f), 'utf8'));
    assert.deepEqual(withExerciseCells(nb, f.slice(0, 2)).cells, nb.cells, `${f}: run ./lab exercises --write-cells`);
    const named = new Set(
      nb.cells
        .map((c: { metadata: { lab?: { exercise?: { name: string } } } }) => c.metadata.lab?.exercise?.name)
        .filter(Boolean),
    );
    assert.deepEqual(
      [...named].sort(),
      exercises
        .filter((e) => e.notebook === f.slice(0, 2))
        .map((e) => e.name)
        .sort(),
      `${f} has a card and an answer cell for each of its exercises`,
    );
  }
});

for (const ex of exercises.filter((e): e is Extract<Exercise, { kind: 'predict' }> => e.kind === 'predict')) {
  test(`${ex.name} (predict): the recorded answer is what this machine shows; another choice fails`, async () => {
    const right = await judged(ex.name, { answer: ex.answer });
    assert.ok(right.pass, right.message);
    const other = ex.choices.find((c) => c.id !== ex.answer)!.id;
    const no = await judged(ex.name, { answer: other });
    assert.equal(no.pass, false);
    assert.match(
      no.message,
      new RegExp(`you said \\*\\*${other}\\*\\*\\).*; this machine shows \\*\\*${ex.answer}\\*\\*\\)`),
    );
    const none = await judged(ex.name, {});
    assert.ok(!none.pass && none.untried, 'no answer is not a pass');
    assert.match(none.message, /^not answered/);
  });
}

for (const ex of exercises.filter((e) => e.kind === 'do')) {
  test(`${ex.name} (do it): the solution passes, the starter and wrong attempts fail with their message`, async () => {
    const ok = await judged(ex.name, { attempt: attempt(ex.solution) });
    assert.ok(ok.pass, ok.message);
    const starter = await judged(ex.name, { attempt: attempt(ex.starter) });
    assert.equal(starter.pass, false, `the starter passed: ${starter.message}`);
    for (const [body, message] of wrong[ex.name]) {
      const v = await judged(ex.name, { attempt: attempt(body) });
      assert.equal(v.pass, false, `${body} passed: ${v.message}`);
      assert.match(v.message, message);
    }
    const none = await judged(ex.name, {});
    assert.ok(!none.pass && none.untried);
    assert.match(none.message, /^not attempted — /);
  });
}

test('04-hijacked-slot (explain): the slot and frame of a live crash pass; a wrong frame, a wrong slot, a crash-free text fail', async () => {
  const sandbox = await Sandbox.open();
  let stderr = '';
  let maps = '';
  try {
    const s = await sandbox.startServer();
    s.exe.uretprobe('main.demo', { pid: s.pid });
    await s.get('/?arg=3');
    maps = await s.maps();
    await s.get('/?arg=2000');
    assert.ok(await s.diesWithin(5000), 'demo(2000) crashed under the uretprobe');
    stderr = s.stderr;
  } finally {
    await sandbox.close();
  }
  const f = parseCrash(stderr, maps)!;
  assert.ok(f.slot && f.victim, 'the lab forensics find the slot');
  const evidence = (slot: string, frame: string, text = stderr) => ({ evidence: { slot, frame, stderr: text, maps } });
  const ok = await judged('04-hijacked-slot', evidence(f.slot.address, f.victim));
  assert.ok(ok.pass, ok.message);
  assert.match(ok.message, /\[uprobes\]/);
  // The slot as the dump prints it (Go ≥ 1.21: 16 digits, no 0x), and as a learner may retype it.
  const digits = BigInt(f.slot.address).toString(16).padStart(16, '0');
  const dumpLine = stderr.split('\n').find((l) => l.startsWith(`${digits.slice(0, 14)}`) || l.includes(`0x${digits}`));
  assert.ok(dumpLine, `the dump prints the slot's line (${digits})`);
  for (const typed of [
    digits,
    `0x${digits}`,
    digits.toUpperCase(),
    f.slot.address,
    ` ${f.slot.address.slice(2)} `,
    `${digits.slice(0, 8)} ${digits.slice(8)}`,
  ]) {
    const v = await judged('04-hijacked-slot', evidence(typed, f.victim));
    assert.ok(v.pass, `${JSON.stringify(typed)}: ${v.message}`);
  }
  assert.ok(
    (await judged('04-hijacked-slot', evidence(f.slot.address, `${f.victim}(...)`))).pass,
    'a frame as the traceback prints it',
  );
  const wrongFrame = (await judged('04-hijacked-slot', evidence(f.slot.address, 'main.growStack'))).message;
  assert.match(wrongFrame, /^the slot is right, the frame is wrong: .*"unexpected return pc for …" line/);
  assert.doesNotMatch(
    wrongFrame,
    new RegExp(f.victim.replace('.', '\\.')),
    'a wrong frame does not give the answer away',
  );
  const next = `0x${(BigInt(f.slot.address) + 8n).toString(16)}`;
  const wrongSlot = (await judged('04-hijacked-slot', evidence(next, f.victim))).message;
  assert.match(wrongSlot, new RegExp(`^the frame is right, the slot is wrong: \`${next}\``));
  const both = (await judged('04-hijacked-slot', evidence(next, 'main.growStack'))).message;
  assert.match(both, /the slot is wrong: .*; the frame is wrong: /, 'both parts named');
  assert.match((await judged('04-hijacked-slot', evidence('0x…', f.victim))).message, /is not an address/);
  assert.match(
    (await judged('04-hijacked-slot', evidence(f.slot.address, f.victim, 'all good\n'))).message,
    /holds no "unexpected return pc"/,
  );
  // Through the progress file: a pass, then a wrong attempt — the pass is kept, both are listed, the first stays first.
  await save('04-hijacked-slot', { evidence: { slot: digits, frame: f.victim, stderr, maps } });
  assert.ok((await checkSaved('04-hijacked-slot')).pass);
  await save('04-hijacked-slot', { evidence: { slot: next, frame: f.victim, stderr, maps } });
  assert.equal((await checkSaved('04-hijacked-slot')).pass, false);
  const kept = (await readProgress())['04-hijacked-slot'];
  assert.equal(kept.result?.pass, true, 'a later wrong attempt does not undo the pass');
  assert.deepEqual(
    kept.attempts?.map((a) => [a.answer, a.pass]),
    [
      [`${digits} ${f.victim}`, true],
      [`${next} ${f.victim}`, false],
    ],
  );
  const none = await judged('04-hijacked-slot', {});
  assert.ok(!none.pass && none.untried);
});

test('a progress file of valid JSON that is not progress (null, an array, a number…) says "delete it", not "unexpected error"', async () => {
  const file = process.env.LAB_EXERCISES_FILE!;
  const kept = existsSync(file) ? readFileSync(file, 'utf8') : undefined;
  try {
    for (const text of ['null', '[]', '42', '"x"', 'true', '{"02-arg-register":null}', '{"x":{"result":7}}', '{oops']) {
      writeFileSync(file, text);
      await assert.rejects(readProgress(), (e: Error) => {
        assert.equal(e.name, 'LabError', `${text}: ${e.name}: ${e.message}`);
        assert.match(e.message, /delete it to start over/, text);
        return true;
      });
    }
  } finally {
    if (kept === undefined) rmSync(file, { force: true });
    else writeFileSync(file, kept);
  }
});

test('after the checks the tracer lets go of everything: no BPF program or link of this process in the kernel', async () => {
  for (let i = 0; i < 100 && (loadedProgramIds().length || linksHeldBy(process.pid).length); i++)
    await new Promise((r) => setTimeout(r, 100));
  assert.deepEqual(loadedProgramIds(), []);
  assert.deepEqual(linksHeldBy(process.pid), []);
});
