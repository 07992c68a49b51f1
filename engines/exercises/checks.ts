/**
 * The exercises' checks: each looks at real state — the events the learner's probe delivered,
 * whether the server process lives, the probe's kind and sites, the crash text read by the lab's
 * forensics, a live run of the crash matrix — and says pass or what is still wrong, in one line.
 * Every server and probe a check makes is closed before it returns.
 */
import { LabError } from '../../core/errors.ts';
import { goToolchain, oldGo } from '../../core/go.ts';
import type { Probe, TraceEvent } from '../../bpf/ts/index.ts';
import { parseCrash, crashSignature } from '../../model/forensics.ts';
import { judgeEvidence } from '../../model/exercises/evidence.ts';
import { judgePrediction, readChoice, type AttemptRecord, type Verdict } from '../../model/exercises/judging.ts';
import { runCrashMatrix, type Outcome } from '../crash-matrix.ts';
import { exercise, type Exercise, type Prediction } from '../../model/exercises/catalog.ts';
import { attemptFromSource, Sandbox, type Attempt, type SandboxServer } from './sandbox.ts';

export type { Verdict };

/** The learner's side of an exercise, as kept in the progress file. */
export interface Submission {
  /** predict: the choice id, locked in. */
  answer?: string;
  /** do: the attempt function's source. */
  attempt?: string;
  /** explain: what the learner pointed at, and the crash they read it in. */
  evidence?: { slot: string; frame: string; stderr: string; maps: string };
  /** Every judged attempt (the first always kept); the saved result is the best of them (model/exercises/judging.ts). */
  attempts?: AttemptRecord[];
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const pass = (message: string): Verdict => ({ pass: true, message });
const fail = (message: string): Verdict => ({ pass: false, message });
const untried = (message: string): Verdict => ({ pass: false, message, untried: true });
/** The first argument as a number, whether the tracer decoded it as a number or a bigint. */
const arg0 = (e: TraceEvent) => Number(e.args[0]);
const nonce = () => Math.random().toString(36).slice(2, 8);

// ---------------------------------------------------------------- what probes delivered

const isProbe = (v: unknown): v is Probe =>
  typeof v === 'object' &&
  v !== null &&
  typeof (v as Probe).batches === 'function' &&
  typeof (v as Probe).symbol === 'string';

/** Reads a probe's events into an array while the check drives the server. */
class Collected {
  readonly events: TraceEvent[] = [];
  constructor(readonly probe: Probe) {
    // A probe the service refused ends with its error: what arrived is all there is (ready says why).
    void (async () => {
      for await (const batch of probe.batches()) this.events.push(...batch);
    })().catch(() => {});
  }
  /** Waits up to `ms` for an event that matches. */
  async waitFor(pred: (e: TraceEvent) => boolean, ms = 3000): Promise<TraceEvent | undefined> {
    for (let t = 0; t < ms; t += 50) {
      const hit = this.events.find(pred);
      if (hit) return hit;
      await sleep(50);
    }
    return this.events.find(pred);
  }
}

/**
 * The attempt's result as a probe on `symbol` that the attempt really attached (not a look-alike
 * object), once the kernel has it (through the probe service, the attach is answered later).
 */
async function probeOn(result: unknown, symbol: string, sandbox: Sandbox): Promise<Probe | Verdict> {
  if (!isProbe(result))
    return fail(
      `your attempt returned ${describe(result)}, not a probe — return the probe you attached (return exe.uprobe(…))`,
    );
  if (!result.closed && !sandbox.newProbes().includes(result))
    return fail(
      'what your attempt returned is not a probe the tracer attached — return what exe.uprobe / exe.returnProbes gave you',
    );
  if (result.symbol !== symbol) return fail(`your probe is on ${result.symbol}; the task asks for ${symbol}`);
  try {
    await result.ready;
  } catch (e) {
    return fail(`your probe was not attached: ${(e as Error).message}`);
  }
  if (result.closed) return fail('your probe is already closed — return it open, the check closes it');
  return result;
}

/** A probe the check opens itself, once attached: a refusal by the probe service (say, its cap) is the check's error. */
async function attached(probe: Probe): Promise<Probe> {
  await probe.ready;
  return probe;
}

/** How a message names the learner's probe ("ret" is the lab's RET-site probes). */
const probeWords = (p: Probe) => (p.kind === 'ret' ? 'RET-site probes' : p.kind);

const describe = (v: unknown) =>
  v === undefined ? 'nothing' : typeof v === 'object' && v !== null ? 'an object' : JSON.stringify(v);

/** How the server died, in the runtime's words. */
function death(s: SandboxServer): string {
  const f = parseCrash(s.stderr);
  if (f) return crashSignature(f);
  const e = s.exit;
  return e?.signal ? `killed by ${e.signal}` : `exit status ${e?.code}`;
}

// ---------------------------------------------------------------- do it

type TaskCheck = (result: unknown, ctx: { server: SandboxServer; sandbox: Sandbox }) => Promise<Verdict>;

const tasks: Record<string, TaskCheck> = {
  async '02-read-the-string'(result, { server, sandbox }) {
    const probe = await probeOn(result, 'main.wordStats', sandbox);
    if (!isProbe(probe)) return probe;
    const seen = new Collected(probe);
    const text = `checks read ${nonce()} strings`;
    await server.get(`/words?s=${encodeURIComponent(text)}`);
    const hit = await seen.waitFor((e) => e.str === text);
    if (hit)
      return pass(`your ${probeWords(probe)} read main.wordStats(${JSON.stringify(hit.str)}) from the server's memory`);
    if (seen.events.length === 0)
      return fail('your probe delivered no event for /words — attach it to this server (pid: server.pid)');
    const got = seen.events.find((e) => e.str !== undefined)?.str;
    if (got !== undefined)
      return fail(
        `your events carry ${JSON.stringify(got)}, not the text sent (${JSON.stringify(text)}) — the pointer is slot 0, the length slot 1`,
      );
    return fail(
      `your probe delivered ${seen.events.length} event(s) but none carries the string — tell it which slot holds the pointer (stringArg)`,
    );
  },

  async '03-kill-the-server'(_result, { server }) {
    if (!(await server.diesWithin(3000)))
      return fail(
        `the server (pid ${server.pid}) is still alive — a uprobe never touches the stack: use the probe kind that hijacks returns, then grow the stack`,
      );
    const f = parseCrash(server.stderr);
    if (!f)
      return fail(
        `the server died (${death(server)}) without a Go crash — that was not a hijacked return: let a uretprobe and the runtime do it`,
      );
    if (f.kind !== 'unexpected-return-pc' && f.kind !== 'sigill')
      return fail(`the server died of "${f.signature}", not of a hijacked return address — use a uretprobe`);
    return pass(`the runtime threw: ${crashSignature(f)}`);
  },

  async '03-smallest-crashing-arg'(result, { sandbox }) {
    const n = result;
    if (typeof n !== 'number' || !Number.isInteger(n) || n < 1 || n > 10000)
      return fail(`your attempt returned ${describe(n)} — return the arg, an integer from 1 to 10000`);
    const crashes = async (arg: number) => {
      const s = await sandbox.startServer();
      const probe = await attached(s.exe.uretprobe('main.demo', { pid: s.pid }));
      try {
        await s.get(`/?arg=${arg}`, 5000);
        return await s.diesWithin(300);
      } finally {
        probe.close();
        await s.close();
      }
    };
    if (!(await crashes(n)))
      return fail(
        `arg=${n} does not crash the server under a uretprobe on main.demo — the smallest fatal arg is larger`,
      );
    if (n > 1 && (await crashes(n - 1)))
      return fail(`arg=${n - 1} crashes it too — the smallest fatal arg is smaller than ${n}`);
    return pass(
      `arg=${n} crashes, arg=${n - 1} survives: from ${n} frames on, demo's recursion outgrows the goroutine's first stack`,
    );
  },

  async '05-survive-growth'(result, { server, sandbox }) {
    const probe = await probeOn(result, 'main.demo', sandbox);
    if (!isProbe(probe)) return probe;
    const seen = new Collected(probe);
    await server.get('/?arg=3');
    await server.get('/?arg=2000');
    if (await server.diesWithin(300))
      return fail(
        `the server died: ${death(server)} — a uretprobe hijacks the return address; trace returns at the RET instructions instead`,
      );
    const done = await seen.waitFor((e) => arg0(e) === 2000 && e.latency_ns !== null);
    if (done)
      return pass(
        `the server survived demo(2000), and your ${probeWords(probe)} reported it returning after ${(done.latency_ns! / 1000).toFixed(0)} µs`,
      );
    if (seen.events.some((e) => arg0(e) === 2000))
      return fail('your probe saw demo(2000) enter but never return: no latency — trace the returns too');
    return fail(
      `your probe delivered no event for demo(2000) (${seen.events.length} event(s) in all) — read the argument (args: 1) and attach to server.pid`,
    );
  },

  async '05-survive-panic'(result, { server, sandbox }) {
    const probe = await probeOn(result, 'main.panicThrough', sandbox);
    if (!isProbe(probe)) return probe;
    const seen = new Collected(probe);
    await server.get('/panic?arg=1');
    if (await server.diesWithin(300))
      return fail(`the server died: ${death(server)} — the panic unwound through a hijacked return address`);
    if (await seen.waitFor((e) => e.kind !== 'exit' && arg0(e) === 1, 1000))
      return pass(`the server survived the panic, and your ${probeWords(probe)} saw panicThrough(1)`);
    if (probe.kind === 'ret')
      return fail(
        'the server survived but your RET-site probes saw nothing: a panicking call never reaches a RET — watch its entry',
      );
    return fail(
      `your probe saw no call of panicThrough(1) (${seen.events.length} event(s)) — read its argument (args: 1) and attach to server.pid`,
    );
  },

  async '06-which-ret'(result, { server, sandbox }) {
    const probe = await probeOn(result, 'main.classify', sandbox);
    if (!isProbe(probe)) return probe;
    const seen = new Collected(probe);
    const args = [0, 4, 7, 2001];
    for (const a of args) await server.get(`/classify?arg=${a}`);
    await seen.waitFor((e) => arg0(e) === 2001 && e.kind !== 'entry', 1500);
    const calls = seen.events.filter((e) => e.kind !== 'exit' && args.includes(arg0(e)));
    if (calls.length === 0)
      return fail(
        'your probe delivered no event for the /classify requests — attach it to server.pid and read the argument (args: 1)',
      );
    const sited = calls.filter((e) => e.ret_site !== undefined);
    if (sited.length === 0)
      return fail(
        `your ${probeWords(probe)}'s events carry no RET # (${calls.map((e) => e.kind).join(', ')}) — put a probe on each RET instruction`,
      );
    const rets = server.exe.retSites('main.classify').sites;
    const sites = rets.length;
    const bad = sited.find((e) => e.ret_site! >= sites);
    if (bad) return fail(`an event names RET #${bad.ret_site}, but main.classify has ${sites} RETs`);
    // What the kernel has attached, not what the tracer says: the sites in the fdinfo of the links
    // that hold this probe (the probe service reads its own for an attendee), each RET by its offset.
    const inKernel = (await probe.kernelSites()).filter((k) => k.path === server.binary);
    const missing = rets.findIndex((r, i) => !inKernel.some((k) => k.offset === r.fileOffset && k.retSite === i));
    if (missing >= 0)
      return fail(
        `the kernel has no probe of yours on RET #${missing} of main.classify (file offset 0x${rets[missing].fileOffset.toString(16)}) — every RET needs its own probe`,
      );
    const attached = new Set(inKernel.map((k) => k.offset)).size;
    const used = [...new Set(sited.map((e) => e.ret_site))].sort();
    return pass(
      `${sited.length} calls, each with its RET #: ${sited.map((e) => `classify(${arg0(e)}) → #${e.ret_site}`).join(', ')} (RETs used: ${used.join(', ')} of ${sites}; the kernel probes ${attached} sites)`,
    );
  },

  async '07-go-version-matters'(result) {
    if (typeof result !== 'string')
      return fail(`your attempt returned ${describe(result)} — return a trigger id, e.g. "stack-growth"`);
    const here = await goToolchain();
    const old = await goToolchain(oldGo).catch(() => {
      throw new LabError(`Debian's Go 1.19 is not installed (${oldGo})`, 'run ./lab setup');
    });
    if (here.version === old.version)
      throw new LabError(`this machine's Go is ${here.version} too`, 'install a newer Go (./lab setup)');
    const m = await runCrashMatrix({ toolchains: [here, old], triggers: [result], probes: ['uretprobe'] });
    const outcome = (go: string): Outcome => m.cells.find((c) => c.go === go && c.probe === 'uretprobe')!.outcome;
    const [now, then] = [outcome(here.version), outcome(old.version)];
    if (now === 'crash')
      return fail(`${result} crashes under a uretprobe on ${here.version} too — find one this Go survives`);
    if (then !== 'crash')
      return fail(`${result} survives a uretprobe on ${old.version} too (${then}) — find one that Go 1.19 crashes on`);
    return pass(`${result} under a uretprobe: ${now} on ${here.version}, crash on ${old.version}`);
  },
};

// ---------------------------------------------------------------- predictions

/** The choice the live system shows, worked out on fresh servers. */
const truths: Record<string, (sandbox: Sandbox) => Promise<{ choice: string | undefined; seen: string }>> = {
  async '02-arg-register'(sandbox) {
    const s = await sandbox.startServer();
    const seen = new Collected(await attached(s.exe.uprobe('main.demo', { pid: s.pid, args: 4 })));
    await s.get('/?arg=42');
    const e = await seen.waitFor((x) => x.kind === 'entry');
    if (!e) throw new LabError('the uprobe on main.demo delivered no event', 'run ./lab doctor');
    const slot = e.args.findIndex((a) => Number(a) === 42);
    const names = ['RAX', 'RBX', 'RCX', 'RDI'];
    return {
      choice: slot === 0 ? 'a' : slot === 3 ? 'b' : undefined,
      seen: `42 arrived in register slot ${slot} (${names[slot] ?? 'none'})`,
    };
  },

  async '03-which-request-kills'(sandbox) {
    const s = await sandbox.startServer();
    const probe = await attached(s.exe.uretprobe('main.demo', { pid: s.pid }));
    const dead = () => s.diesWithin(300);
    if (await dead()) return { choice: 'd', seen: 'the server died when the uretprobe was attached' };
    await s.get('/?arg=3');
    if (await dead()) return { choice: 'c', seen: `/?arg=3 killed it: ${death(s)}` };
    await s.get('/?arg=2000');
    probe.close();
    if (await dead()) return { choice: 'b', seen: `/?arg=3 survived, /?arg=2000 killed it: ${death(s)}` };
    return { choice: 'a', seen: 'the server survived both requests' };
  },

  async '04-what-walked-the-stack'(sandbox) {
    const s = await sandbox.startServer();
    await attached(s.exe.uretprobe('main.demo', { pid: s.pid }));
    await s.get('/?arg=3');
    await s.get('/?arg=2000');
    if (!(await s.diesWithin(3000)))
      throw new LabError(
        'demo(2000) did not crash the server under a uretprobe',
        'run ./lab crash-matrix to see what this machine does',
      );
    const during = parseCrash(s.stderr)?.during ?? 'unknown';
    const choice = /copystack/.test(during) ? 'a' : /GC/.test(during) ? 'b' : /panic/.test(during) ? 'c' : undefined;
    return { choice, seen: `the crash happened during ${during}` };
  },

  async '05-demo-ret-count'(sandbox) {
    return retCount(sandbox, 'main.demo');
  },

  async '06-classify-ret-count'(sandbox) {
    return retCount(sandbox, 'main.classify');
  },

  async '06-square-calls'(sandbox) {
    const s = await sandbox.startServer();
    const seen = new Collected(await attached(s.exe.uprobe('main.square', { pid: s.pid, args: 1 })));
    await s.get('/inline?arg=7');
    await seen.waitFor((e) => arg0(e) === 7, 1000);
    await sleep(200);
    const n = seen.events.filter((e) => e.kind === 'entry').length;
    return { choice: String(Math.min(n, 2)), seen: `the uprobe on main.square saw ${n} call(s) for /inline?arg=7` };
  },

  async '07-quiet-damage'() {
    const m = await runCrashMatrix({ toolchains: [await goToolchain()], triggers: ['callers'], probes: ['uretprobe'] });
    const c = m.cells.find((x) => x.probe === 'uretprobe')!;
    const choice = { crash: 'a', 'survive-but-wrong': 'b', survive: 'c' }[c.outcome];
    return {
      choice,
      seen: `on ${c.go}: ${c.outcome}${c.wrong ? ` (${c.wrong})` : c.signature ? ` (${c.signature})` : ''}`,
    };
  },
};

async function retCount(sandbox: Sandbox, symbol: string) {
  const s = await sandbox.startServer();
  const n = s.exe.retSites(symbol).sites.length;
  const ex = exercise(symbol === 'main.demo' ? '05-demo-ret-count' : '06-classify-ret-count') as Prediction;
  const ids = ex.choices.map((c) => c.id);
  // The last choice of a count reads "N or more" when its text says so.
  const choice = ids.includes(String(n))
    ? String(n)
    : ex.choices.at(-1)!.text.includes('or more') && n > Number(ids.at(-1))
      ? ids.at(-1)
      : undefined;
  return { choice, seen: `the disassembler finds ${n} RET instruction(s) in ${symbol}` };
}

// ---------------------------------------------------------------- one entry point

/** The saved attempt of a "do it" exercise, or the attempt function a kernel cell passes. */
export async function judge(name: string, submission: Submission, attempt?: Attempt): Promise<Verdict> {
  const ex = exercise(name);
  if (!ex) throw new LabError(`no exercise named "${name}"`, 'list them with ./lab exercises --names');
  try {
    return await judgeKnown(ex, submission, attempt);
  } catch (e) {
    if (e instanceof LabError) return fail(`the check could not run: ${e.message}`);
    throw e;
  }
}

async function judgeKnown(ex: Exercise, submission: Submission, attempt?: Attempt): Promise<Verdict> {
  if (ex.kind === 'explain') {
    if (!submission.evidence)
      return untried(
        `not attempted — fill in the slot and the frame in notebook ${ex.notebook}'s ${ex.name} cell and run it`,
      );
    return judgeEvidence(submission.evidence);
  }
  if (ex.kind === 'predict') {
    if (submission.answer === undefined)
      return untried(
        `not answered — lock in a choice (${ex.choices.map((c) => c.id).join(', ')}) with lab.predict("${ex.name}", …) or ./lab exercises --answer ${ex.name}=CHOICE`,
      );
    if (readChoice(ex, submission.answer) === undefined)
      return fail(`"${submission.answer}" is none of the choices (${ex.choices.map((c) => c.id).join(', ')})`);
    const sandbox = await Sandbox.open();
    try {
      const truth = await truths[ex.name](sandbox);
      return judgePrediction(ex, submission.answer, { ...truth, source: 'this machine' });
    } finally {
      await sandbox.close();
    }
  }
  const fn = attempt ?? (submission.attempt !== undefined ? attemptFromSource(submission.attempt) : undefined);
  if (!fn)
    return untried(
      `not attempted — write your attempt in notebook ${ex.notebook}'s ${ex.name} cell and run it (the check runs it on a fresh server)`,
    );
  const sandbox = await Sandbox.open();
  try {
    const ctx = await sandbox.context();
    let result: unknown;
    try {
      result = await fn(ctx);
    } catch (e) {
      return fail(`your attempt threw: ${(e as Error).message ?? e}`);
    }
    return await tasks[ex.name](result, { server: ctx.server, sandbox });
  } finally {
    await sandbox.close();
  }
}

/** Names every check exists for: a test holds the catalog and the checks to each other. */
export const checkedNames = () => [...Object.keys(tasks), ...Object.keys(truths)];
