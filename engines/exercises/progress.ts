/**
 * Progress on this machine, for JupyterLab and the CLI: one JSON file (.lab/exercises.json, or
 * $LAB_EXERCISES_FILE), written atomically. The site keeps its own in the browser.
 */
import { mkdir, readFile } from 'node:fs/promises';
import { dirname } from 'node:path';
import { at } from '../../core/paths.ts';
import { writeFileAtomic } from '../../core/files.ts';
import { LabError } from '../../core/errors.ts';
import type { Submission, Verdict } from './checks.ts';

export interface Saved extends Submission {
  /** The last check's verdict. */
  result?: Verdict & { at: string };
  /** How many hints were shown. */
  hints?: number;
}

export type Progress = Record<string, Saved>;

export const progressFile = () => process.env.LAB_EXERCISES_FILE ?? at('.lab', 'exercises.json');

export async function readProgress(): Promise<Progress> {
  const text = await readFile(progressFile(), 'utf8').catch(() => null);
  if (text === null) return {};
  try {
    return JSON.parse(text) as Progress;
  } catch {
    throw new LabError(`${progressFile()} is not valid JSON`, 'delete it to start over (./lab exercises --reset)');
  }
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
