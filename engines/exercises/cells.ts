/**
 * The exercise cells of notebooks/02-07, generated from the catalog: each carries
 * metadata.lab.exercise = { name, part } and an id of its own, so this writer touches no other
 * cell. Re-writing keeps the recorded outputs of a cell whose source did not change.
 */
import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { at } from '../../core/paths.ts';
import { writeFileAtomic } from '../../core/files.ts';
import { LabError } from '../../core/errors.ts';
import { exercises, type Exercise } from '../../model/exercises/catalog.ts';
import { attemptCell, kindLabel } from '../../model/exercises/card.ts';

export type CellPart = 'card' | 'answer' | 'check' | 'dump';

interface RawCell {
  cell_type: string;
  id?: string;
  source: string | string[];
  metadata: { lab?: { exercise?: { name: string; part: CellPart } } } & Record<string, unknown>;
  outputs?: unknown[];
  execution_count?: number | null;
}

/**
 * Where each exercise's cells go: before a cell of the notebook (by id); "do it" cells go before the
 * closing resetLab cell. A prediction's check goes after the cell that reveals it (its revealedBy).
 */
const placement: Record<string, { askBefore?: string }> = {
  '02-arg-register': { askBefore: '02-07' },
  '03-which-request-kills': { askBefore: '03-05' },
  '04-hijacked-slot': { askBefore: '04-05' },
  '04-what-walked-the-stack': { askBefore: '04-05' },
  '05-demo-ret-count': { askBefore: '05-04' },
  '06-classify-ret-count': { askBefore: '06-08' },
  '06-square-calls': { askBefore: '06-06' },
  '07-quiet-damage': { askBefore: '07-02' },
};

const lines = (s: string) => s.split(/(?<=\n)/);
const short = (ex: Exercise) => ex.name.slice(3);

function cell(ex: Exercise, part: CellPart, type: 'markdown' | 'code', source: string): RawCell {
  const c: RawCell = {
    cell_type: type,
    id: `${ex.notebook}-ex-${short(ex)}-${part}`.slice(0, 64),
    metadata: { lab: { exercise: { name: ex.name, part } } },
    source: lines(source),
  };
  if (type === 'code') Object.assign(c, { execution_count: null, outputs: [] });
  return c;
}

function card(ex: Exercise): RawCell {
  const head = `**${kindLabel[ex.kind]} · ${ex.title}** (\`${ex.name}\`)\n\n${ex.prompt}\n`;
  if (ex.kind === 'predict') {
    const choices = ex.choices.map((c) => `- **${c.id}** — ${c.text}`).join('\n');
    return cell(
      ex,
      'card',
      'markdown',
      `${head}\n${choices}\n\nLock your answer in with the next cell; the cells after it show who was right (\`lab.check\`).`,
    );
  }
  if (ex.kind === 'do') {
    return cell(
      ex,
      'card',
      'markdown',
      `${head}\nEdit the function in the next cell and run it: running it is the **Check**. It gets a fresh server of its own (\`server\`, \`exe\`, \`startServer\`), and everything it attaches or starts is closed after the check. \`await lab.hint("${ex.name}")\` shows one more hint each time, \`lab.solution("${ex.name}")\` the solution.`,
    );
  }
  return cell(
    ex,
    'card',
    'markdown',
    `${head}\nThe next cell prints the runtime's words and its stack dump; fill in your answer in the cell after it. \`await lab.hint("${ex.name}")\` helps.`,
  );
}

/** The cells of one exercise: what goes before `askBefore` (or the closing cell), and a prediction's check. */
function cellsOf(ex: Exercise): { ask: RawCell[]; check?: RawCell } {
  if (ex.kind === 'predict') {
    const ids = ex.choices.map((c) => c.id).join(', ');
    return {
      ask: [card(ex), cell(ex, 'answer', 'code', `await lab.predict("${ex.name}", ""); // your choice: ${ids}`)],
      check: cell(ex, 'check', 'code', `await lab.check("${ex.name}");`),
    };
  }
  if (ex.kind === 'do') {
    return { ask: [card(ex), cell(ex, 'answer', 'code', attemptCell(ex.name, ex.starter))] };
  }
  return {
    ask: [
      card(ex),
      // tslab shares a cell's top-level names with later cells but not through shorthand properties: write maps: maps.
      cell(ex, 'dump', 'code', 'lab.showCrashDump(exit.stderr);'),
      cell(
        ex,
        'answer',
        'code',
        `await lab.explain("${ex.name}", ${ex.starter}, { stderr: exit.stderr, maps: maps });`,
      ),
    ],
  };
}

const sourceOf = (c: RawCell) => (Array.isArray(c.source) ? c.source.join('') : c.source);

/** The notebook with its exercise cells (re)placed; every other cell as it was. */
export function withExerciseCells(nb: { cells: RawCell[] }, number: string): { cells: RawCell[] } {
  const old = new Map(nb.cells.filter((c) => c.metadata?.lab?.exercise).map((c) => [c.id, c]));
  const cells = nb.cells.filter((c) => !c.metadata?.lab?.exercise);
  const closing = cells.length - 1;
  const closingId = cells[closing]?.id;
  const index = (id: string) => {
    const i = cells.findIndex((c) => c.id === id);
    if (i < 0)
      throw new LabError(`notebook ${number} has no cell ${id}`, 'update placement in engines/exercises/cells.ts');
    return i;
  };
  for (const ex of exercises.filter((e) => e.notebook === number)) {
    const { ask, check } = cellsOf(ex);
    const place = placement[ex.name] ?? {};
    cells.splice(place.askBefore ? index(place.askBefore) : index(closingId!), 0, ...ask);
    if (check && ex.kind === 'predict') cells.splice(index(ex.revealedBy) + 1, 0, check);
  }
  // A cell whose source is unchanged keeps what a recording put there.
  return {
    ...nb,
    cells: cells.map((c) => {
      const was = c.id ? old.get(c.id) : undefined;
      return was && sourceOf(was) === sourceOf(c) ? was : c;
    }),
  };
}

export async function writeExerciseCells(dir = at('notebooks')): Promise<string[]> {
  const out: string[] = [];
  for (const f of (await readdir(dir)).filter((f) => /^0[2-7]-.*\.ipynb$/.test(f)).sort()) {
    const path = join(dir, f);
    const text = await readFile(path, 'utf8');
    const next = JSON.stringify(withExerciseCells(JSON.parse(text), f.slice(0, 2)), null, 1) + '\n';
    if (next === text) continue;
    await writeFileAtomic(path, next);
    out.push(`wrote the exercise cells of notebooks/${f}`);
  }
  if (out.length === 0) out.push('the exercise cells are up to date');
  return out;
}
