// Notebook files on disk (Node only): read through the format module, written atomically.
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { at } from '../../core/paths.ts';
import { LabError } from '../../core/errors.ts';
import { writeFileAtomic } from '../../core/files.ts';
import { NotebookFormatError, parseNotebook, serializeNotebook, type Notebook } from '../../model/notebook-format.ts';

export const notebooksDir = at('notebooks');

/** Every notebook, in story order; `names` picks those whose file name contains any of them. */
export function notebookPaths(names: string[] = [], dir = notebooksDir): string[] {
  return readdirSync(dir)
    .filter((f) => f.endsWith('.ipynb'))
    .filter((f) => names.length === 0 || names.some((n) => f.includes(n)))
    .sort()
    .map((f) => join(dir, f));
}

export function readNotebookFile(path: string): Notebook {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (e) {
    throw new LabError(
      `cannot read notebook ${path} (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`,
      'check the path',
    );
  }
  try {
    return parseNotebook(text, path);
  } catch (e) {
    if (e instanceof NotebookFormatError)
      throw new LabError(e.message, 'fix the notebook in JupyterLab, or restore it with git');
    throw e;
  }
}

/** Writes the notebook whole or not at all: an interrupted write leaves the previous file intact. */
export async function writeNotebookFile(path: string, nb: Notebook): Promise<void> {
  await writeFileAtomic(path, serializeNotebook(nb));
}
