// The one notebook format module: nbformat 4 as plain types and pure functions. Safe in a browser
// (it imports nothing), so the site, the workshop and the runner read notebooks the same way.
// Reading and writing files is engines/notebook/io.ts (Node only).

/** nbformat stores multi-line strings either whole or as a list of lines, each keeping its "\n". */
export type Multiline = string | string[];

/** A MIME bundle: "text/plain", "text/html", "image/png" (base64) … ; JSON types hold objects. */
export type MimeBundle = Record<string, Multiline | object>;

export interface Transient {
  /** Set by display(…, { display_id }) — later update_display_data messages replace this output. */
  display_id?: string;
}

export interface StreamOutput {
  output_type: 'stream';
  name: string;
  text: Multiline;
}
export interface DisplayDataOutput {
  output_type: 'display_data';
  data: MimeBundle;
  metadata: Record<string, unknown>;
  /** Live only: never written to a file. */
  transient?: Transient;
}
export interface ExecuteResultOutput {
  output_type: 'execute_result';
  data: MimeBundle;
  metadata: Record<string, unknown>;
  execution_count: number | null;
  transient?: Transient;
}
export interface ErrorOutput {
  output_type: 'error';
  ename: string;
  evalue: string;
  traceback: string[];
}
export type Output = StreamOutput | DisplayDataOutput | ExecuteResultOutput | ErrorOutput;

export interface Cell {
  cell_type: 'code' | 'markdown' | 'raw';
  /** nbformat 4.5 cell id. */
  id?: string;
  source: Multiline;
  metadata: Record<string, unknown>;
  outputs?: Output[];
  execution_count?: number | null;
}

/** Where and when `./lab notebooks --update` recorded the outputs. */
export interface RecordingInfo {
  recordedAt?: string;
  kernel?: string;
  go?: string;
  /** How long the recorded run took (the tests share the notebooks out by it). */
  seconds?: number;
  /** What the outputs were made from (engines/recordings.ts). */
  inputsHash?: string;
}

export interface NotebookMetadata {
  kernelspec?: { name?: string; display_name?: string; language?: string };
  language_info?: { name?: string };
  lab?: RecordingInfo;
  [k: string]: unknown;
}

export interface Notebook {
  cells: Cell[];
  metadata: NotebookMetadata;
  nbformat: number;
  nbformat_minor: number;
}

export class NotebookFormatError extends Error {}

export const joinText = (s: Multiline | undefined): string => (Array.isArray(s) ? s.join('') : (s ?? ''));

/** "a\nb\n" → ["a\n", "b\n"], the way nbformat writes multi-line strings. */
export const toLines = (s: string): string[] => s.split(/(?<=\n)/);

export const sourceOf = (c: { source: Multiline }): string => joinText(c.source);

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);
const isMultiline = (v: unknown): v is Multiline =>
  typeof v === 'string' || (Array.isArray(v) && v.every((x) => typeof x === 'string'));

/** Parses an .ipynb's text; throws NotebookFormatError (naming `name`) when it is not a notebook. */
export function parseNotebook(text: string, name = 'notebook'): Notebook {
  let nb: unknown;
  try {
    nb = JSON.parse(text);
  } catch (e) {
    throw new NotebookFormatError(`${name} is not JSON: ${(e as Error).message}`);
  }
  if (!isObject(nb) || !Array.isArray(nb.cells))
    throw new NotebookFormatError(`${name} has no cells list: not a notebook`);
  nb.cells.forEach((c, i) => {
    if (!isObject(c) || !['code', 'markdown', 'raw'].includes(c.cell_type as string) || !isMultiline(c.source)) {
      throw new NotebookFormatError(`${name}: cell ${i} is not an nbformat cell (cell_type and source)`);
    }
    if (c.outputs !== undefined && !Array.isArray(c.outputs))
      throw new NotebookFormatError(`${name}: cell ${i} has outputs that are not a list`);
    c.metadata ??= {};
  });
  nb.metadata = isObject(nb.metadata) ? nb.metadata : {};
  nb.nbformat ??= 4;
  nb.nbformat_minor ??= 5;
  return nb as unknown as Notebook;
}

/** The code cells with their index among all cells. */
export const codeCells = (nb: Notebook): (readonly [Cell, number])[] =>
  nb.cells.map((c, i) => [c, i] as const).filter(([c]) => c.cell_type === 'code');

/** The same output with every multi-line string joined into one (what live views and messages carry). */
export function plainOutput(o: Output): Output {
  if (o.output_type === 'stream') return { ...o, text: joinText(o.text) };
  if (o.output_type === 'error') return { ...o };
  const data = Object.fromEntries(Object.entries(o.data ?? {}).map(([k, v]) => [k, isMultiline(v) ? joinText(v) : v]));
  return { ...o, data };
}

/** The same output as it goes into a file: stream text as a list of lines, no live-only transient part. */
export function fileOutput(o: Output): Output {
  if (o.output_type === 'stream') return { ...o, text: toLines(joinText(o.text)) };
  if (o.output_type === 'error') return o;
  const { transient: _live, ...rest } = o;
  return rest;
}

/**
 * Recorded outputs name the recording machine's directories; a recording shows them relative: the
 * lab's checkout as a relative path, any Go toolchain's sources as $GOROOT/src/, the notebooks'
 * private server copies (/tmp/lab-…/) dropped.
 */
export function relativePaths(text: string, repoRoot?: string): string {
  let t = text;
  if (repoRoot) t = t.split(repoRoot.replace(/\/$/, '') + '/').join('');
  t = t.replace(/\/(?:[\w.@+-]+\/)*?(?:go|go-1\.\d+|toolchain@[\w.+-]+)\/src\//g, '$GOROOT/src/');
  t = t.replace(/\/tmp\/lab-[\w-]+\//g, '');
  return t;
}

/** The same output with relativePaths applied to its text (streams, errors, text and HTML data). */
export function outputWithRelativePaths(o: Output, repoRoot: string): Output {
  const rel = (v: Multiline): string => relativePaths(joinText(v), repoRoot);
  if (o.output_type === 'stream') return { ...o, text: rel(o.text) };
  if (o.output_type === 'error') return { ...o, evalue: rel(o.evalue), traceback: o.traceback.map((l) => rel(l)) };
  const data = Object.fromEntries(
    Object.entries(o.data ?? {}).map(([k, v]) => [k, isMultiline(v) && k.startsWith('text/') ? rel(v) : v]),
  );
  return { ...o, data };
}

/** What a person reads of some outputs: streams, "Name: message" of errors, the plain text of data. */
export function outputText(outs: Output[]): string {
  return outs
    .map((o) =>
      o.output_type === 'stream'
        ? joinText(o.text)
        : o.output_type === 'error'
          ? `${o.ename}: ${o.evalue}`
          : joinText((o.data['text/plain'] as Multiline | undefined) ?? Object.keys(o.data).join(', ')),
    )
    .join('');
}

/** The notebook as an .ipynb's text: sources and streams as lists of lines, one-space indent like Jupyter. */
export function serializeNotebook(nb: Notebook): string {
  const cells = nb.cells.map((c) => ({
    ...c,
    source: toLines(sourceOf(c)),
    ...(c.outputs ? { outputs: c.outputs.map(fileOutput) } : {}),
  }));
  return JSON.stringify({ ...nb, cells }, null, 1) + '\n';
}
