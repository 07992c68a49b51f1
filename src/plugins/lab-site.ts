// Docusaurus plugin: build fixes for this repository, and one page per notebooks/*.ipynb at /notebooks/<slug>/ plus an index page,
// rendered from the outputs recorded in the file. Zero notebooks gives an index that says so.
import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { LoadContext, Plugin } from '@docusaurus/types';
import type { Compiler } from 'webpack';
import { notebookView, type NotebookView } from '../lib/notebook';
import type { LabData } from '../lib/data-types';

async function readJson(...candidates: string[]): Promise<{ path: string; data: unknown } | null> {
  for (const path of candidates) {
    const text = await readFile(path, 'utf8').catch(() => null);
    if (text !== null) return { path, data: JSON.parse(text) };
  }
  return null;
}

/** Files the site renders; `./lab build` rebuilds the site when one of them changes. */
export const labDataFiles = (siteDir: string) => ({
  crashRecording: [join(siteDir, 'docs', 'data', 'crash-recording.json')],
  crashMatrix: [join(siteDir, 'docs', 'data', 'crash-matrix.json')],
  bench: [join(siteDir, 'docs', 'data', 'bench', 'results.json'), join(siteDir, 'bench', 'results.json')],
});

interface Content {
  notebooks: NotebookView[];
  data: LabData;
}

/**
 * The server bundle's chunks (build/__server/assets/js/*.js) are CommonJS, and SSG require()s them; under
 * this repository's "type": "module" Node would load them as ES modules ("exports is not defined in ES
 * module scope"). Under Rspack the pages' components are in such chunks (the 404 page's, for one), so
 * a build into build/ fails unless a package.json saying "commonjs" goes beside them (a build into a
 * directory outside the repository does not see ours). Docusaurus removes __server/ when it is done.
 */
const serverChunksAreCommonJs = {
  apply(compiler: Compiler) {
    const { sources, Compilation } = compiler.webpack;
    compiler.hooks.thisCompilation.tap('lab-site', (compilation) => {
      compilation.hooks.processAssets.tap(
        { name: 'lab-site', stage: Compilation.PROCESS_ASSETS_STAGE_ADDITIONAL },
        () => compilation.emitAsset('package.json', new sources.RawSource('{ "type": "commonjs" }\n')),
      );
    });
  },
};

export function labSitePlugin(context: LoadContext): Plugin<Content> {
  const dir = join(context.siteDir, 'notebooks');
  const files = labDataFiles(context.siteDir);
  return {
    name: 'lab-site',
    getPathsToWatch: () => [join(dir, '*.ipynb'), ...Object.values(files).flat()],
    // theme-mermaid imports the optional ELK layout package behind a flag that is off when the
    // package is absent, but webpack still has to resolve the import: resolve it to nothing.
    // The root package.json says "type": "module", which makes webpack parse Docusaurus's generated
    // route registry as strict ESM and leave its require.resolveWeak() calls untranslated (SSR then
    // fails with "require.resolveWeak is not a function"): parse the generated files as auto.
    // The server bundle never opens a live kernel: leave ws's optional native helpers out of it.
    configureWebpack: (_config, isServer) => ({
      resolve: { alias: { '@mermaid-js/layout-elk': false, ...(isServer ? { ws: false } : {}) } },
      module: { rules: [{ test: /\.js$/, include: [context.generatedFilesDir], type: 'javascript/auto' }] },
      plugins: isServer ? [serverChunksAreCommonJs] : [],
    }),
    async loadContent() {
      const names = (await readdir(dir).catch(() => [] as string[])).filter((f) => f.endsWith('.ipynb')).sort();
      const notebooks = await Promise.all(
        names.map(async (f) => notebookView(f, await readFile(join(dir, f), 'utf8'))),
      );
      const [crashRecording, crashMatrix, bench] = await Promise.all([
        readJson(...files.crashRecording),
        readJson(...files.crashMatrix),
        readJson(...files.bench),
      ]);
      const rel = (p?: string) => p?.slice(context.siteDir.length + 1);
      return {
        notebooks,
        data: {
          crashRecording: (crashRecording?.data ?? null) as LabData['crashRecording'],
          crashMatrix: (crashMatrix?.data ?? null) as LabData['crashMatrix'],
          bench: bench?.data ?? null,
          benchPath: rel(bench?.path) ?? null,
        },
      };
    },
    async contentLoaded({ content: { notebooks: content, data }, actions }) {
      actions.setGlobalData(data);
      const index = content.map(({ slug, title, summary, recording, file }) => ({
        slug,
        title,
        summary,
        recording,
        file,
      }));
      actions.addRoute({
        path: '/notebooks/',
        component: '@site/src/components/NotebookIndex.tsx',
        modules: { notebooks: await actions.createData('notebook-index.json', JSON.stringify(index)) },
        exact: true,
      });
      for (const [i, nb] of content.entries()) {
        const neighbours = { previous: index[i - 1] ?? null, next: index[i + 1] ?? null };
        actions.addRoute({
          path: `/notebooks/${nb.slug}/`,
          component: '@site/src/components/NotebookPage.tsx',
          modules: {
            notebook: await actions.createData(`notebook-${nb.slug}.json`, JSON.stringify({ ...nb, ...neighbours })),
          },
          exact: true,
        });
      }
    },
  };
}
