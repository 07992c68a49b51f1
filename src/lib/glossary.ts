// The glossary's terms and the rule that every page's first use of one links to it. The definitions are
// docs/glossary.mdx's sections, one per term, under the anchor named here; test/site/story-glossary.test.ts
// holds both together and reads every page with firstUses(). Pure: no Node, no Docusaurus.

export interface GlossaryTerm {
  /** The anchor of its section on /docs/glossary/. */
  id: string;
  /** How the glossary names it. */
  term: string;
  /** What counts as a use in a page's prose (a whole word, case as written). */
  match: RegExp;
  /** An identifier the pages write as inline code (`uprobe_multi`): a code span that is exactly it is a use. */
  code?: true;
}

export const glossaryPath = '/docs/glossary/';

export const glossaryTerms: GlossaryTerm[] = [
  { id: 'bpf-program', term: 'BPF program', match: /\b(e?BPF) programs?\b/ },
  { id: 'bpf-map', term: 'BPF map', match: /\bBPF maps?\b/ },
  { id: 'verifier', term: 'verifier', match: /\bverifier\b/ },
  { id: 'ring-buffer', term: 'ring buffer', match: /\bring buffers?\b/ },
  { id: 'lru-hash', term: 'LRU hash map', match: /\bLRU\b/ },
  { id: 'btf', term: 'BTF', match: /\bBTF\b/ },
  { id: 'co-re', term: 'CO-RE', match: /\bCO-RE\b/ },
  { id: 'libbpf', term: 'libbpf', match: /\blibbpf\b(?!-)/ },
  { id: 'uprobe', term: 'uprobe', match: /\buprobes?\b/ },
  { id: 'uretprobe', term: 'uretprobe', match: /\buretprobes?\b/ },
  { id: 'trampoline', term: 'uretprobe trampoline', match: /\btrampoline\b/ },
  { id: 'return-instance', term: 'return_instance', match: /\breturn_instances?\b/, code: true },
  { id: 'xol', term: 'XOL (execute out of line)', match: /\bXOL\b/ },
  { id: 'pt-regs', term: 'pt_regs', match: /\bpt_regs\b/, code: true },
  { id: 'attach-cookie', term: 'attach cookie', match: /\battach cookies?\b/ },
  { id: 'uprobe-multi', term: 'uprobe_multi link', match: /\buprobe_multi\b/, code: true },
  { id: 'pmu', term: 'PMU (the uprobe PMU)', match: /\bPMU\b/ },
  { id: 'dwarf', term: 'DWARF', match: /\bDWARF\b/ },
  { id: 'register-abi', term: "Go's register ABI", match: /\bregister ABI\b/ },
  { id: 'goroutine-g', term: 'goroutine, g, M', match: /\bgoroutines?\b/ },
  { id: 'goid', term: 'goid', match: /\bgoid\b/, code: true },
  { id: 'copystack', term: 'copystack (stack growth)', match: /\bcopystack\b/, code: true },
  { id: 'morestack', term: 'morestack', match: /\bmorestack\b/, code: true },
  { id: 'gcopystack', term: '_Gcopystack', match: /\b_Gcopystack\b/, code: true },
  { id: 'sudog', term: 'sudog', match: /\bsudogs?\b/, code: true },
  { id: 'nosplit', term: 'NOSPLIT', match: /\bNOSPLIT\b/, code: true },
  { id: 'unwinder', term: 'unwinder', match: /\bunwinder\b/, code: true },
  { id: 'open-coded-defer', term: 'open-coded defer', match: /\bopen-coded\b/ },
  { id: 'inlining', term: 'inlining', match: /\binlin(ing|ed)\b/ },
];

export interface TermUse {
  id: string;
  /** Where the first use starts and ends in the page's source. */
  index: number;
  end: number;
  /** It is the text of a link to the glossary's section of this term. */
  linked: boolean;
  /** It is a whole inline code span (`uprobe_multi`): a link wraps the span. */
  codeSpan: boolean;
}

