/** Small inline SVG charts, for where a picture beats a table. */
import { escapeHtml, showSvg } from './display.ts';

export interface Bar {
  label: string;
  value: number;
}

/** Horizontal bars with their values written beside them. */
export function barChartSvg(bars: Bar[], opts: { title?: string; unit?: string } = {}): string {
  const rowH = 22;
  const labelW = 190;
  const barW = 320;
  const top = opts.title ? 28 : 8;
  const max = Math.max(...bars.map((b) => b.value), 1e-9);
  const rows = bars.map((b, i) => {
    const y = top + i * rowH;
    const w = Math.max(1, (b.value / max) * barW);
    const v = `${Number.isInteger(b.value) ? b.value : b.value.toFixed(2)}${opts.unit ? ` ${opts.unit}` : ''}`;
    return (
      `<text x="${labelW - 6}" y="${y + 15}" text-anchor="end" font-size="12">${escapeHtml(b.label)}</text>` +
      `<rect x="${labelW}" y="${y + 3}" width="${w.toFixed(1)}" height="${rowH - 6}" fill="#4a7bd0"/>` +
      `<text x="${labelW + w + 6}" y="${y + 15}" font-size="12">${escapeHtml(v)}</text>`
    );
  });
  const h = top + bars.length * rowH + 8;
  const title = opts.title ? `<text x="8" y="18" font-size="14" font-weight="bold">${escapeHtml(opts.title)}</text>` : '';
  return `<svg xmlns="http://www.w3.org/2000/svg" width="${labelW + barW + 120}" height="${h}" font-family="sans-serif">${title}${rows.join('')}</svg>`;
}

export function barChart(bars: Bar[], opts: { title?: string; unit?: string } = {}): void {
  showSvg(barChartSvg(bars, opts));
}
