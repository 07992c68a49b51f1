/**
 * Pads the cells of every markdown table in a text to its columns' widths, as the formatter
 * (Biome) writes them, so a generated table in a README is already formatted.
 */
export function alignTables(markdown: string): string {
  const lines = markdown.split('\n');
  for (let i = 0; i < lines.length; i++) {
    if (!isRow(lines[i])) continue;
    let j = i;
    while (j < lines.length && isRow(lines[j])) j++;
    if (j - i >= 2 && isDelimiter(lines[i + 1])) lines.splice(i, j - i, ...aligned(lines.slice(i, j)));
    i = j;
  }
  return lines.join('\n');
}

const isRow = (line: string) => /^\|.*\|\s*$/.test(line);
const isDelimiter = (line: string) => cells(line).every((c) => /^:?-+:?$/.test(c));

/** The cells of a row, trimmed; an escaped pipe (\|) stays inside its cell. */
function cells(row: string): string[] {
  return row
    .trim()
    .slice(1, -1)
    .split(/(?<!\\)\|/)
    .map((c) => c.trim());
}

const width = (s: string) => [...s].length;
const pad = (s: string, w: number) => s + ' '.repeat(w - width(s));

function aligned(rows: string[]): string[] {
  const table = rows.map(cells);
  const columns = Math.max(...table.map((r) => r.length));
  const widths = Array.from({ length: columns }, (_, c) =>
    Math.max(3, ...table.filter((_, r) => r !== 1).map((r) => width(r[c] ?? ''))),
  );
  return table.map((r, i) => {
    const out = widths.map((w, c) => {
      if (i !== 1) return pad(r[c] ?? '', w);
      const d = r[c] ?? '---';
      return (d.startsWith(':') ? ':' : '-') + '-'.repeat(w - 2) + (d.endsWith(':') && d.length > 1 ? ':' : '-');
    });
    return `| ${out.join(' | ')} |`;
  });
}
