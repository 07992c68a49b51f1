/** The project's import graph, read from the sources (type-only imports too). */
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { root } from '../../core/paths.ts';

const skipped = new Set(['node_modules', 'build', '.git', '.docusaurus', '.venv', '.lab', 'test']);
const extensions = ['.ts', '.tsx', '.mts', '.cts', '.js', '.mjs', '.cjs', '.jsx'];
const importSpec =
  /(?:import|export)\s[^'"`;]*?from\s*['"]([^'"]+)['"]|import\s*\(\s*['"]([^'"]+)['"]\s*\)|require\(\s*['"]([^'"]+)['"]\s*\)|^\s*import\s*['"]([^'"]+)['"]/gm;

function sourceFiles(dir: string): string[] {
  return readdirSync(dir).flatMap((e) => {
    if (skipped.has(e) || e.startsWith('.')) return [];
    const p = join(dir, e);
    if (statSync(p).isDirectory()) return sourceFiles(p);
    return extensions.some((x) => e.endsWith(x)) && !/\.(test|spec)\./.test(e) ? [p] : [];
  });
}

function resolveImport(from: string, spec: string): string | undefined {
  if (!spec.startsWith('.')) return undefined;
  const base = resolve(dirname(from), spec);
  for (const c of [base, ...extensions.map((x) => base + x), ...extensions.map((x) => join(base, 'index' + x))])
    if (existsSync(c) && statSync(c).isFile()) return relative(root, c);
  return undefined;
}

const withoutComments = (f: string) =>
  readFileSync(f, 'utf8')
    .replace(/\/\*[\s\S]*?\*\//g, '')
    .replace(/^\s*\/\/.*$/gm, '');

/** file → what its imports and requires name, as written ('node:fs', 'react', '../core/paths.ts'). */
export function importSpecs(): Map<string, string[]> {
  return new Map(
    sourceFiles(root).map((f) => [
      relative(root, f),
      [...withoutComments(f).matchAll(importSpec)].map((m) => m[1] ?? m[2] ?? m[3] ?? m[4]),
    ]),
  );
}

/** file → the project files it imports (paths relative to the root). */
export function importGraph(): Map<string, Set<string>> {
  const graph = new Map<string, Set<string>>();
  for (const [file, specs] of importSpecs()) {
    const out = new Set<string>();
    for (const spec of specs) {
      const t = resolveImport(join(root, file), spec);
      if (t) out.add(t);
    }
    graph.set(file, out);
  }
  return graph;
}

/** A require of a relative path anywhere in the text, code or string (quotes may be escaped, as in a string of code). */
const anyRequire = /require\(\s*\\?['"`](\.{1,2}\/[^'"`\\]+)\\?['"`]/g;

/**
 * Relative requires and imports that name no file from where they are written: a path in a string of
 * code run elsewhere (a kernel, a child process), an arrow between rooms no import shows.
 */
export function unresolvedSpecs(): { file: string; spec: string }[] {
  return sourceFiles(root).flatMap((f) => {
    const src = withoutComments(f);
    const specs = [...src.matchAll(importSpec)].map((m) => m[1] ?? m[2] ?? m[3] ?? m[4]);
    specs.push(...[...src.matchAll(anyRequire)].map((m) => m[1]));
    return [...new Set(specs)]
      .filter((spec) => spec.startsWith('.') && !resolveImport(f, spec))
      .map((spec) => ({ file: relative(root, f), spec }));
  });
}

/** Strongly connected components with more than one file (or a file importing itself). */
export function importCycles(graph: Map<string, Set<string>>): string[][] {
  let next = 0;
  const stack: string[] = [];
  const onStack = new Set<string>();
  const index = new Map<string, number>();
  const low = new Map<string, number>();
  const cycles: string[][] = [];
  const visit = (v: string) => {
    index.set(v, next);
    low.set(v, next++);
    stack.push(v);
    onStack.add(v);
    for (const w of graph.get(v) ?? []) {
      if (!graph.has(w)) continue;
      if (!index.has(w)) {
        visit(w);
        low.set(v, Math.min(low.get(v)!, low.get(w)!));
      } else if (onStack.has(w)) low.set(v, Math.min(low.get(v)!, index.get(w)!));
    }
    if (low.get(v) === index.get(v)) {
      const component: string[] = [];
      let w: string;
      do {
        w = stack.pop()!;
        onStack.delete(w);
        component.push(w);
      } while (w !== v);
      if (component.length > 1 || graph.get(v)!.has(v)) cycles.push(component.sort());
    }
  };
  for (const v of graph.keys()) if (!index.has(v)) visit(v);
  return cycles;
}

/** The room a file lives in: its top-level folder, with the site's pieces as one room. */
export function roomOf(file: string): string {
  if (file.startsWith('src/') || file.startsWith('docs/') || ['docusaurus.config.ts', 'sidebars.ts'].includes(file))
    return 'site';
  return file.includes('/') ? file.slice(0, file.indexOf('/')) : '(root)';
}
