/**
 * Typed values on Go code the lab did not write: a corpus program of ours
 * (test/support/fixtures/corpus) calls 36 standard-library functions and functions of its own
 * over every value shape of Go's register ABI, and records what it passed and got back. Built
 * with every Go the lab supports, traced in ret mode: every value the tracer shows equals that
 * record; what it cannot show is counted by reason. Printed: exact / unavailable / wrong.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { availableToolchains, type GoToolchain } from '../../core/go.ts';
import { at } from '../../core/paths.ts';
import { run } from '../../core/proc.ts';
import { closeAllProbes, openExecutable, type Probe, type TraceEvent } from '../../bpf/ts/index.ts';
import { eventJson, FLOAT_UNAVAILABLE, formatCall, type ValueInfo } from '../../bpf/ts/values.ts';
import { closeAndCollect, sleep } from '../support/kernel.ts';

const source = at('test', 'support', 'fixtures', 'corpus');
const dir = mkdtempSync(join(tmpdir(), 'lab-corpus-'));
const builds: { toolchain: GoToolchain; binary: string }[] = [];

before(async () => {
  for (const toolchain of await availableToolchains({ fetchNewer: true })) {
    const binary = join(dir, `corpus-${toolchain.version}`);
    await run(toolchain.go, ['build', '-o', binary, '.'], {
      cwd: source,
      env: { ...process.env, CGO_ENABLED: '0', ...toolchain.env },
      fix: 'fix the Go compile error shown above',
    });
    builds.push({ toolchain, binary });
  }
});
after(() => {
  closeAllProbes();
  rmSync(dir, { recursive: true, force: true });
});

interface Truth {
  fn: string;
  args: unknown[];
  ret: unknown[];
}

/** The corpus running until its first line; its stderr lines awaited one by one. */
function startCorpus(binary: string, truth: string): { child: ChildProcess; line: (want: string) => Promise<void> } {
  const child = spawn(binary, [], { env: { ...process.env, TRUTH: truth }, stdio: ['pipe', 'ignore', 'pipe'] });
  let err = '';
  const waiters: { want: string; done: () => void }[] = [];
  child.stderr!.on('data', (d) => {
    err += d;
    for (const w of waiters.splice(0))
      if (err.includes(w.want)) w.done();
      else waiters.push(w);
  });
  const line = (want: string) =>
    new Promise<void>((resolve, reject) => {
      if (err.includes(want)) return resolve();
      waiters.push({ want, done: resolve });
      child.once('exit', (code) => reject(new Error(`the corpus exited (${code}) before "${want}": ${err}`)));
    });
  return { child, line };
}

/** The symbol of a recorded function: type arguments become shapes (go.shape.int, or go.shape.int_0 on 1.19). */
function symbolOf(fn: string, names: string[]): string | undefined {
  if (!fn.includes('[')) return names.includes(fn) ? fn : undefined;
  const pattern = fn.replace(/[.*()]/g, '\\$&').replace(/\[(\w+)\]/g, '\\[go\\.shape\\.$1(_0)?\\]');
  const re = new RegExp(`^${pattern}$`);
  return names.find((n) => re.test(n));
}

const entered = (e: TraceEvent) => e.ts_ns - (e.latency_ns ?? 0);

/**
 * The program's own call of each record: the first event of its function entered after the mark
 * of the record before (main.mark, called after each) and before its own mark. The others in
 * that window are calls it made itself (strconv.Itoa tail-calls FormatInt on Go 1.19).
 */
function ownCall(events: TraceEvent[], marks: TraceEvent[], k: number): TraceEvent | undefined {
  const from = k > 0 ? entered(marks[k - 1]) : -Infinity;
  const to = entered(marks[k]);
  let best: TraceEvent | undefined;
  for (const e of events) {
    const t = entered(e);
    if (e.goroutine === marks[k].goroutine && t > from && t < to && (!best || t < entered(best))) best = e;
  }
  return best;
}

interface Counts {
  exact: number;
  unavailable: Map<string, number>;
  wrong: string[];
}

/** Compares one shown value with the record: exact, unavailable (with the tracer's reason), or wrong. */
function judge(c: Counts, where: string, shown: unknown, info: ValueInfo | undefined, want: unknown): void {
  if (info?.unavailable) {
    const reason = info.unavailable;
    c.unavailable.set(reason, (c.unavailable.get(reason) ?? 0) + 1);
    return;
  }
  const same = matches(shown, want, info?.truncated === true);
  if (same === 'cut')
    c.unavailable.set('cut at the value budget', (c.unavailable.get('cut at the value budget') ?? 0) + 1);
  else if (same) c.exact++;
  else c.wrong.push(`${where}: shown ${JSON.stringify(shown)}, the program had ${JSON.stringify(want)}`);
}

/** Equal, or — for a value marked truncated — equal but for strings that are their record's first bytes ('cut'). */
function matches(shown: unknown, want: unknown, truncated: boolean): boolean | 'cut' {
  if (typeof shown === 'string' && typeof want === 'string')
    return shown === want || (truncated && want.startsWith(shown) ? 'cut' : false);
  if (typeof shown !== 'object' || typeof want !== 'object' || shown === null || want === null) return shown === want;
  const keys = Object.keys(want);
  if (Array.isArray(shown) !== Array.isArray(want) || Object.keys(shown).length !== keys.length) return false;
  let cut = false;
  for (const k of keys) {
    const m = matches((shown as Record<string, unknown>)[k], (want as Record<string, unknown>)[k], truncated);
    if (!m) return false;
    if (m === 'cut') cut = true;
  }
  return cut ? 'cut' : true;
}

