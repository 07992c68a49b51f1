// lab-test: concurrent — reads the sources only.
/** The layout's arrows, read from the sources: every import points down a floor, none between faces. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { builtinModules } from 'node:module';
import { importCycles, importGraph, importSpecs, roomOf } from '../support/imports.ts';

const graph = importGraph();
const faces = new Set(['cli', 'kernel-helpers', 'workshop', 'bench', 'site']);
/** The CLI is the entry point: its commands open the workshop and the benchmarks through their entry modules. */
const facesTheCliOpens = new Set(['workshop', 'bench']);
/** model/ (browser-safe: formats, catalogs, shapes of recordings) sits beside core/ (Node: paths, processes, files). */
const floors: Record<string, number> = { core: 0, model: 0, bpf: 1, engines: 2 };

const edges = [...graph].flatMap(([from, tos]) => [...tos].map((to) => ({ from, to, a: roomOf(from), b: roomOf(to) })));

test('the import reader sees the project', () => {
  assert.ok(graph.size > 80, `read ${graph.size} files`);
  assert.ok(
    edges.some((e) => e.a === 'cli' && e.b === 'core'),
    'cli imports the bottom floor',
  );
});

test('nothing outside cli/ imports cli/', () => {
  const up = edges.filter((e) => e.b === 'cli' && e.a !== 'cli').map((e) => `${e.from} imports ${e.to}`);
  assert.deepEqual(up, []);
});

test('no import cycle among the project files (type-only imports count)', () => {
  assert.deepEqual(importCycles(graph), []);
});

test('faces never import each other, and no floor imports a face', () => {
  const wrong = edges
    .filter((e) => e.a !== e.b && faces.has(e.b))
    .filter((e) => !(e.a === 'cli' && facesTheCliOpens.has(e.b)))
    .map((e) => `${e.from} imports ${e.to}`);
  assert.deepEqual(wrong, []);
});

test('every arrow between core, bpf and engines points down', () => {
  const wrong = edges
    .filter((e) => e.a in floors && e.b in floors && floors[e.b] > floors[e.a])
    .map((e) => `${e.from} imports ${e.to}`);
  assert.deepEqual(wrong, []);
});

test('core/ imports nothing of the lab', () => {
  const wrong = edges.filter((e) => e.a === 'core' && e.b !== 'core').map((e) => `${e.from} imports ${e.to}`);
  assert.deepEqual(wrong, []);
});

const ofNode = (spec: string) => spec.startsWith('node:') || builtinModules.includes(spec.split('/')[0]);
const specs = importSpecs();

test('model/ (the browser-safe floor) imports nothing of Node and nothing outside model/', () => {
  const wrong = [...specs]
    .filter(([file]) => roomOf(file) === 'model')
    .flatMap(([file, named]) => named.filter((s) => ofNode(s)).map((s) => `${file} imports ${s}`));
  wrong.push(...edges.filter((e) => e.a === 'model' && e.b !== 'model').map((e) => `${e.from} imports ${e.to}`));
  assert.deepEqual(wrong, []);
});

/** What the browser loads of the site: its pages, components, theme and libraries (src/plugins/ runs in Node at build time). */
const inTheBrowser = (file: string) => file.startsWith('src/') && !file.startsWith('src/plugins/');

test("the site's browser code imports only model/ of the lab, and nothing of Node", () => {
  const wrong = edges
    .filter((e) => inTheBrowser(e.from) && e.b !== 'site' && e.b !== 'model')
    .map((e) => `${e.from} imports ${e.to}`);
  for (const [file, named] of specs)
    if (inTheBrowser(file)) wrong.push(...named.filter(ofNode).map((s) => `${file} imports ${s}`));
  assert.deepEqual(wrong, []);
});
