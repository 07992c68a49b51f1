/**
 * Records the lab's tracer on main.scale (a float64 argument and result beside an int) for the site's
 * "what no tracer can read" page:
 *   node --import tsx docs/data/record-float.ts      (root; writes docs/data/float-recording.json)
 * Both modes that read arguments run: ret (entry + every RET) and uprobe (entries).
 */
import { release } from 'node:os';
import { execFileSync } from 'node:child_process';
import { at, serverBinary } from '../../core/paths.ts';
import { writeFileAtomic } from '../../core/files.ts';
import { LabError } from '../../core/errors.ts';
import { ManagedServer } from '../../engines/managed-server.ts';
import { openExecutable, type TraceEvent } from '../../bpf/ts/index.ts';
import { formatCall } from '../../bpf/ts/values.ts';
import { inputsHash, recording } from '../../engines/recordings.ts';

const file = at('docs', 'data', 'float-recording.json');
const request = '/shapes/float?x=1.5&k=3';
const symbol = 'main.scale';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function traced(kind: 'ret' | 'uprobe') {
  await using server = await ManagedServer.start({});
  const exe = await openExecutable(serverBinary);
  const probe = exe.probe(kind, symbol, { pid: server.pid });
  const events: TraceEvent[] = [];
  try {
    await probe.ready;
    const reading = (async () => {
      for await (const e of probe) if (e.kind !== 'exit') events.push(e);
    })();
    const res = await server.get(request, 10_000);
    await sleep(300);
    probe.close();
    await reading;
    return {
      kind,
      response: { status: res.status, body: res.body.trim() },
      events: events.map((e) => ({
        kind: e.kind,
        line: formatCall(e),
        params: e.params ?? [],
        results: e.results ?? [],
        args: e.args.map(String),
        ret: e.ret.map(String),
      })),
    };
  } finally {
    probe.close();
    await probe.detached;
  }
}

try {
  const runs = [await traced('ret'), await traced('uprobe')];
  if (!runs[0].events.some((e) => e.kind === 'call'))
    throw new LabError('no call event from main.scale', 'is server/server the lab build? (./lab build)');
  const rec = {
    recordedAt: new Date().toISOString(),
    /** What it was made from (engines/recordings.ts, 'float values'): the tests say when it is stale. */
    inputsHash: inputsHash(recording('float values')),
    kernel: release(),
    goVersion:
      /go1\.[\d.]+/.exec(execFileSync('go', ['version', serverBinary], { encoding: 'utf8' }))?.[0] ?? 'unknown',
    symbol,
    request,
    runs,
  };
  await writeFileAtomic(file, `${JSON.stringify(rec, null, 2)}\n`);
  for (const r of runs) for (const e of r.events) console.log(`${r.kind}: ${e.line}`);
  console.log(`→ ${file}`);
} catch (e) {
  if (!(e instanceof LabError)) throw e;
  console.error(e.message);
  process.exitCode = 1;
}
