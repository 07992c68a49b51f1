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
  /** Inputs that live inside the recording itself (a notebook's code cells), as text. */
  ownInputs?(): string;
  /** The inputs hash the recording carries (default: its top-level `inputsHash`). */
  storedHash?(): string | undefined;
}

const sourcesIn = (dir: string, keep: (f: string) => boolean) =>
  readdirSync(at(dir))
    .filter(keep)
    .map((f) => join(dir, f));
const serverSources = () =>
  sourcesIn('server', (f) => (f.endsWith('.go') && !f.endsWith('_test.go')) || f === 'go.mod');
/** The Go loop the overhead measurement (engines/overhead.ts) runs. */
const goloopSources = () => sourcesIn('engines/goloop', (f) => f.endsWith('.go') || f === 'go.mod');
const bpfSources = () => sourcesIn('bpf', (f) => (f.endsWith('.bpf.c') || f.endsWith('.h')) && f !== 'vmlinux.h');

const sourcesUnder = (dir: string): string[] =>
  readdirSync(at(dir), { withFileTypes: true }).flatMap((e) => {
    const p = join(dir, e.name);
    if (e.isDirectory()) return e.name === 'node_modules' || e.name === 'build' ? [] : sourcesUnder(p);
    return /\.(ts|cjs)$/.test(e.name) && !e.name.endsWith('.gen.ts') ? [p] : [];
  });

/** What a notebook's recorded outputs come from: its code, the helpers and engines it runs, the tracer, the programs, the server. */
function notebookRecording(file: string): Recording {
  const path = join('notebooks', file);
  const notebook = () =>
    JSON.parse(readFileSync(at(path), 'utf8')) as {
      cells: { cell_type: string; source: string | string[] }[];
      metadata?: { lab?: { inputsHash?: string } };
    };
  return {
    name: `notebook ${file.replace(/\.ipynb$/, '')}`,
    path,
    refresh: `./lab notebooks --update ${file.replace(/\.ipynb$/, '')}`,
    inputs: () => [
      ...sourcesUnder('kernel-helpers'),
      ...sourcesUnder('engines'),
      ...sourcesUnder('bpf/ts'),
      ...sourcesUnder('core'),
      ...sourcesUnder('model'),
      ...serverSources(),
      ...bpfSources(),
      ...goloopSources(),
    ],
    ownInputs: () =>
      notebook()
        .cells.filter((c) => c.cell_type === 'code')
        .map((c) => (Array.isArray(c.source) ? c.source.join('') : c.source))
        .join('\n\0'),
    storedHash: () => notebook().metadata?.lab?.inputsHash,
  };
}

const notebookRecordings = () =>
  readdirSync(at('notebooks'))
    .filter((f) => /^\d\d-.*\.ipynb$/.test(f))
    .sort()
    .map(notebookRecording);

export const recordings: Recording[] = [
  {
    name: 'crash matrix',
    path: 'docs/data/crash-matrix.json',
    refresh: './lab crash-matrix --write',
    inputs: () => [...serverSources(), ...bpfSources(), 'engines/crash-matrix.ts', 'model/forensics.ts'],
  },
  {
    name: 'crash forensics',
    path: 'docs/data/crash-recording.json',
    refresh: './lab record-crash --write',
    inputs: () => [...serverSources(), ...bpfSources(), 'engines/record-crash.ts', 'model/forensics.ts'],
  },
  {
    // The site's float-registers page (docs/safe-tracing/floats.mdx): the tracer on main.scale.
    name: 'float values',
    path: 'docs/data/float-recording.json',
    refresh: 'node --import tsx docs/data/record-float.ts',
    inputs: () => [
      ...serverSources(),
      ...bpfSources(),
      'bpf/ts/values.ts',
      'bpf/ts/abi.ts',
      'docs/data/record-float.ts',
    ],
  },
  {
    // The site's BPF page (docs/safe-tracing/bpf-programs.mdx): bpftrace's own uretprobe crashing the server.
    name: 'bpftrace crash',
    path: 'docs/data/bpftrace-crash.json',
    refresh: 'node --import tsx docs/data/record-bpftrace.ts',
    inputs: () => [...serverSources(), 'docs/data/record-bpftrace.ts', 'docs/data/bpftrace-run.ts'],
  },
  ...notebookRecordings(),
];

export function recording(name: string): Recording {
  const r = recordings.find((x) => x.name === name);
  if (!r) throw new Error(`no recording named ${name}`);
  return r;
}

/** A digest of the inputs' contents (file names included, so a moved input counts as a change). */
export function inputsHash(r: Recording): string {
  const h = createHash('sha256');
  for (const f of r.inputs().sort())
    h.update(f)
      .update('\0')
      .update(readFileSync(at(f)));
  if (r.ownInputs) h.update('\0own\0').update(r.ownInputs());
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
    const stored = r.storedHash
      ? r.storedHash()
      : (JSON.parse(readFileSync(file, 'utf8')) as { inputsHash?: string }).inputsHash;
    const now = inputsHash(r);
    if (stored !== now)
      stale.push({
        recording: r,
        reason: `${r.path} was made from other sources (inputs ${stored ?? 'unknown'}, now ${now})`,
      });
  }
  return stale;
}

export const describeStale = (s: Staleness) =>
  `${s.recording.name} is stale: ${s.reason} — refresh it with ${s.recording.refresh}`;
