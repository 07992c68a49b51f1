import { existsSync, readlinkSync, statSync } from 'node:fs';
import { parse, shown, type Command } from '../command.ts';
import { buildAll } from '../build.ts';
import { serverBinary } from '../../core/paths.ts';
import { say } from '../../core/ui.ts';
import { LabError } from '../../core/errors.ts';
import {
  DEFAULT_QUEUE_LIMIT,
  describeDrops,
  probeKinds,
  probeKindNames,
  type DropCounts,
  type ProbeKind,
} from '../../bpf/ts/index.ts';
import { eventJson, formatCall, VALUE_BUDGET_DEFAULT, VALUE_BUDGET_MAX } from '../../bpf/ts/values.ts';
import { openExecutable } from '../../bpf/ts/index.ts';
import { classifyDeath } from '../../model/forensics.ts';
import { DeathWitness } from '../../engines/death-witness.ts';
import { tracerEngines, type TraceRequest, type TraceSession } from '../../engines/tracing/index.ts';

const modes = probeKindNames;
/** The exit status when events were lost (drops): the trace is incomplete. */
export const EXIT_EVENTS_LOST = 3;
/** How often a line reports drops while they happen. */
const DROP_REPORT_MS = 5000;

export const runTracerCommand: Command = {
  name: 'run-tracer',
  summary: `trace a Go function live: ${modes.map((m) => `${m} (${probeKinds[m].summary})`).join(', ')}`,
  usage:
    `./lab run-tracer [--mode ${modes.join('|')}] [--symbol main.demo] [--binary server/server] [--pid N] [--json]\n` +
    '                 [--args N] [--rets N] [--string-arg SLOT] [--queue N] [--value-bytes N] [--engine addon|cilium]\n' +
    '  default: uretprobe on main.demo in server/server, every process; Ctrl-C detaches and exits\n' +
    modes.map((m) => `  --mode ${m}: ${probeKinds[m].description}\n`).join('') +
    `  --queue N: events held for a slow reader (stdout not drained) before they are dropped (default ${DEFAULT_QUEUE_LIMIT})\n` +
    `  --value-bytes N: bytes of strings and stack words each event carries (default ${VALUE_BUDGET_DEFAULT}, at most ${VALUE_BUDGET_MAX}); what does not fit is shown as beyond it\n` +
    '  lost events are never silent: a line every 5 s while they happen, a summary at the end (--json: {"kind":"drops",…} records)\n' +
    `  exit status: 0 all events delivered, 1 error, 2 usage error, ${EXIT_EVENTS_LOST} events were lost (the kernel's ring buffer or the queue was full)`,
  async run(argv) {
    const { values } = parse('run-tracer', argv, {
      flags: {
        mode: { type: 'enum', values: modes, default: 'uretprobe' },
        symbol: { type: 'string', default: 'main.demo' },
        binary: { type: 'path', default: serverBinary },
        pid: { type: 'int', min: 1, max: 4194304 },
        json: { type: 'bool' },
        // Overrides only: without them the tracer reads the function's own typed values (DWARF).
        // The tracer checks the exact register limits (bpf/events.h); these bound the typing.
        args: { type: 'int', min: 0, max: 64 },
        rets: { type: 'int', min: 0, max: 64 },
        'string-arg': { type: 'int', min: 0, max: 64 },
        engine: { type: 'enum', values: Object.keys(tracerEngines), default: 'addon' },
        queue: { type: 'int', min: 1, max: 100_000_000, default: DEFAULT_QUEUE_LIMIT },
        'value-bytes': { type: 'int', min: 0, max: VALUE_BUDGET_MAX },
      },
    });
    const mode = values.mode as ProbeKind;
    if (values.pid !== undefined) checkPid(values.pid, values.binary);
    const engine = tracerEngines[values.engine];
    const req: TraceRequest = {
      mode,
      symbol: values.symbol,
      binary: values.binary,
      pid: values.pid,
      args: values.args,
      rets: values.rets,
      stringArg: values['string-arg'],
      queueLimit: values.queue,
      valueBytes: values['value-bytes'],
    };

    await buildAll({}, values.engine === 'cilium' ? ['cilium'] : ['addon']);
    const session = await engine(req);
    // What the program's runtime threw or was signalled before dying: the exit status alone cannot tell a probe crash.
    const witness = values.engine === 'addon' ? new DeathWitness(await openExecutable(req.binary), req.pid) : undefined;
    let stopped = false;
    let stopNow!: () => void;
    const stopping = new Promise<void>((r) => (stopNow = r));
    const stop = () => {
      stopped = true;
      stopNow();
      void session.close(); // ends the event loop below
    };
    process.once('SIGINT', stop);
    process.once('SIGTERM', stop);
    say(
      `attached ${mode} to ${req.symbol} in ${req.binary} (${req.pid ? `pid ${req.pid}` : 'every process'}) — Ctrl-C to stop`,
    );
    const raw = req.args !== undefined || req.rets !== undefined || req.stringArg !== undefined;
    if (values.engine === 'addon' && !raw)
      say(
        `values: up to ${req.valueBytes ?? VALUE_BUDGET_DEFAULT} bytes of strings and stack words an event (--value-bytes, at most ${VALUE_BUDGET_MAX}); floats in X registers are out of a uprobe's reach`,
      );
    if (probeKinds[mode].crashesGo)
      say(`${mode} mode: a Go program whose stack moves while the probed function runs will crash — watch it happen`);

    const write = (line: string) => process.stdout.write(line + '\n');
    const reporter = new DropReporter(session, values.json ? write : undefined);
    for await (const e of session.events) {
      const line = values.json ? eventJson(e) : e.kind !== 'exit' ? formatCall(e) : undefined;
      // A full pipe (a reader that stopped reading): stop taking events until it drains, so they
      // wait in the probe's bounded queue and beyond it are dropped and counted, not buffered here.
      if (line !== undefined && !write(line) && !stopped) await drainedOrStopped(stopping);
      if (e.kind === 'exit') {
        const death = classifyDeath({ code: e.exit_code, signal: e.signal, ...witness?.evidence(e.pid) });
        say(`traced process ${e.pid} died: ${death.summary}`);
        if (probeKinds[mode].crashesGo && death.probeCrash) {
          say(
            'this is the uretprobe crash the lab is about: the kernel replaced the return address with its trampoline, and Go’s stack unwinder ' +
              '("unexpected return pc") cannot follow it — trace returns safely with --mode ret',
          );
        }
        if (req.pid === e.pid) break; // nothing left to trace
      }
    }
    witness?.close();
    await session.close();
    say(stopped ? 'detached' : 'tracer stopped');
    return reporter.finish() > 0 ? EXIT_EVENTS_LOST : 0;
  },
};

