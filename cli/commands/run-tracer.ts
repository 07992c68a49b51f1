import { constants } from 'node:os';
import { flags, type Command } from '../command.ts';
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
    const { values } = flags(argv, {
      mode: { type: 'string', default: 'uretprobe' },
      symbol: { type: 'string', default: 'main.demo' },
      binary: { type: 'string', default: serverBinary },
      pid: { type: 'string' },
      json: { type: 'boolean', default: false },
      args: { type: 'string', default: '1' },
      rets: { type: 'string', default: '1' },
      'string-arg': { type: 'string' },
      engine: { type: 'string', default: 'addon' },
    });
    const mode = values.mode as ProbeKind;
    if (!modes.includes(mode)) throw new LabError(`unknown mode ${values.mode}`, `pick one of: ${modes.join(', ')}`);
    const engine = tracerEngines[values.engine];
    if (!engine) throw new LabError(`unknown engine ${values.engine}`, `pick one of: ${Object.keys(tracerEngines).join(', ')}`);
    const req: TraceRequest = {
      mode,
      symbol: values.symbol,
      binary: values.binary,
      pid: values.pid === undefined ? undefined : integer('--pid', values.pid),
      args: integer('--args', values.args),
      rets: integer('--rets', values.rets),
      stringArg: values['string-arg'] === undefined ? undefined : integer('--string-arg', values['string-arg']),
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

function integer(flag: string, text: string): number {
  const n = Number(text);
  if (!/^\d+$/.test(text) || !Number.isSafeInteger(n)) throw new LabError(`${flag} ${text} is not a whole number`, `pass e.g. ${flag} 1`);
  return n;
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
