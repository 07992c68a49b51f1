/**
 * `./lab run-tracer --engine cilium`: the same request as the addon engine, served by the
 * cilium/ebpf peer (bpf/cilium/cilium-tracer). The probe locations come from the tracer API's
 * plan (entry past the stack check, every RET), so both engines probe the same instructions.
 */
import { spawn } from 'node:child_process';
import { createInterface } from 'node:readline';
import { LabError } from '../../core/errors.ts';
import { say } from '../../core/ui.ts';
import type { TraceEvent } from '../../bpf/ts/index.ts';
import { probeKinds } from '../../bpf/ts/probe-kinds.ts';
import type { TraceRequest, TraceSession } from './types.ts';
import { peerBinary } from '../../bpf/cilium/build.ts';

/** The peer's command line for a request (relative offsets from the function's first byte). */
export async function peerArgs(req: TraceRequest): Promise<string[]> {
  const { openExecutable } = await import('../../bpf/ts/index.ts');
  const exe = await openExecutable(req.binary);
  const retSites = probeKinds[req.mode].returns === 'ret-sites';
  if (retSites) for (const w of exe.retSites(req.symbol).warnings) say(`warning: ${w}`);
  const plan = exe.plan(req.symbol, req.mode);
  const args = ['-json', '-binary', exe.path, '-symbol', req.symbol, '-mode', req.mode];
  args.push(
    '-args',
    String(req.args ?? 1),
    '-rets',
    String(req.rets ?? 1),
    '-entry-offset',
    String(plan.entryOffset - plan.functionOffset),
  );
  if (req.pid !== undefined) args.push('-pid', String(req.pid));
  if (req.stringArg !== undefined) args.push('-string-arg', String(req.stringArg));
  if (retSites) args.push('-ret-offsets', plan.retOffsets.map((o) => o - plan.functionOffset).join(','));
  return args;
}

export async function ciliumEngine(req: TraceRequest): Promise<TraceSession> {
  const child = spawn(peerBinary, await peerArgs(req), { stdio: ['ignore', 'pipe', 'pipe'] });
  let stderr = '';
  await new Promise<void>((resolve, reject) => {
    child.once('error', (e) =>
      reject(new LabError(`cannot start the cilium peer: ${e.message}`, 'run ./lab build cilium', { cause: e })),
    );
    child.once('exit', () =>
      reject(
        new LabError(
          `the cilium peer stopped before attaching: ${stderr.trim().split('\n').pop() ?? ''}`,
          'fix what it says, or try --engine addon',
        ),
      ),
    );
    child.stderr!.on('data', (d) => {
      stderr += d;
      if (stderr.includes('attached ')) resolve();
    });
  });
  child.removeAllListeners('exit');
  // Later messages from the peer still reach the user; its drop count is the tracer's to report.
  let later = '';
  child.stderr!.on('data', (d) => {
    later += d;
    process.stderr.write(String(d).replace(/^.*dropped \d+ events.*\n?/gm, ''));
  });
  const exited = new Promise<void>((r) => child.once('exit', () => r()));
  async function* events(): AsyncGenerator<TraceEvent> {
    for await (const line of createInterface({ input: child.stdout! })) {
      if (line.startsWith('{')) yield JSON.parse(line) as TraceEvent;
    }
  }
  return {
    events: events(),
    // The peer counts what the ring buffer had no room for and says so as it exits; it queues nothing itself.
    drops: () => ({ ring: Number(/dropped (\d+) events/.exec(later)?.[1] ?? 0), reader: 0 }),
    close: async () => {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM'); // detaches, flushes, exits
      await exited;
    },
  };
}
