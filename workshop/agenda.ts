import { existsSync, readFileSync } from 'node:fs';
import { dirname, isAbsolute, join, resolve } from 'node:path';
import { LabError } from '../core/errors.ts';
import { codeCells, plainOutput, sourceOf, type Output } from '../model/notebook-format.ts';
import { readNotebookFile } from '../engines/notebook/io.ts';

/** One section of the agenda file (workshop/agenda.json). */
export interface AgendaSection {
  id: string;
  title: string;
  /** Planned length, for the instructor's timer. */
  minutes: number;
  /** Site page the attendees see, e.g. "/docs/why-it-crashes/" plus an optional scroll target. */
  page: string;
  anchor?: string;
  /** Notebook path (relative to the agenda's notebook directory) and the cells of this section. */
  notebook?: string;
  /** Cell ids (nbformat 4.5 "id") or 0-based indices into the notebook's cells. */
  cells?: (string | number)[];
  /** Speaker notes file, relative to the agenda file's directory. */
  notes?: string;
}

export interface AgendaFile {
  title: string;
  /** Where notebooks live, relative to the agenda file. */
  notebooks: string;
  sections: AgendaSection[];
}

export interface AgendaCell {
  /** Stable key: "<notebook>#<index>". */
  key: string;
  notebook: string;
  index: number;
  id?: string;
  source: string;
  /** The outputs recorded in the notebook, multi-line strings joined (what rehearsal replays). */
  recorded: Output[];
}

export interface Section extends Omit<AgendaSection, 'cells' | 'notes'> {
  cells: AgendaCell[];
  notes: string;
  /** Why the section has no cells when it should (missing notebook, unknown cell id). */
  problems: string[];
}

export interface Agenda {
  title: string;
  notebooksDir: string;
  sections: Section[];
  /** Every code cell of every notebook the agenda uses, in notebook order — "run to here" needs the ones in between. */
  notebookCells: Map<string, AgendaCell[]>;
}

function readNotebook(path: string, name: string): AgendaCell[] {
  return codeCells(readNotebookFile(path)).map(([c, index]) => ({
    key: `${name}#${index}`,
    notebook: name,
    index,
    id: c.id,
    source: sourceOf(c),
    recorded: (c.outputs ?? []).map(plainOutput),
  }));
}

/** Loads the agenda, its notebooks and speaker notes; problems are kept per section, not thrown, so the console can show them. */
export function loadAgenda(agendaPath: string, opts: { notebooksDir?: string } = {}): Agenda {
  if (!existsSync(agendaPath)) throw new LabError(`no agenda at ${agendaPath}`, 'create it (see workshop/agenda.json)');
  let file: AgendaFile;
  try {
    file = JSON.parse(readFileSync(agendaPath, 'utf8')) as AgendaFile;
  } catch (e) {
    throw new LabError(`agenda ${agendaPath} is not valid JSON: ${(e as Error).message}`, 'fix the JSON');
  }
  if (!Array.isArray(file.sections) || file.sections.length === 0) {
    throw new LabError(`agenda ${agendaPath} has no sections`, 'add at least one section');
  }
  const base = dirname(resolve(agendaPath));
  const nbDir = opts.notebooksDir ?? (isAbsolute(file.notebooks) ? file.notebooks : join(base, file.notebooks ?? '.'));
  const notebookCells = new Map<string, AgendaCell[]>();
  const notebookProblems = new Map<string, string>();
  const cellsOf = (name: string): AgendaCell[] | undefined => {
    if (!notebookCells.has(name) && !notebookProblems.has(name)) {
      const path = join(nbDir, name);
      if (!existsSync(path)) notebookProblems.set(name, `notebook ${path} does not exist yet`);
      else notebookCells.set(name, readNotebook(path, name));
    }
    return notebookCells.get(name);
  };
  const sections = file.sections.map((s, i): Section => {
    const problems: string[] = [];
    if (!s.id || !s.title || !s.page) problems.push(`section ${i + 1} needs id, title and page`);
    const cells: AgendaCell[] = [];
    if (s.notebook) {
      const all = cellsOf(s.notebook);
      if (!all) problems.push(notebookProblems.get(s.notebook)!);
      else {
        for (const ref of s.cells ?? all.map((c) => c.index)) {
          const cell = typeof ref === 'number' ? all.find((c) => c.index === ref) : all.find((c) => c.id === ref);
          if (cell) cells.push(cell);
          else problems.push(`${s.notebook} has no code cell ${JSON.stringify(ref)}`);
        }
      }
    }
    let notes = '';
    if (s.notes) {
      const p = join(base, s.notes);
      if (existsSync(p)) notes = readFileSync(p, 'utf8');
      else problems.push(`speaker notes ${p} are missing`);
    }
    const { cells: _refs, notes: _notes, ...rest } = s;
    return { ...rest, minutes: Number(s.minutes) || 0, cells, notes, problems };
  });
  return { title: file.title ?? 'Workshop', notebooksDir: nbDir, sections, notebookCells };
}
