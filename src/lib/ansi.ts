// ANSI SGR escape sequences (colours, bold) → HTML spans. Used at build time for recorded
// notebook outputs and in the browser for live outputs, so it has no dependencies.

const basic = ['#000000', '#cd3131', '#0dbc79', '#b5a000', '#2472c8', '#bc3fbc', '#11a8cd', '#b0b0b0'];
const bright = ['#666666', '#f14c4c', '#23d18b', '#d5c300', '#3b8eea', '#d670d6', '#29b8db', '#e5e5e5'];

function color256(n: number): string {
  if (n < 8) return basic[n];
  if (n < 16) return bright[n - 8];
  if (n < 232) {
    const i = n - 16;
    const level = (v: number) => (v === 0 ? 0 : 55 + v * 40);
    return `rgb(${level(Math.floor(i / 36))},${level(Math.floor(i / 6) % 6)},${level(i % 6)})`;
  }
  const g = 8 + (n - 232) * 10;
  return `rgb(${g},${g},${g})`;
}

export function escapeHtml(s: string): string {
  return s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');
}

interface Style {
  bold?: boolean;
  dim?: boolean;
  italic?: boolean;
  underline?: boolean;
  fg?: string;
  bg?: string;
}

function css(s: Style): string {
  const parts: string[] = [];
  if (s.bold) parts.push('font-weight:bold');
  if (s.dim) parts.push('opacity:0.7');
  if (s.italic) parts.push('font-style:italic');
  if (s.underline) parts.push('text-decoration:underline');
  if (s.fg) parts.push(`color:${s.fg}`);
  if (s.bg) parts.push(`background-color:${s.bg}`);
  return parts.join(';');
}

function apply(style: Style, codes: number[]): Style {
  const s = { ...style };
  for (let i = 0; i < codes.length; i++) {
    const c = codes[i];
    if (c === 0) for (const k of Object.keys(s)) delete s[k as keyof Style];
    else if (c === 1) s.bold = true;
    else if (c === 2) s.dim = true;
    else if (c === 3) s.italic = true;
    else if (c === 4) s.underline = true;
    else if (c === 22) s.bold = s.dim = false;
    else if (c === 23) s.italic = false;
    else if (c === 24) s.underline = false;
    else if (c >= 30 && c <= 37) s.fg = basic[c - 30];
    else if (c >= 90 && c <= 97) s.fg = bright[c - 90];
    else if (c >= 40 && c <= 47) s.bg = basic[c - 40];
    else if (c >= 100 && c <= 107) s.bg = bright[c - 100];
    else if (c === 39) delete s.fg;
    else if (c === 49) delete s.bg;
    else if ((c === 38 || c === 48) && codes[i + 1] === 5) {
      s[c === 38 ? 'fg' : 'bg'] = color256(codes[i + 2] ?? 0);
      i += 2;
    } else if ((c === 38 || c === 48) && codes[i + 1] === 2) {
      s[c === 38 ? 'fg' : 'bg'] = `rgb(${codes[i + 2] ?? 0},${codes[i + 3] ?? 0},${codes[i + 4] ?? 0})`;
      i += 4;
    }
  }
  return s;
}

/** Converts text with ANSI escapes into HTML-escaped text wrapped in styled spans. */
export function ansiToHtml(text: string): string {
  let out = '';
  let style: Style = {};
  // CSI sequences: ESC [ params final-byte. Only SGR ("m") changes style; the rest are dropped.
  const re = /\x1b\[([0-9;?]*)([A-Za-z])/g;
  let last = 0;
  const emit = (chunk: string) => {
    if (!chunk) return;
    const c = css(style);
    out += c ? `<span style="${c}">${escapeHtml(chunk)}</span>` : escapeHtml(chunk);
  };
  for (let m = re.exec(text); m; m = re.exec(text)) {
    emit(text.slice(last, m.index));
    last = re.lastIndex;
    if (m[2] === 'm') style = apply(style, m[1] === '' ? [0] : m[1].split(';').map((x) => Number(x) || 0));
  }
  emit(text.slice(last));
  return out;
}
