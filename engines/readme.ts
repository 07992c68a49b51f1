import { readFile } from 'node:fs/promises';
import { at } from '../core/paths.ts';
import { writeFileAtomic } from '../core/files.ts';

/**
 * Replaces the generated block `<!-- NAME:start -->…<!-- NAME:end -->` in README.md (appending
 * it under `heading` the first time), so measured tables stay in the README without hand edits.
 */
export async function updateReadmeBlock(name: string, heading: string, markdown: string): Promise<void> {
  const path = at('README.md');
  const readme = await readFile(path, 'utf8');
  const start = `<!-- ${name}:start -->`;
  const end = `<!-- ${name}:end -->`;
  const block = `${start}\n${markdown.trim()}\n${end}`;
  const i = readme.indexOf(start);
  const j = readme.indexOf(end);
  const next =
    i >= 0 && j > i
      ? readme.slice(0, i) + block + readme.slice(j + end.length)
      : `${readme.trimEnd()}\n\n${heading}\n\n${block}\n`;
  await writeFileAtomic(path, next);
}
