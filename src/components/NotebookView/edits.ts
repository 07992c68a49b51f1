// A reader's edits to a notebook's cells, kept in this browser (localStorage), per notebook and cell.
// Each edit remembers the source it was made on: when the notebook itself changes, the stale edit is
// dropped instead of landing on a different cell.

const prefix = 'go-uretprobe-lab.edit';
const keyOf = (slug: string, cell: number) => `${prefix}.${slug}.${cell}`;

/** A short fingerprint of a cell's original source (FNV-1a). */
function fingerprint(s: string): string {
  let h = 0x811c9dc5;
  for (let i = 0; i < s.length; i++) h = Math.imul(h ^ s.charCodeAt(i), 0x01000193) >>> 0;
  return `${s.length}:${h.toString(16)}`;
}

export function loadEdit(slug: string, cell: number, original: string): string | null {
  try {
    const v = JSON.parse(localStorage.getItem(keyOf(slug, cell)) ?? 'null') as { of?: string; source?: string } | null;
    if (!v || typeof v.source !== 'string') return null;
    if (v.of !== fingerprint(original)) {
      localStorage.removeItem(keyOf(slug, cell));
      return null;
    }
    return v.source;
  } catch {
    return null;
  }
}

/** Keeps `source` as the reader's version of the cell; the original itself is no edit. */
export function saveEdit(slug: string, cell: number, original: string, source: string): void {
  try {
    if (source === original) localStorage.removeItem(keyOf(slug, cell));
    else localStorage.setItem(keyOf(slug, cell), JSON.stringify({ of: fingerprint(original), source }));
  } catch {
    // storage full or disabled: the edit lives as long as the page
  }
}

export function dropEdit(slug: string, cell: number): void {
  try {
    localStorage.removeItem(keyOf(slug, cell));
  } catch {
    // nothing kept
  }
}
