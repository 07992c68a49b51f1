/** Small inline SVG charts, for where a picture beats a table. */
import { escapeHtml, showSvg } from './display.ts';

export interface Bar {
  label: string;
  value: number;
  /** The spread around the value (e.g. fastest and slowest run), drawn as a whisker. */
  low?: number;
  high?: number;
}

/** Horizontal bars with their values written beside them. */
export function barChartSvg(bars: Bar[], opts: { title?: string; unit?: string } = {}): string {
  const rowH = 22;
  const labelW = 190;
  const barW = 320;
  const top = opts.title ? 28 : 8;
  const max = Math.max(...bars.map((b) => b.high ?? b.value), 1e-9);
  const rows = bars.map((b, i) => {
    const y = top + i * rowH;
    const w = Math.max(1, (b.value / max) * barW);
    const v = `${Number.isInteger(b.value) ? b.value : b.value.toFixed(2)}${opts.unit ? ` ${opts.unit}` : ''}`;
    const x = (n: number) => (labelW + Math.max(1, (n / max) * barW)).toFixed(1);
    const whisker =
      b.low !== undefined && b.high !== undefined
        ? `<line x1="${x(b.low)}" x2="${x(b.high)}" y1="${y + rowH / 2}" y2="${y + rowH / 2}" stroke="#222" stroke-width="1.5"/>` +
          [b.low, b.high]
            .map(
              (n) =>
                `<line x1="${x(n)}" x2="${x(n)}" y1="${y + 6}" y2="${y + rowH - 6}" stroke="#222" stroke-width="1.5"/>`,
            )
            .join('')
        : '';
    const textX = labelW + Math.max(w, b.high !== undefined ? Math.max(1, (b.high / max) * barW) : 0) + 6;
    return (
      `<text x="${labelW - 6}" y="${y + 15}" text-anchor="end" font-size="12">${escapeHtml(b.label)}</text>` +
      `<rect x="${labelW}" y="${y + 3}" width="${w.toFixed(1)}" height="${rowH - 6}" fill="#4a7bd0"/>` +
      whisker +
      `<text x="${textX.toFixed(1)}" y="${y + 15}" font-size="12">${escapeHtml(v)}</text>`
    );
  });
  const h = top + bars.length * rowH + 8;
  const title = opts.title
    ? `<text x="8" y="18" font-size="14" font-weight="bold">${escapeHtml(opts.title)}</text>`
    : '';
  return `<svg xmlns="http://www.w3.org/2000/svg" width="${labelW + barW + 120}" height="${h}" font-family="sans-serif">${title}${rows.join('')}</svg>`;
}

export function barChart(bars: Bar[], opts: { title?: string; unit?: string } = {}): void {
  showSvg(barChartSvg(bars, opts));
}
