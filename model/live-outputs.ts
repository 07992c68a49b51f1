/**
 * The outputs of a notebook's cells as a live kernel produces them, kept the way JupyterLab keeps
 * them: streams of the same name merge, `clear_output(wait=True)` clears at the next output, and
 * `display_data` / `update_display_data` with a display id replace that display in place — in
 * whichever cell it was first shown (tslab sends a live table's updates with the parent header of
 * the cell running *now*, not of the cell that made the table).
 *
 * Browser-safe and free of any UI: the site's notebook pages, the workshop server and the workshop's
 * views all keep their outputs in an OutputStore; the workshop views load it as a script
 * (`liveOutputsScript()` in engines/notebook/live-bundle.ts bundles it as the global `LabLiveOutputs`).
 * The site's Babel spreads loosely ([...iterable] becomes [].concat(iterable)): iterables go through
 * Array.from here.
 */

import { joinText, type Multiline, type Transient } from './notebook-format.ts';

/** One output as the kernel messages carry it (notebook-format.ts's Output, loosely typed: any message type). */
export interface KernelOutput {
  output_type: string;
  name?: string;
  text?: Multiline;
  data?: Record<string, unknown>;
  metadata?: Record<string, unknown>;
  transient?: Transient;
  execution_count?: number | null;
  ename?: string;
  evalue?: string;
  traceback?: string[];
}

/** The iopub message types that change outputs; everything else (status, execute_input…) is ignored. */
const outputTypes = new Set([
  'stream',
  'display_data',
  'execute_result',
  'error',
  'update_display_data',
  'clear_output',
]);

export const isOutputMessage = (msgType: string) => outputTypes.has(msgType);

export const displayIdOf = (o: KernelOutput): string | undefined => o.transient?.display_id || undefined;

const text = joinText;

/**
 * Stream text as a terminal leaves it: a carriage return starts the line again (progress lines
 * overwrite themselves), a backspace removes the character before it. Stored streams keep the raw
 * text (a chunk may end in "\r"); renderers show this.
 */
export function terminalText(s: string): string {
  if (!/[\r\b]/.test(s)) return s;
  return s
    .split('\n')
    .map((line) => {
      const parts = line.split('\r');
      let shown = parts.pop() || parts.pop() || '';
      for (let i = shown.indexOf('\b'); i >= 0; i = shown.indexOf('\b'))
        shown = shown.slice(0, Math.max(0, i - 1)) + shown.slice(i + 1);
      return shown;
    })
    .join('\n');
}

export class OutputStore<Key extends string = string> {
  private readonly cells = new Map<Key, KernelOutput[]>();
  private readonly clearAtNext = new Set<Key>();
  private readonly listeners = new Set<(changed: Key[]) => void>();

  /** The outputs of one cell, in order (a fresh array after every change: safe to keep as React state). */
  outputs(key: Key): readonly KernelOutput[] {
    return this.cells.get(key) ?? [];
  }

  /** Every cell that has outputs. */
  keys(): Key[] {
    return Array.from(this.cells.keys());
  }

  /** Calls `fn` with the keys of the cells that changed, after every change. */
  subscribe(fn: (changed: Key[]) => void): () => void {
    this.listeners.add(fn);
    return () => this.listeners.delete(fn);
  }

  /** Empties one cell (a new run starts). */
  reset(key: Key): void {
    this.clearAtNext.delete(key);
    if (this.cells.delete(key)) this.emit([key]);
  }

  /** Empties every cell (the notebook kernel restarted). */
  resetAll(): void {
    const keys = this.keys();
    this.cells.clear();
    this.clearAtNext.clear();
    if (keys.length) this.emit(keys);
  }

  /** Puts outputs as they are (recorded ones, or a copy received from a server). */
  set(key: Key, outputs: KernelOutput[]): void {
    this.cells.set(key, [...outputs]);
    this.emit([key]);
  }

  /**
   * Applies one iopub message (type and content) that belongs to the cell `key`. Returns the keys of
   * the cells it changed: an update may change a display in another cell, or in several.
   */
  apply(key: Key, msgType: string, content: object): Key[] {
    const c = content as KernelOutput & { wait?: boolean };
    switch (msgType) {
      case 'clear_output':
        if (c.wait) {
          this.clearAtNext.add(key);
          return [];
        }
        this.clearAtNext.delete(key);
        return this.replaceCell(key, []);
      case 'update_display_data': {
        const id = displayIdOf(c);
        return id ? this.updateDisplay(id, c) : [];
      }
      case 'stream':
      case 'display_data':
      case 'execute_result':
      case 'error': {
        const output: KernelOutput = { ...c, output_type: msgType };
        delete (output as { wait?: boolean }).wait;
        // A display shown again with the same id updates its earlier copies too (nbformat's rule).
        const id = msgType === 'display_data' ? displayIdOf(output) : undefined;
        const changed = id ? this.updateDisplay(id, output) : [];
        return Array.from(new Set(changed.concat(this.append(key, output))));
      }
    }
    return [];
  }

  private append(key: Key, output: KernelOutput): Key[] {
    const list = this.clearAtNext.delete(key) ? [] : [...(this.cells.get(key) ?? [])];
    const last = list[list.length - 1];
    if (output.output_type === 'stream' && last?.output_type === 'stream' && last.name === output.name) {
      list[list.length - 1] = { ...last, text: text(last.text) + text(output.text) };
    } else {
      list.push(output.output_type === 'stream' ? { ...output, text: text(output.text) } : output);
    }
    return this.replaceCell(key, list);
  }

  private updateDisplay(id: string, next: KernelOutput): Key[] {
    const changed: Key[] = [];
    for (const [key, list] of this.cells) {
      if (!list.some((o) => displayIdOf(o) === id)) continue;
      this.cells.set(
        key,
        list.map((o) => (displayIdOf(o) === id ? { ...o, data: next.data, metadata: next.metadata ?? o.metadata } : o)),
      );
      changed.push(key);
    }
    if (changed.length) this.emit(changed);
    return changed;
  }

  private replaceCell(key: Key, list: KernelOutput[]): Key[] {
    if (list.length === 0 && !this.cells.has(key)) return [];
    this.cells.set(key, list);
    this.emit([key]);
    return [key];
  }

  private emit(changed: Key[]): void {
    for (const fn of this.listeners) fn(changed);
  }
}
