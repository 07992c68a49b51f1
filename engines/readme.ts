import { readFile } from 'node:fs/promises';
import { at } from '../core/paths.ts';
import { writeFileAtomic } from '../core/files.ts';

/**
 * The README with its generated block `<!-- NAME:start -->…<!-- NAME:end -->` replaced (appended
 * under `heading` the first time), every other line as it was: the one writer of README sections.
 */
export function withReadmeBlock(readme: string, name: string, heading: string, markdown: string): string {
  const start = `<!-- ${name}:start -->`;
  const end = `<!-- ${name}:end -->`;
  const block = `${start}\n${markdown.trim()}\n${end}`;
  const i = readme.indexOf(start);
  const j = readme.indexOf(end);
  return i >= 0 && j > i
    ? readme.slice(0, i) + block + readme.slice(j + end.length)
    : `${readme.trimEnd()}\n\n${heading}\n\n${block}\n`;
}

/** Rewrites README.md's generated block NAME (see withReadmeBlock), so measured tables need no hand edits. */
export async function updateReadmeBlock(name: string, heading: string, markdown: string): Promise<void> {
  const path = at('README.md');
  await writeFileAtomic(path, withReadmeBlock(await readFile(path, 'utf8'), name, heading, markdown));
}
