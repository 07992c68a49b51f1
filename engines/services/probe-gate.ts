/** Builds probe-gate (Go, standard library only), the probe service's SO_PEERCRED front door. */
import { dirname } from 'node:path';
import { buildGoProgram } from '../../core/go.ts';
import { probeGateBinary } from './probe-service.ts';

export async function buildProbeGate(): Promise<void> {
  await buildGoProgram({
    dir: dirname(probeGateBinary),
    out: probeGateBinary,
    fix: 'fix the Go compile error in engines/services/probe-gate shown above',
  });
}
