// lab-test: concurrent — reads the sources only.
/**
 * What a floor builds or reads from the tree it names by path (`at('room', …)`, a go:generate input),
 * and a path is an arrow no import shows: the floors below the faces name only their own room, the
 * floors under them, and the server they trace — or a room this file declares.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { root } from '../../core/paths.ts';

const below: Record<string, string[]> = {
  core: ['core', 'server'],
  model: ['model'],
  bpf: ['bpf', 'core', 'model', 'server'],
  engines: ['engines', 'bpf', 'core', 'model', 'server'],
};
/** The lab's rooms (a name outside them — .lab/, node_modules/, README.md — is state or the checkout's own). */
const rooms = new Set([
  'core',
  'model',
  'server',
  'bpf',
  'engines',
  'cli',
  'kernel-helpers',
  'workshop',
  'bench',
  'docs',
  'src',
  'static',
  'notebooks',
  'test',
]);

/** Declared inputs: an engine that builds or runs what a face owns, by design. */
const declared: Record<string, string[]> = {
  // The site service builds the site from its sources and the recordings it shows, and serves build/.
  'engines/services/site.ts': ['docs', 'src', 'static', 'notebooks', 'bench', 'build'],
  // The notebooks are the story the engines run, record and write exercise cells into.
  'engines/notebook/io.ts': ['notebooks'],
  'engines/recordings.ts': ['notebooks'],
  'engines/exercises/cells.ts': ['notebooks'],
};

function files(dir: string): string[] {
  return readdirSync(dir).flatMap((e) => {
    const p = join(dir, e);
    if (e === 'node_modules' || e === 'build' || e.startsWith('.')) return [];
    return statSync(p).isDirectory() ? files(p) : [p];
  });
}

/** Rooms a file names: at('room', …) in TypeScript, a path out of its folder in a go:generate line. */
export function roomsNamed(file: string, text: string): string[] {
  if (/\.(ts|cts|mts|cjs|mjs)$/.test(file))
    return [...text.matchAll(/\bat\(\s*'([^']+)'/g)].map((m) => m[1].split('/')[0]);
  if (file.endsWith('.go'))
    return [...text.matchAll(/^\/\/go:generate .*$/gm)].flatMap((m) =>
      [...m[0].matchAll(/(?:^|\s)((?:\.\.\/)+[^\s]+)/g)].map(
        (p) => relative(root, resolve(dirname(join(root, file)), p[1])).split('/')[0],
      ),
    );
  return [];
}

export function undeclaredInputs(): string[] {
  return Object.keys(below).flatMap((room) =>
    files(join(root, room)).flatMap((abs) => {
      const file = relative(root, abs);
      const allowed = new Set([...below[room], ...(declared[file] ?? [])]);
      return roomsNamed(file, readFileSync(abs, 'utf8'))
        .filter((r) => rooms.has(r) && !allowed.has(r))
        .map((r) => `${file} names ${r}/`);
    }),
  );
}

test('the floors name by path only their own room, the floors below, the server — or an input they declare', () => {
  assert.deepEqual(undeclaredInputs(), []);
});

test('a path into a face is caught, in TypeScript and in a go:generate line', () => {
  assert.deepEqual(roomsNamed('bpf/cilium/build.ts', "newestMtime([at('bench', 'bpf', 'empty.bpf.c')])"), ['bench']);
  assert.deepEqual(
    roomsNamed(
      'bpf/cilium/gen.go',
      '//go:generate go tool bpf2go -target bpfel empty ../../bench/bpf/empty.bpf.c -- -I..',
    ),
    ['bench'],
  );
});
