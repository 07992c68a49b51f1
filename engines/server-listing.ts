/**
 * What the Go server says it serves (`server -list`, the same JSON as /endpoints.json): its
 * endpoints, its crash triggers and its value shapes. The route table in server/handlers.go is
 * the only place they are written; the crash matrix, its usage text, the README and the site read
 * them from here.
 */
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { LabError } from '../core/errors.ts';
import { serverBinary } from '../core/paths.ts';
import type { Trigger } from '../model/crash-matrix.ts';
import { alignTables } from '../model/markdown-table.ts';

export interface Endpoint {
  path: string;
  symbol: string;
  shows: string;
  /** Query parameters, for shapes (e.g. "n=INT"). */
  params?: string;
}

/** One row of the crash matrix: a request that makes the runtime walk or move the probed frame. */
export type { Trigger };

export interface ServerListing {
  endpoints: Endpoint[];
  triggers: Trigger[];
  shapes: Endpoint[];
}

/** Runs `binary -list` (a few milliseconds) and checks the shape of what it printed. */
export function serverListing(binary = serverBinary): ServerListing {
  if (!existsSync(binary)) throw new LabError(`no server binary at ${binary}`, 'build it first: ./lab build');
  let out: string;
  try {
    out = execFileSync(binary, ['-list'], { encoding: 'utf8', timeout: 10000, stdio: ['ignore', 'pipe', 'pipe'] });
  } catch (e) {
    throw new LabError(
      `${binary} -list failed: ${
        String((e as { stderr?: string }).stderr ?? e)
          .trim()
          .split('\n')[0]
      }`,
      'rebuild the server: ./lab build',
      { cause: e },
    );
  }
  const listing = JSON.parse(out) as ServerListing;
  if (!Array.isArray(listing.endpoints) || !Array.isArray(listing.triggers) || !Array.isArray(listing.shapes)) {
    throw new LabError(`${binary} -list printed no endpoints/triggers/shapes`, 'rebuild the server: ./lab build');
  }
  return listing;
}

/** The README's endpoint table, generated from the listing. */
export function renderEndpointsMarkdown(l: ServerListing): string {
  // A | inside a cell, even in code, would end the cell.
  const request = (e: Endpoint) => `\`${e.path}${e.params ? `?${e.params}` : ''}\``.replace(/\|/g, '\\|');
  const triggersOf = (e: Endpoint) =>
    l.triggers.filter((t) => t.path.split('?')[0] === e.path).map((t) => `\`${t.id}\``);
  return alignTables(
    [
      '| endpoint | function | what it shows | crash-matrix triggers |',
      '|---|---|---|---|',
      ...l.endpoints.map(
        (e) => `| ${request(e)} | \`${e.symbol}\` | ${e.shows} | ${triggersOf(e).join(', ') || '—'} |`,
      ),
      '',
      'Shapes of values for tracers to decode — not crash triggers:',
      '',
      '| endpoint | function | what it shows |',
      '|---|---|---|',
      ...l.shapes.map((e) => `| ${request(e)} | \`${e.symbol}\` | ${e.shows} |`),
    ].join('\n'),
  );
}
