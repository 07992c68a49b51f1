// "Cannot find name 'lab'" after a restart means the cell needs what an earlier cell defines: find
// that cell, so the page can say "run the cells above first" instead of showing compiler errors.
import type { KernelOutput } from '../../../model/live-outputs.ts';

const escape = (s: string) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
const ansi = /\x1b\[[0-9;?]*[A-Za-z]/g;

/** Names an error output says are undefined (tslab's compiler and Node's ReferenceError both). */
export function undefinedNames(outputs: readonly KernelOutput[]): string[] {
  const text = outputs
    .map((o) =>
      [o.output_type === 'stream' ? [o.text ?? ''].flat().join('') : '', o.evalue ?? '', ...(o.traceback ?? [])].join(
        '\n',
      ),
    )
    .join('\n')
    .replace(ansi, '');
  const names = Array.from(
    text.matchAll(/Cannot find name '([\w$]+)'|\b([\w$]+) is not defined\b/g),
    (m) => m[1] ?? m[2],
  );
  return Array.from(new Set(names));
}

/** Whether `source` declares `name` at its top level (const/let/var/function/class, or a destructuring). */
export function declares(source: string, name: string): boolean {
  const n = escape(name);
  return (
    new RegExp(`\\b(?:const|let|var|function\\*?|class|async\\s+function)\\s+${n}\\b`).test(source) ||
    new RegExp(`\\b(?:const|let|var)\\s*[{[][^=]*\\b${n}\\b[^=]*[}\\]]\\s*=`).test(source) ||
    new RegExp(`\\bimport\\b[^;]*\\b${n}\\b[^;]*\\bfrom\\b`).test(source)
  );
}

/**
 * The earlier cells (indices into `sources`, before `index`) that declare a name the cell's outputs
 * call undefined; empty when the error is the cell's own.
 */
export function cellsNeeded(sources: readonly string[], index: number, outputs: readonly KernelOutput[]): number[] {
  const names = undefinedNames(outputs);
  const needed = new Set<number>();
  for (const name of names) {
    for (let i = index - 1; i >= 0; i--) {
      if (declares(sources[i], name)) {
        needed.add(i);
        break;
      }
    }
  }
  return Array.from(needed).sort((a, b) => a - b);
}
