import type { Config } from '@docusaurus/types';
import type * as Preset from '@docusaurus/preset-classic';
import { dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { themes, type PrismTheme } from 'prism-react-renderer';
import { labSitePlugin } from './src/plugins/lab-site';

/**
 * A prism theme with the colours of some token types replaced: the stock github (light) and
 * dracula (dark) themes draw comments, numbers and keywords under WCAG AA's 4.5:1 on their own background.
 */
function readable(theme: PrismTheme, colours: Record<string, string>): PrismTheme {
  return {
    ...theme,
    styles: theme.styles.map((s) => {
      const colour = s.types.map((t) => colours[t]).find(Boolean);
      return colour ? { ...s, style: { ...s.style, color: colour } } : s;
    }),
  };
}

/** `import text from '…/file.c?raw'`: a file's text, read when the site is built (the BPF page shows bpf/*.bpf.c). */
function rawSourcePlugin() {
  return {
    name: 'raw-source',
    configureWebpack: () => ({ module: { rules: [{ resourceQuery: /raw/, type: 'asset/source' }] } }),
  };
}

// Everything is served from 127.0.0.1 by `./lab start`; nothing is fetched from the internet
// (no Algolia, no web fonts, no analytics), so the site works offline; search is a local index.
const config: Config = {
  title: 'The Go uretprobe lab',
  tagline: 'Why uretprobes crash Go programs, and how to trace Go safely with eBPF',
  favicon: 'img/favicon.svg',
  url: 'http://127.0.0.1',
  baseUrl: '/',
  trailingSlash: true,
  onBrokenLinks: 'throw',
  markdown: { mermaid: true, hooks: { onBrokenMarkdownLinks: 'throw' } },
  themes: [
    '@docusaurus/theme-mermaid',
    // Full-text search built into the site at build time (lunr index in build/): no external service.
    [
      '@easyops-cn/docusaurus-search-local',
      {
        hashed: true,
        // The 'zh' tokenizer splits on every non-word character, so "runtime.morestack" and
        // "main.demo" are found by "morestack" and "demo" (lunr's English one splits on spaces only).
        language: ['en', 'zh'],
        indexDocs: true,
        docsRouteBasePath: '/docs',
        indexBlog: false,
        // Pages outside docs/: the recorded notebooks (/notebooks/<slug>/) and the home page.
        indexPages: true,
        ignoreFiles: [/^live$/],
        highlightSearchTermsOnTargetPage: true,
        searchResultLimits: 10,
        explicitSearchResultPath: true,
      },
    ],
  ],
  i18n: { defaultLocale: 'en', locales: ['en'] },
  // Docusaurus Faster (@docusaurus/faster, same version as @docusaurus/core): Rspack instead of webpack,
  // SWC instead of Babel and Terser, Lightning CSS instead of cssnano, SSG in worker threads. A cold
  // build (no .docusaurus, no node_modules/.cache) drops from ~3 min to well under the bench's 90 s.
  // ssgWorkerThreads needs v4.removeLegacyPostBuildHeadAttribute (no plugin here reads postBuild's head).
  // rspackPersistentCache keeps its cache in node_modules/.cache/rspack, which a cold build removes.
  future: {
    v4: { removeLegacyPostBuildHeadAttribute: true },
    faster: {
      rspackBundler: true,
      rspackPersistentCache: true,
      swcJsLoader: true,
      swcJsMinimizer: true,
      swcHtmlMinimizer: true,
      lightningCssMinimizer: true,
      mdxCrossCompilerCache: true,
      ssgWorkerThreads: true,
    },
  },
  presets: [
    [
      'classic',
      {
        docs: { routeBasePath: 'docs', sidebarPath: './sidebars.ts' },
        blog: false,
        theme: { customCss: './src/css/custom.css' },
        sitemap: false,
      } satisfies Preset.Options,
    ],
  ],
  plugins: [labSitePlugin, rawSourcePlugin],
  clientModules: ['./src/components/mermaidFit.ts'],
  // Recorded outputs are shown with paths relative to this checkout (relativePaths in model/notebook-format.ts).
  customFields: { repoRoot: dirname(fileURLToPath(import.meta.url)) },
  themeConfig: {
    colorMode: { respectPrefersColorScheme: true },
    navbar: {
      title: 'Go uretprobe lab',
      items: [
        { type: 'docSidebar', sidebarId: 'story', position: 'left', label: 'The story' },
        { to: '/notebooks/', label: 'Notebooks', position: 'left' },
        { to: '/live/', label: 'Live mode', position: 'right' },
      ],
    },
    footer: {
      style: 'dark',
      copyright: 'The Go uretprobe lab — recorded on a real Linux kernel; run it yourself with ./lab start.',
    },
    // Diagrams keep their natural size (text stays at the theme's 16 px) instead of shrinking to the
    // column: one wider than the column scrolls inside its own box (src/css/custom.css).
    mermaid: {
      theme: { light: 'neutral', dark: 'dark' },
      options: {
        flowchart: { useMaxWidth: false },
        // Compact sequence diagrams: narrow actor boxes, long messages wrapped.
        sequence: { useMaxWidth: false, actorMargin: 24, width: 110, wrap: true, messageAlign: 'center' },
        timeline: { useMaxWidth: false },
      },
    },
    // Every token colour >= 4.5:1 against the code background (#f6f8fa light, #282a36 dark).
    prism: {
      theme: readable(themes.github, {
        comment: '#57606a',
        string: '#c4105f',
        number: '#127078',
        atrule: '#006da3',
        function: '#b31d28',
      }),
      darkTheme: readable(themes.dracula, { comment: '#8a96c4' }),
      additionalLanguages: ['bash', 'go', 'c', 'nasm'],
    },
  } satisfies Preset.ThemeConfig,
};

export default config;
