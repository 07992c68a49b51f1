/** Builds probe-gate (Go, standard library only), the probe service's SO_PEERCRED front door. */
import { existsSync, statSync } from 'node:fs';
import { dirname } from 'node:path';
import { run } from '../../core/proc.ts';
import { newestMtime } from '../../core/files.ts';
import { probeGateBinary } from './probe-service.ts';

export async function buildProbeGate(): Promise<void> {
  const dir = dirname(probeGateBinary);
  const built = existsSync(probeGateBinary) ? statSync(probeGateBinary).mtimeMs : 0;
  if (built >= (await newestMtime([dir], (p) => p.endsWith('.go') || p.endsWith('go.mod')))) return;
  await run('go', ['build', '-o', probeGateBinary, '.'], {
    cwd: dir,
    env: { ...process.env, CGO_ENABLED: '0' },
    fix: 'fix the Go compile error in engines/services/probe-gate shown above',
  });
}