/** Resolves when stdout has drained or the tracer is told to stop (then what is queued is written without waiting). */
function drainedOrStopped(stopping: Promise<void>): Promise<void> {
  return new Promise((resolve) => {
    const done = () => {
      process.stdout.off('drain', done);
      resolve();
    };
    process.stdout.once('drain', done);
    void stopping.then(done);
  });
}

/** Says how many events were lost and why: every few seconds while it happens, and in the end. */
class DropReporter {
  private reported: DropCounts = { ring: 0, reader: 0 };
  private readonly timer: ReturnType<typeof setInterval>;

  constructor(
    private readonly session: TraceSession,
    private readonly json?: (line: string) => void,
  ) {
    this.timer = setInterval(() => this.report(false), DROP_REPORT_MS).unref();
  }

  private report(final: boolean): number {
    const now = this.session.drops();
    const total = now.ring + now.reader;
    const since = { ring: now.ring - this.reported.ring, reader: now.reader - this.reported.reader };
    const fresh = since.ring + since.reader;
    if (fresh > 0 || final)
      this.json?.(JSON.stringify({ kind: 'drops', total, ring: now.ring, reader: now.reader, final }));
    if (final) say(total ? `lost ${total} events: ${describeDrops(now)}` : 'no events lost');
    else if (fresh > 0)
      say(`lost ${fresh} events in the last ${DROP_REPORT_MS / 1000} s: ${describeDrops(since)} (${total} in all)`);
    this.reported = now;
    return total;
  }

  /** The final count (printed, and a final JSON record); call once the session is closed. */
  finish(): number {
    clearInterval(this.timer);
    return this.report(true);
  }
}

/** --pid must name a live process started from --binary: probes on another file never fire. */
function checkPid(pid: number, binary: string): void {
  const file = statSync(binary, { throwIfNoEntry: false });
  if (!file) return; // the tracer says there is no such file
  if (!existsSync(`/proc/${pid}`))
    throw new LabError(
      `no process ${pid} to trace`,
      'pass the PID of a running server, e.g. from ./lab run-app, or leave --pid out',
    );
  let exe: string;
  let same: boolean;
  try {
    exe = readlinkSync(`/proc/${pid}/exe`);
    const running = statSync(`/proc/${pid}/exe`);
    same = running.dev === file.dev && running.ino === file.ino;
  } catch {
    throw new LabError(
      `cannot tell which program process ${pid} runs (a kernel thread, or outside this container)`,
      'pass the PID of a server the lab can see, or leave --pid out',
    );
  }
  if (!same)
    throw new LabError(
      `process ${pid} runs ${shown(exe)}, not ${shown(binary)}`,
      'pass --binary for that program, or the PID of a process started from it',
    );
}
