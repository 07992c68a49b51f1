/**
 * Progress on this machine, for JupyterLab and the CLI: one JSON file (.lab/exercises.json, or
 * $LAB_EXERCISES_FILE), written atomically. The site keeps its own in the browser.
 */
import { mkdir } from 'node:fs/promises';
import { dirname } from 'node:path';
import { at } from '../../core/paths.ts';
import { writeFileAtomic } from '../../core/files.ts';
import { LabError } from '../../core/errors.ts';
import { readUntrusted } from '../../core/untrusted-file.ts';
import type { Submission, Verdict } from './checks.ts';

export interface Saved extends Submission {
  /** The last check's verdict. */
  result?: Verdict & { at: string };
  /** How many hints were shown. */
  hints?: number;
}

export type Progress = Record<string, Saved>;

export const progressFile = () => process.env.LAB_EXERCISES_FILE ?? at('.lab', 'exercises.json');

/** Progress files are small (a few KB of answers and attempts); a larger one is not ours. */
const maxProgressBytes = 1024 * 1024;

const isRecord = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

/**
 * The progress file's text → Progress, or the "delete it" error: JSON that parses but is not a
 * progress record (null, an array, a number, an entry that is not an object) is as unusable as
 * JSON that does not parse.
 */
export function parseProgress(text: string, path = progressFile()): Progress {
  const unusable = (why: string) => new LabError(`${path} ${why}`, 'delete it to start over (./lab exercises --reset)');
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    throw unusable('is not valid JSON');
  }
  if (!isRecord(parsed)) throw unusable('is not a progress file (it holds no exercises object)');
  for (const [name, saved] of Object.entries(parsed)) {
    if (!isRecord(saved))
      throw unusable(`is not a progress file (its entry ${JSON.stringify(name.slice(0, 40))} is not an object)`);
    if (saved.result !== undefined && !isRecord(saved.result))
      throw unusable(`is not a progress file (the result of ${JSON.stringify(name.slice(0, 40))} is not an object)`);
    if (saved.hints !== undefined && typeof saved.hints !== 'number')
      throw unusable(`is not a progress file (the hints of ${JSON.stringify(name.slice(0, 40))} are not a number)`);
  }
  return parsed as Progress;
}

/**
 * Reads a progress file without following a link, without blocking on a FIFO or device, and no more
 * than 1 MiB (core/untrusted-file.ts). With `owner`, only a file that uid owns: what root uses to read
 * an attendee's file for the room view. Missing: no progress yet.
 */
export async function readProgressFile(path: string, owner?: number): Promise<Progress> {
  const r = await readUntrusted(path, { owner, maxBytes: maxProgressBytes });
  if (r.ok) return parseProgress(r.text, path);
  if (r.reason === 'missing') return {};
  throw new LabError(r.why, 'delete it to start over (./lab exercises --reset)');
}

export function readProgress(): Promise<Progress> {
  return readProgressFile(progressFile());
}

/** Merges `update` into what is saved for `name`; returns the new record. */
export async function save(name: string, update: Partial<Saved>): Promise<Saved> {
  const all = await readProgress();
  const saved = { ...all[name], ...update };
  all[name] = saved;
  await write(all);
  return saved;
}

/** Forgets the named exercises (all when none are named). */
export async function forget(names?: string[]): Promise<string[]> {
  const all = await readProgress();
  const gone = names ?? Object.keys(all);
  for (const n of gone) delete all[n];
  await write(all);
  return gone;
}

async function write(all: Progress): Promise<void> {
  await mkdir(dirname(progressFile()), { recursive: true });
  await writeFileAtomic(progressFile(), JSON.stringify(all, null, 1) + '\n');
}

/** Judges and saves: the verdict lands in the progress file with the submission. */
export async function recordVerdict(name: string, submission: Partial<Saved>, verdict: Verdict): Promise<void> {
  await save(name, { ...submission, result: { ...verdict, at: new Date().toISOString() } });
}
