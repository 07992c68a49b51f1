// A notebook (.ipynb) turned into what the site renders: markdown as HTML (mermaid fences kept
// apart so the theme can draw them), code cells with their recorded outputs, ANSI → HTML.
import { Marked } from 'marked';
import { ansiToHtml } from './ansi.ts';
import { terminalText, type KernelOutput } from '../../model/live-outputs.ts';
import {
  joinText as joined,
  parseNotebook,
  sourceOf,
  type Multiline,
  type RecordingInfo,
} from '../../model/notebook-format.ts';

export type { RecordingInfo };

export type OutputView =
  | { kind: 'stream'; name: string; html: string }
  | { kind: 'html'; html: string }
  | { kind: 'text'; html: string }
  | { kind: 'png'; base64: string }
  | { kind: 'svg'; svg: string }
  /** html: the message and where in the cell; more: the rest of the stack, one click away. */
  | { kind: 'error'; html: string; more?: string };

export type MarkdownPart = { html: string } | { mermaid: string };

/** A cell of an exercise (metadata.lab.exercise, written by ./lab exercises --write-cells). */
export type ExerciseRef = { name: string; part: string };

export type CellView =
  | { kind: 'markdown'; parts: MarkdownPart[]; exercise?: ExerciseRef }
  | { kind: 'code'; source: string; count: number | null; outputs: OutputView[]; exercise?: ExerciseRef };

export interface NotebookView {
  slug: string;
  file: string;
  title: string;
  summary: string;
  language: string;
  kernelName: string;
  recording: RecordingInfo | null;
  cells: CellView[];
}

/** One Jupyter output (recorded in a file or streamed from a live kernel) as a view. */
export function outputView(o: KernelOutput): OutputView | null {
  if (o.output_type === 'stream')
    return { kind: 'stream', name: o.name ?? 'stdout', html: ansiToHtml(terminalText(joined(o.text))) };
  if (o.output_type === 'error') {
    const lines = o.traceback?.length ? o.traceback.join('\n').split('\n') : [`${o.ename}: ${o.evalue}`];
    // The message and the cell's own line first (the lab's kernel sends "at line N, column C of this cell").
    const frame = lines.findIndex((l, i) => i > 0 && /^\s+at /.test(l));
    const rest = frame < 0 ? -1 : / of this cell\b/.test(lines[frame]) ? frame + 1 : frame;
    if (rest < 0 || rest >= lines.length) return { kind: 'error', html: ansiToHtml(lines.join('\n')) };
    return {
      kind: 'error',
      html: ansiToHtml(lines.slice(0, rest).join('\n')),
      more: ansiToHtml(lines.slice(rest).join('\n')),
    };
  }
  const data = (o.data ?? {}) as Record<string, Multiline>;
  if (data['text/html']) return { kind: 'html', html: joined(data['text/html']) };
  if (data['image/png']) return { kind: 'png', base64: joined(data['image/png']).replace(/\s/g, '') };
  if (data['image/svg+xml']) return { kind: 'svg', svg: joined(data['image/svg+xml']) };
  if (data['text/markdown']) return { kind: 'html', html: markdownHtml(joined(data['text/markdown'])) };
  if (data['text/plain'] !== undefined) return { kind: 'text', html: ansiToHtml(joined(data['text/plain'])) };
  return null;
}

const marked = new Marked({ gfm: true, async: false });
const markdownHtml = (md: string) => marked.parse(md) as string;

function markdownParts(md: string): MarkdownPart[] {
  const parts: MarkdownPart[] = [];
  const fence = /^```mermaid[ \t]*\n([\s\S]*?)^```[ \t]*$/gm;
  let last = 0;
  for (let m = fence.exec(md); m; m = fence.exec(md)) {
    const before = md.slice(last, m.index);
    if (before.trim()) parts.push({ html: markdownHtml(before) });
    parts.push({ mermaid: m[1].trimEnd() });
    last = fence.lastIndex;
  }
  const rest = md.slice(last);
  if (rest.trim()) parts.push({ html: markdownHtml(rest) });
  return parts;
}

/** At most n characters, cut at a word boundary. */
const shorten = (s: string, n: number) => (s.length <= n ? s : `${s.slice(0, s.lastIndexOf(' ', n))} …`);

const plain = (md: string) =>
  md
    .replace(/\[([^\]]*)\]\([^)]*\)/g, '$1')
    .replace(/[`*#>]/g, '')
    .trim();

const exerciseOf = (c: { metadata?: Record<string, unknown> }) => {
  const exercise = (c.metadata?.lab as { exercise?: ExerciseRef } | undefined)?.exercise;
  return exercise ? { exercise } : {};
};

export function notebookView(file: string, text: string): NotebookView {
  const nb = parseNotebook(text, file);
  const slug = file
    .replace(/\.ipynb$/, '')
    .toLowerCase()
    .replace(/[^a-z0-9]+/g, '-')
    .replace(/^-|-$/g, '');
  const markdown = nb.cells.filter((c) => c.cell_type === 'markdown').map(sourceOf);
  const heading = markdown.map((m) => /^#\s+(.+)$/m.exec(m)?.[1]).find(Boolean);
  let headingShown = false;
  const cells: CellView[] = nb.cells.flatMap((c): CellView[] => {
    let source = sourceOf(c);
    if (c.cell_type === 'markdown') {
      // The page title is the notebook's first heading: don't print it twice.
      if (!headingShown && heading && source.includes(`# ${heading}`)) {
        source = source.replace(/^#\s+.+$\n?/m, '');
        headingShown = true;
      }
      return source.trim() ? [{ kind: 'markdown', parts: markdownParts(source), ...exerciseOf(c) }] : [];
    }
    if (c.cell_type === 'code') {
      const outputs = (c.outputs ?? []).map(outputView).filter((o): o is OutputView => o !== null);
      return [{ kind: 'code', source, count: c.execution_count ?? null, outputs, ...exerciseOf(c) }];
    }
    return [];
  });
  const firstParagraph = markdown
    .flatMap((m) => m.split(/\n\s*\n/))
    .find((p) => p.trim() && !p.trim().startsWith('#') && !p.trim().startsWith('```'));
  return {
    slug,
    file,
    title: heading ? plain(heading) : file.replace(/\.ipynb$/, ''),
    summary: firstParagraph ? shorten(plain(firstParagraph).replace(/\s+/g, ' '), 240) : '',
    language: nb.metadata?.language_info?.name ?? 'typescript',
    kernelName: nb.metadata?.kernelspec?.name ?? 'tslab',
    recording: nb.metadata?.lab ?? null,
    cells,
  };
}
