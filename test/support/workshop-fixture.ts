import { mkdtempSync, mkdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { AgendaFile } from '../../workshop/agenda.ts';

export interface FixtureCell {
  id: string;
  source: string;
  /** Recorded outputs (rehearsal replays these). */
  outputs?: object[];
}

/** A private agenda + notebook + notes in a temp dir, so workshop tests never depend on the real notebooks' content. */
export function workshopFixture(cells: FixtureCell[], extraSections = 2): { dir: string; agendaPath: string } {
  const dir = mkdtempSync(join(tmpdir(), 'lab-workshop-'));
  mkdirSync(join(dir, 'notes'));
  writeFileSync(join(dir, 'notes', 'one.md'), 'Say: this is the first section.\n');
  const notebook = {
    nbformat: 4,
    nbformat_minor: 5,
    metadata: { kernelspec: { name: 'tslab', display_name: 'TypeScript', language: 'typescript' } },
    cells: [
      { cell_type: 'markdown', id: 'intro', metadata: {}, source: ['# Fixture\n'] },
      ...cells.map((c, i) => ({
        cell_type: 'code',
        id: c.id,
        metadata: {},
        execution_count: c.outputs ? i + 1 : null,
        source: c.source,
        outputs: c.outputs ?? [],
      })),
    ],
  };
  writeFileSync(join(dir, 'fixture.ipynb'), JSON.stringify(notebook, null, 1));
  const agenda: AgendaFile = {
    title: 'Fixture workshop',
    notebooks: '.',
    sections: [
      {
        id: 'one',
        title: 'Section one',
        minutes: 5,
        page: '/docs/',
        notebook: 'fixture.ipynb',
        cells: cells.map((c) => c.id),
        notes: 'notes/one.md',
      },
      ...Array.from({ length: extraSections }, (_, i) => ({
        id: `extra-${i + 2}`,
        title: `Section ${i + 2}`,
        minutes: 5,
        page: '/docs/',
        anchor: `part-${i + 2}`,
      })),
    ],
  };
  const agendaPath = join(dir, 'agenda.json');
  writeFileSync(agendaPath, JSON.stringify(agenda, null, 1));
  return { dir, agendaPath };
}

export { chromiumOptions } from './browser.ts';

/** Opens a WebSocket: `opened` says whether the server accepted it, with the HTTP status when it refused. */
export async function openSocket(url: string, headers: Record<string, string> = {}) {
  const { default: WebSocket } = await import('ws');
  const ws = new WebSocket(url, { headers });
  const first = new Promise<{ type: string; [k: string]: unknown }>((resolve) =>
    ws.once('message', (d) => resolve(JSON.parse(String(d)))),
  );
  const closed = new Promise<{ code: number; reason: string }>((resolve) =>
    ws.once('close', (code, reason) => resolve({ code, reason: String(reason) })),
  );
  const opened = new Promise<{ ok: boolean; status?: number }>((resolve) => {
    ws.once('open', () => resolve({ ok: true }));
    ws.once('error', () => resolve({ ok: false }));
    ws.once('unexpected-response', (req, res) => {
      resolve({ ok: false, status: res.statusCode });
      req.destroy();
    });
  });
  return { ws, first, closed, opened };
}