/** Runs the corpus under one ret-mode probe per function it records, and judges every value shown against its record. */
async function traceCorpus(
  binary: string,
  label: string,
  valueBytes?: number,
): Promise<Counts & { calls: number; fns: number; first: Map<string, TraceEvent> }> {
  const truthFile = join(dir, `truth-${label}.jsonl`);
  const { child, line } = startCorpus(binary, truthFile);
  await line('ready');
  const exe = await openExecutable(binary);
  const names = exe.functions().map((f) => f.name);
  // The record names each function; one probe per function, opened while the program waits.
  const fns = [
    ...new Set(
      readFileSync(join(source, 'main.go'), 'utf8')
        .split('\n')
        .flatMap((l) => /\brec\("([^"]+)"/.exec(l)?.[1] ?? []),
    ),
  ];
  const probes = new Map<string, Probe>([['main.mark', exe.returnProbes('main.mark', { pid: child.pid })]]);
  for (const fn of fns) {
    const symbol = symbolOf(fn, names);
    assert.ok(symbol, `${fn} is not a function of the ${label} corpus`);
    probes.set(fn, exe.returnProbes(symbol, { pid: child.pid, valueBytes }));
  }
  await Promise.all([...probes.values()].map((p) => p.ready));
  child.stdin!.write('\n');
  await line('done');
  await sleep(100);
  const events = new Map<string, TraceEvent[]>();
  for (const [fn, p] of probes)
    events.set(
      fn,
      (await closeAndCollect(p)).filter((e) => e.kind === 'call'),
    );
  const marks = events.get('main.mark')!.sort((x, y) => entered(x) - entered(y));
  child.stdin!.end('\n');
  await new Promise((r) => child.once('exit', r));

  const truth = readFileSync(truthFile, 'utf8')
    .split('\n')
    .filter(Boolean)
    .map((l) => JSON.parse(l) as Truth);
  const c: Counts = { exact: 0, unavailable: new Map(), wrong: [] };
  assert.equal(marks.length, truth.length, 'one mark per call');
  const seen = new Map<string, number>();
  const first = new Map<string, TraceEvent>();
  for (const [k, t] of truth.entries()) {
    const i = seen.get(t.fn) ?? 0;
    seen.set(t.fn, i + 1);
    const e = ownCall(events.get(t.fn) ?? [], marks, k);
    if (!e) {
      c.wrong.push(`${t.fn} call ${i}: no event`);
      continue;
    }
    if (!first.has(t.fn)) first.set(t.fn, e);
    const json = JSON.parse(eventJson(e)) as { args: unknown[]; ret: unknown[] };
    assert.equal(json.args.length, t.args.length, `${t.fn}: the parameters`);
    assert.equal(json.ret.length, t.ret.length, `${t.fn}: the results`);
    t.args.forEach((want, k) => judge(c, `${t.fn}#${i} arg ${k}`, json.args[k], e.params?.[k], want));
    t.ret.forEach((want, k) => judge(c, `${t.fn}#${i} result ${k}`, json.ret[k], e.results?.[k], want));
  }
  const total = [...c.unavailable.values()].reduce((x, y) => x + y, 0);
  console.log(
    `${label}: ${fns.length} functions, ${truth.length} calls: exact ${c.exact} / unavailable ${total} / wrong ${c.wrong.length}`,
  );
  for (const [why, n] of c.unavailable) console.log(`  unavailable: ${n} ${why}`);
  return { ...c, calls: truth.length, fns: fns.length, first };
}

const buildOf = (which: string) => {
  const build = builds.find((b) => b.toolchain.version.startsWith(`go${which}`));
  assert.ok(build, `no corpus built with Go ${which}`);
  return build.binary;
};

for (const which of ['1.19', '1.26', '1.27']) {
  test(`Go ${which}: every value the tracer shows of the corpus's calls is the program's own`, async () => {
    const c = await traceCorpus(buildOf(which), `Go ${which}`);
    assert.ok(c.fns >= 55 && c.calls >= 190, 'the whole corpus ran');
    assert.deepEqual(c.wrong, [], 'every value shown is the program’s own');
    assert.ok(c.exact > 500, `the tracer shows the values (${c.exact} exact)`);
    assert.deepEqual([...c.unavailable.keys()], [FLOAT_UNAVAILABLE], 'only floats in X registers are out of reach');
    // One line each, as run-tracer prints them: strings quoted (inside structs too), odd bytes escaped, boxes typed.
    const line = (fn: string) => formatCall(c.first.get(fn)!);
    assert.match(
      line('main.remix'),
      /^main\.remix\(m=\{A:-1 B:"héllo wörld" C:false\}\) = \{A:1 B:"héllo wörld!" C:true\} /,
    );
    assert.match(line('main.echo'), /^main\.echo\(s="\\xff\\xfeok\\\\"\) = "\\xff\\xfeok\\\\" /);
    assert.match(line('main.box'), /^main\.box\(x=int\(-30000\)\) = int\(-30000\) /);
    assert.match(
      line('main.Max[string]'),
      /^main\.Max\[go\.shape\.string(_0)?\]\(a="héllo wörld", b="gopher"\) = "héllo wörld" /,
    );
  });
}

test('a 24-byte value budget: what does not fit is said to be beyond it, and nothing shown is wrong', async () => {
  const c = await traceCorpus(buildOf('1.26'), 'budget 24', 24);
  assert.deepEqual(c.wrong, [], 'every value shown is the program’s own');
  const reasons = [...c.unavailable.keys()];
  assert.ok(
    reasons.some((r) => r.includes("beyond the event's 24-byte value budget")),
    reasons.join('; '),
  );
  assert.ok(c.unavailable.get('cut at the value budget'), 'long strings cut, their first bytes exact');
  assert.ok(c.exact > 300, `the registers and what fits are still shown (${c.exact})`);
});
