// lab-test: concurrent — reads the pages' sources only.
/**
 * The glossary: one section per term of src/lib/glossary.ts, and every page's first use of a term
 * links to it (the rule is firstUses(): code blocks, diagrams, headings and links to other pages do not
 * count; an inline code span counts only when it is exactly the term).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { at } from '../../core/paths.ts';
import { firstUses, glossaryTerms, linkFirstUses } from '../../src/lib/glossary.ts';

function pages(): [string, string][] {
  const out: [string, string][] = [];
  const walk = (dir: string) => {
    for (const e of readdirSync(dir, { withFileTypes: true })) {
      const p = join(dir, e.name);
      if (e.isDirectory()) walk(p);
      else if (e.name.endsWith('.mdx')) out.push([relative(at(), p), readFileSync(p, 'utf8')]);
    }
  };
  walk(at('docs'));
  return out.sort();
}

const glossary = readFileSync(at('docs', 'glossary.mdx'), 'utf8');

test('the glossary has a section for every term, and every section is a term', () => {
  const anchors = [...glossary.matchAll(/^### .+ \{#([\w-]+)\}$/gm)].map((m) => m[1]);
  assert.deepEqual([...anchors].sort(), glossaryTerms.map((t) => t.id).sort());
});

test('the primer explains the eBPF words before the story starts', () => {
  const sidebars = readFileSync(at('sidebars.ts'), 'utf8');
  const order = ['primer', 'glossary', 'go-stacks/index'].map((id) => sidebars.indexOf(`'${id}'`));
  assert.ok(
    order.every((i) => i > 0) && order[0] < order[2] && order[1] < order[2],
    'sidebars: primer and glossary before the story',
  );
  const primer = readFileSync(at('docs', 'primer.mdx'), 'utf8');
  for (const id of ['bpf-program', 'bpf-map', 'ring-buffer', 'btf', 'co-re', 'uprobe', 'xol'])
    assert.match(primer, new RegExp(`\\(/docs/glossary/#${id}\\)`), `the primer explains and links ${id}`);
  assert.ok((primer.match(/^```mermaid/gm) ?? []).length >= 2, 'the primer has pictures');
});

test("every page's first use of a glossary term links to the glossary", () => {
  const missing: string[] = [];
  for (const [file, text] of pages()) {
    if (file === 'docs/glossary.mdx') continue;
    for (const u of firstUses(text).filter((x) => !x.linked)) {
      const line = text.slice(0, u.index).split('\n').length;
      missing.push(
        `${file}:${line}: "${text.slice(u.index, u.end)}" → [${text.slice(u.index, u.end)}](/docs/glossary/#${u.id})`,
      );
    }
  }
  assert.deepEqual(missing, [], 'link the first use to the glossary (linkFirstUses() in src/lib/glossary.ts does it)');
});

test('the first-use rule: prose counts, code and other links do not', () => {
  const page = [
    '---',
    'title: uprobe',
    '---',
    "import X from '@site/uprobe';",
    '',
    '# A uprobe heading',
    '',
    '```c',
    'uprobe in code',
    '```',
    '',
    'See [how a uprobe works](/docs/uprobes/) and `bpf_uprobe_thing`, then a uprobe in prose and `uprobe_multi`.',
  ].join('\n');
  const uses = firstUses(page);
  const uprobe = uses.find((u) => u.id === 'uprobe');
  assert.equal(page.slice(uprobe!.index, uprobe!.end), 'uprobe');
  assert.ok(
    page.slice(0, uprobe!.index).endsWith('then a '),
    'the first use in prose, past the heading, code and link',
  );
  const multi = uses.find((u) => u.id === 'uprobe-multi');
  assert.equal(
    page.slice(multi!.index, multi!.end),
    '`uprobe_multi`',
    'a code span that is exactly a term counts, whole',
  );
  const linked = linkFirstUses(page);
  assert.match(
    linked,
    /then a \[uprobe\]\(\/docs\/glossary\/#uprobe\) in prose and \[`uprobe_multi`\]\(\/docs\/glossary\/#uprobe-multi\)/,
  );
  assert.deepEqual(
    firstUses(linked).filter((u) => !u.linked),
    [],
  );
});
