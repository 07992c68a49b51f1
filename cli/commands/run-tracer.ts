import { constants } from 'node:os';
import { existsSync, readlinkSync, statSync } from 'node:fs';
import { parse, shown, type Command } from '../command.ts';
import { buildAll } from '../build.ts';
import { serverBinary } from '../../core/paths.ts';
import { say } from '../../core/ui.ts';
import { LabError } from '../../core/errors.ts';
import type { ProbeKind, TraceEvent } from '../../bpf/ts/index.ts';
import { tracerEngines, type TraceRequest } from '../../engines/tracing/index.ts';

const modes: ProbeKind[] = ['uprobe', 'uretprobe', 'ret'];

export const runTracerCommand: Command = {
  name: 'run-tracer',
  summary: 'trace a Go function live: uprobe (entries), uretprobe (returns; crashes Go) or ret (safe returns)',
  usage:
    './lab run-tracer [--mode uprobe|uretprobe|ret] [--symbol main.demo] [--binary server/server] [--pid N] [--json]\n' +
    '                 [--args N] [--rets N] [--string-arg SLOT] [--engine addon|cilium]\n' +
    '  default: uretprobe on main.demo in server/server, every process; Ctrl-C detaches and exits',
  async run(argv) {
    const { values } = parse('run-tracer', argv, {
      flags: {
        mode: { type: 'enum', values: modes, default: 'uretprobe' },
        symbol: { type: 'string', default: 'main.demo' },
        binary: { type: 'path', default: serverBinary },
        pid: { type: 'int', min: 1, max: 4194304 },
        json: { type: 'bool' },
        // The tracer checks the exact register limits (bpf/events.h); these bound the typing.
        args: { type: 'int', min: 0, max: 64, default: 1 },
        rets: { type: 'int', min: 0, max: 64, default: 1 },
        'string-arg': { type: 'int', min: 0, max: 64 },
        engine: { type: 'enum', values: Object.keys(tracerEngines), default: 'addon' },
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
    };

    await buildAll({}, values.engine === 'cilium' ? ['cilium'] : ['addon']);
    const session = await engine(req);
    let stopped = false;
    const stop = () => {
      stopped = true;
      session.close(); // ends the event loop below
    };
    process.once('SIGINT', stop);
    process.once('SIGTERM', stop);
    say(`attached ${mode} to ${req.symbol} in ${req.binary} (${req.pid ? `pid ${req.pid}` : 'every process'}) — Ctrl-C to stop`);
    if (mode === 'uretprobe') say('uretprobe mode: a Go program whose stack moves while the probed function runs will crash — watch it happen');

    for await (const e of session.events) {
      if (values.json) process.stdout.write(JSON.stringify(e) + '\n');
      else if (e.kind !== 'exit') process.stdout.write(describeEvent(e) + '\n');
      if (e.kind === 'exit') {
        say(`traced process ${e.pid} died: ${describeExit(e)}`);
        if (mode === 'uretprobe' && (e.signal || e.exit_code)) {
          say(
            'this is the uretprobe crash the lab is about: the kernel replaced the return address with its trampoline, and Go’s stack unwinder ' +
              '("unexpected return pc") cannot follow it — trace returns safely with --mode ret',
          );
        }
        if (req.pid === e.pid) break; // nothing left to trace
      }
    }
    session.close();
    say(stopped ? 'detached' : 'tracer stopped');
    return 0;
  },
};

/** --pid must name a live process started from --binary: probes on another file never fire. */
function checkPid(pid: number, binary: string): void {
  const file = statSync(binary, { throwIfNoEntry: false });
  if (!file) return; // the tracer says there is no such file
  if (!existsSync(`/proc/${pid}`)) throw new LabError(`no process ${pid} to trace`, 'pass the PID of a running server, e.g. from ./lab run-app, or leave --pid out');
  let exe: string;
  let same: boolean;
  try {
    exe = readlinkSync(`/proc/${pid}/exe`);
    const running = statSync(`/proc/${pid}/exe`);
    same = running.dev === file.dev && running.ino === file.ino;
  } catch {
    throw new LabError(`cannot tell which program process ${pid} runs (a kernel thread, or outside this container)`, 'pass the PID of a server the lab can see, or leave --pid out');
  }
  if (!same) throw new LabError(`process ${pid} runs ${shown(exe)}, not ${shown(binary)}`, 'pass --binary for that program, or the PID of a process started from it');
}

const shortName = (symbol: string) => symbol.slice(symbol.lastIndexOf('.') + 1);
const listed = (name: string, values: number[]) => (values.length === 1 ? `${name}=${values[0]}` : `${name}s=${values.join(',')}`);

function describeEvent(e: TraceEvent): string {
  const who = `pid=${e.pid} tid=${e.tid} goroutine=${e.goroutine}`;
  const args = [e.args.length ? listed('arg', e.args) : '', e.str !== undefined ? `str=${JSON.stringify(e.str)}` : ''].filter(Boolean).join(' ');
  const latency = e.latency_ns === null ? 'latency=? (entry not seen)' : `latency=${(e.latency_ns / 1000).toFixed(1)}µs`;
  switch (e.kind) {
    case 'entry':
      return `${shortName(e.symbol)} called: ${args} ${who}`;
    case 'return':
      return `${shortName(e.symbol)} returned: ${listed('ret', e.ret)} ${args} ${latency} ${who}`;
    default:
      return `${shortName(e.symbol)} returned at RET #${e.ret_site}: ${listed('ret', e.ret)} ${args} ${latency} ${who}`;
  }
}

export function describeExit(e: { exit_code?: number; signal?: number }): string {
  if (e.signal) {
    const name = Object.entries(constants.signals).find(([, n]) => n === e.signal)?.[0] ?? `signal ${e.signal}`;
    return `killed by signal ${name} (${e.signal})`;
  }
  return e.exit_code ? `exit code ${e.exit_code}` : 'exited normally (exit code 0)';
}
