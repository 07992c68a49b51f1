/**
 * The lab's recordings: committed files made by running something on the real kernel. Each knows
 * what it was made from (an inputs hash stored in the file) and the command that re-records it,
 * so the build and the tests can say when one is stale instead of re-recording behind your back.
 */
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { createHash } from 'node:crypto';
import { join } from 'node:path';
import { at } from '../core/paths.ts';

export interface Recording {
  name: string;
  /** The committed file, relative to the repo root. */
  path: string;
  /** The command that re-records it. */
  refresh: string;
  /** The files (relative to the root) whose content the recording depends on. */
  inputs(): string[];
}

const sourcesIn = (dir: string, keep: (f: string) => boolean) =>
  readdirSync(at(dir)).filter(keep).map((f) => join(dir, f));
const serverSources = () => sourcesIn('server', (f) => (f.endsWith('.go') && !f.endsWith('_test.go')) || f === 'go.mod');
const bpfSources = () => sourcesIn('bpf', (f) => (f.endsWith('.bpf.c') || f.endsWith('.h')) && f !== 'vmlinux.h');

export const recordings: Recording[] = [
  {
    name: 'crash matrix',
    path: 'docs/data/crash-matrix.json',
    refresh: './lab crash-matrix --write',
    inputs: () => [...serverSources(), ...bpfSources(), 'engines/crash-matrix.ts', 'engines/forensics.ts'],
  },
  {
    name: 'crash forensics',
    path: 'docs/data/crash-recording.json',
    refresh: './lab record-crash --write',
    inputs: () => [...serverSources(), ...bpfSources(), 'engines/record-crash.ts', 'engines/forensics.ts'],
  },
];

export function recording(name: string): Recording {
  const r = recordings.find((x) => x.name === name);
  if (!r) throw new Error(`no recording named ${name}`);
  return r;
}

/** A digest of the inputs' contents (file names included, so a moved input counts as a change). */
export function inputsHash(r: Recording): string {
  const h = createHash('sha256');
  for (const f of r.inputs().sort()) h.update(f).update('\0').update(readFileSync(at(f)));
  return h.digest('hex').slice(0, 16);
}

export interface Staleness {
  recording: Recording;
  reason: string;
}

/** Recordings whose stored inputs hash differs from the current sources (or that are missing). */
export function staleRecordings(): Staleness[] {
  const stale: Staleness[] = [];
  for (const r of recordings) {
    const file = at(r.path);
    if (!existsSync(file)) {
      stale.push({ recording: r, reason: `${r.path} is missing` });
      continue;
    }
    const stored = (JSON.parse(readFileSync(file, 'utf8')) as { inputsHash?: string }).inputsHash;
    const now = inputsHash(r);
    if (stored !== now) stale.push({ recording: r, reason: `${r.path} was made from other sources (inputs ${stored ?? 'unknown'}, now ${now})` });
  }
  return stale;
}

export const describeStale = (s: Staleness) => `${s.recording.name} is stale: ${s.reason} — refresh it with ${s.recording.refresh}`;
