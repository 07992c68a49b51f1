/**
 * Rich output for cells through tslab's display API, with a plain-text fallback
 * when the helpers run outside a notebook kernel (tests, the CLI).
 */
import { createRequire } from 'node:module';
import type { TraceEvent } from '../bpf/ts/index.ts';
import { formatArgs, formatLatency, formatResults } from '../bpf/ts/values.ts';

interface TslabDisplay {
  html(s: string): void;
  markdown(s: string): void;
  svg(s: string): void;
  text(s: string): void;
}
interface TslabPublic {
  display: TslabDisplay;
  newDisplay(): TslabDisplay;
}

/**
 * The tslab module the running kernel uses. It must be the very instance the kernel loaded
 * (it holds the current cell's output channel), so resolve it with plain Node require from
 * the kernel's main script, not through whatever loader compiled these helpers.
 */
function kernelTslab(): TslabPublic | undefined {
  const main = process.argv[1];
  if (!main || !/tslab/.test(main)) return undefined;
  try {
    const req = createRequire(main);
    const jupyter = req('tslab/dist/jupyter.js') as { lastWriteDisplayData: unknown };
    if (jupyter.lastWriteDisplayData == null) return undefined;
    return req('tslab') as TslabPublic;
  } catch {
    return undefined;
  }
}

export const inNotebook = () => kernelTslab() !== undefined;

const textOf = (html: string) =>
  html
    .replace(/<(br|\/tr|\/p|\/h\d|\/li|\/div)>/g, '\n')
    .replace(/<\/t[dh]>/g, '\t')
    .replace(/<[^>]+>/g, '')
    .replace(/&lt;/g, '<')
    .replace(/&gt;/g, '>')
    .replace(/&quot;/g, '"')
    .replace(/&amp;/g, '&')
    .replace(/\n{3,}/g, '\n\n')
    .trim();

export function showHtml(html: string): void {
  const t = kernelTslab();
  if (t) t.display.html(html);
  else console.log(textOf(html));
}

export function showMarkdown(md: string): void {
  const t = kernelTslab();
  if (t) t.display.markdown(md);
  else console.log(md);
}

export function showSvg(svg: string): void {
  const t = kernelTslab();
  if (t) t.display.svg(svg);
  else console.log('[chart]');
}

/** One output that can be replaced in place (update_display_data); prints each version outside a kernel. */
export interface LiveOutput {
  html(html: string): void;
}

export function liveOutput(): LiveOutput {
  const t = kernelTslab();
  if (!t) return { html: (h) => console.log(textOf(h)) };
  const d = t.newDisplay();
  return { html: (h) => d.html(h) };
}

export const escapeHtml = (s: unknown) =>
  String(s).replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');

export type Cell = string | number | boolean | null | undefined | { html: string };

const cellHtml = (c: Cell) => (c !== null && typeof c === 'object' ? c.html : escapeHtml(c ?? ''));

/** An HTML table; cells given as {html} are inserted as they are. */
export function tableHtml(columns: string[], rows: Cell[][], caption?: string): string {
  const head = columns.map((c) => `<th style="text-align:left">${escapeHtml(c)}</th>`).join('');
  const body = rows
    .map((r) => `<tr>${r.map((c) => `<td style="text-align:left">${cellHtml(c)}</td>`).join('')}</tr>`)
    .join('');
  return `<table>${caption ? `<caption>${escapeHtml(caption)}</caption>` : ''}<thead><tr>${head}</tr></thead><tbody>${body}</tbody></table>`;
}

export function showTable(columns: string[], rows: Cell[][], caption?: string): void {
  showHtml(tableHtml(columns, rows, caption));
}

/** Preformatted text (a crash, a log) as HTML, so it keeps its layout. */
export const preHtml = (text: string) => `<pre style="white-space:pre-wrap">${escapeHtml(text)}</pre>`;

/** The columns of an event table: one row per event, its call written as Go. */
export const eventColumns = ['kind', 'call', 'pid', 'tid', 'goroutine', 'latency µs', 'RET #'];

/** One event as a table row: main.wordStats(s="hello big world") = (3, 4) — the values typed from DWARF. */
export function eventRow(e: TraceEvent): Cell[] {
  if (e.kind === 'exit')
    return [e.kind, e.signal ? `killed by signal ${e.signal}` : `exit status ${e.exit_code}`, e.pid, e.tid, '', '', ''];
  const args = e.kind === 'call' && e.latency_ns === null ? '?' : formatArgs(e);
  const results =
    e.kind === 'call' || e.kind === 'return'
      ? e.ret.length
        ? ` = ${formatResults(e)}`
        : ''
      : e.kind === 'unwound'
        ? ' — unwound by a panic'
        : '';
  const goroutine = e.goid ? `g${e.goid}` : e.goroutine;
  return [
    e.kind,
    `${e.symbol}(${args})${results}`,
    e.pid,
    e.tid,
    goroutine,
    formatLatency(e.latency_ns).replace('µs', ''),
    e.ret_site ?? '',
  ];
}