const blank = (s: string) => s.replace(/[^\n]/g, ' ');

/**
 * The first use of each glossary term in an MDX page, and whether it links to the glossary. What
 * counts: prose and tables. What does not: front matter, import/export statements, fenced code blocks
 * (diagrams included: a diagram cannot hold a link), headings, admonition lines, JSX tags and
 * expressions, comments, link targets, the text of links to other pages (already a link), and inline
 * code that merely contains a term — a path, an identifier, a command. An inline code span that is
 * exactly a term (`uprobe_multi`, `_Gcopystack`, `NOSPLIT`) is a use.
 */
export function firstUses(mdx: string, terms: GlossaryTerm[] = glossaryTerms): TermUse[] {
  let text = mdx;
  const mask = (re: RegExp, keep?: (m: RegExpExecArray) => boolean) => {
    text = text.replace(re, (...args) => {
      const m = args as unknown as RegExpExecArray;
      return keep?.(m) ? m[0] : blank(m[0]);
    });
  };
  mask(/^---\n[\s\S]*?\n---\n/);
  mask(/^```[^\n]*\n[\s\S]*?^```[^\n]*$/gm);
  mask(/^(import|export) [\s\S]*?(?=\n\s*\n|$)/gm);
  mask(/^#{1,6} .*$/gm);
  mask(/^:::.*$/gm);
  mask(/\{\/\*[\s\S]*?\*\/\}|<!--[\s\S]*?-->/g);
  mask(/<\/?[A-Za-z][^<>]*>/g);
  mask(/\{[^{}\n]*\}/g);
  // Links: [text](target). Glossary links keep their text and say which term they are for.
  const glossaryLinks: { start: number; end: number; id: string }[] = [];
  text = text.replace(/\[([^\]\n]+)\]\(([^)\s]+)\)/g, (whole, label: string, target: string, offset: number) => {
    const to = target.startsWith(glossaryPath) ? target.slice(glossaryPath.length).replace(/^#/, '') : undefined;
    if (to === undefined) return blank(whole);
    glossaryLinks.push({ start: offset + 1, end: offset + 1 + label.length, id: to });
    return `[${label}]${blank(`(${target})`)}`;
  });
  // Inline code: a span that is exactly a term stays (its backticks blanked), any other is blanked.
  const codeSpans: { start: number; end: number }[] = [];
  text = text.replace(/`([^`\n]+)`/g, (whole, inner: string, offset: number) => {
    if (terms.some((t) => t.code && new RegExp(`^${t.match.source}$`).test(inner))) {
      codeSpans.push({ start: offset, end: offset + whole.length });
      return ` ${inner} `;
    }
    return blank(whole);
  });
  const uses: TermUse[] = [];
  for (const t of terms) {
    const m = new RegExp(t.match.source, 'g').exec(text);
    if (!m) continue;
    const index = m.index;
    const end = index + m[0].length;
    const link = glossaryLinks.find((l) => l.start <= index && end <= l.end);
    const span = codeSpans.find((c) => c.start < index && end < c.end);
    uses.push({
      id: t.id,
      index: span ? span.start : index,
      end: span ? span.end : end,
      linked: link?.id === t.id,
      codeSpan: span !== undefined,
    });
  }
  return uses;
}

/** The page with every unlinked first use linked to its glossary section (for the pages' authors; the test says which). */
export function linkFirstUses(mdx: string, terms: GlossaryTerm[] = glossaryTerms): string {
  const todo = firstUses(mdx, terms)
    .filter((u) => !u.linked)
    .sort((a, b) => b.index - a.index);
  let out = mdx;
  for (const u of todo) {
    // Two terms in one span (rare): only the outer is linked, once.
    if (todo.some((o) => o !== u && o.index <= u.index && u.end <= o.end && !(o.index === u.index && o.end === u.end)))
      continue;
    out = `${out.slice(0, u.index)}[${out.slice(u.index, u.end)}](${glossaryPath}#${u.id})${out.slice(u.end)}`;
  }
  return out;
}
