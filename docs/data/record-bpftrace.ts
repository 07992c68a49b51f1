/**
 * Records the bpftrace one-liner that crashes the lab's server, for the site's BPF page:
 *   node --import tsx docs/data/record-bpftrace.ts      (root; writes docs/data/bpftrace-crash.json)
 */
import { execFileSync } from 'node:child_process';
import { release } from 'node:os';
import { at } from '../../core/paths.ts';
import { writeFileAtomic } from '../../core/files.ts';
import { LabError } from '../../core/errors.ts';
import { inputsHash, recording } from '../../engines/recordings.ts';
import { runUnderBpftrace } from './bpftrace-run.ts';

const program = 'uretprobe:server/server:main.demo { printf("main.demo returned %d\\n", retval); }';
const binary = at('server', 'server');
const file = at('docs', 'data', 'bpftrace-crash.json');

try {
  const run = await runUnderBpftrace({ binary, program, requests: ['/?arg=3', '/?arg=2000'] });
  if (!run.serverExit)
    throw new LabError(
      'the server survived the uretprobe at ?arg=2000',
      'nothing to record: is server/server the lab build? (./lab build)',
    );
  const rec = {
    recordedAt: new Date().toISOString(),
    inputsHash: inputsHash(recording('bpftrace crash')),
    kernel: release(),
    bpftrace: execFileSync('bpftrace', ['--version'], { encoding: 'utf8' }).trim(),
    goVersion: /go1\.[\d.]+/.exec(execFileSync('go', ['version', binary], { encoding: 'utf8' }))?.[0] ?? 'unknown',
    command: `bpftrace -e '${program}'`,
    requests: run.answers,
    bpftraceOutput: run.bpftraceOutput,
    serverExit: run.serverExit,
    serverStderr: run.serverStderr,
  };
  await writeFileAtomic(file, JSON.stringify(rec, null, 2) + '\n');
  console.log(`recorded: ${rec.requests.join('; ')}; the server exited ${JSON.stringify(rec.serverExit)} → ${file}`);
} catch (e) {
  if (!(e instanceof LabError)) throw e;
  console.error(e.message);
  process.exitCode = 1;
}
