// lab-test: concurrent — reads the pages' sources, the code and the recordings; no browser, no kernel.
/**
 * One story: every statement the pages make about what the code does is held to the code or the
 * recording it describes. Each test derives the fact from the source (or the recording), then reads
 * the pages (docs/**\/*.mdx, code blocks left out) and fails on the sentence that contradicts it.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { at } from '../../core/paths.ts';
import { readMatrix } from '../../engines/crash-matrix.ts';
import { matrixCellLabel, outcomeCounts } from '../../model/crash-matrix.ts';
import { readmeSection, type BenchResults } from '../../bench/report.ts';

const src = (...p: string[]) => readFileSync(at(...p), 'utf8');

/** Every page source under docs/, relative path → text. */
function pages(): Map<string, string> {
  const out = new Map<string, string>();
  const walk = (dir: string) => {
    for (const e of readdirSync(dir, { withFileTypes: true })) {
      const p = join(dir, e.name);
      if (e.isDirectory()) walk(p);
      else if (e.name.endsWith('.mdx') || e.name.endsWith('.md')) out.set(relative(at(), p), readFileSync(p, 'utf8'));
    }
  };
  walk(at('docs'));
  return out;
}

/** A page's prose: front matter, imports/exports and fenced code blocks removed (diagrams stay: they state facts too). */
export function prose(mdx: string, { keepMermaid = true } = {}): string {
  return mdx
    .replace(/^---\n[\s\S]*?\n---\n/, '')
    .replace(/^```(\w*)[^\n]*\n[\s\S]*?^```\s*$/gm, (block, lang) => (keepMermaid && lang === 'mermaid' ? block : ''))
    .replace(/^(import|export) [\s\S]*?(?=\n\n|\n#)/gm, '');
}

/** Paragraphs (blank-line separated; a table row or list item counts as its own). */
const paragraphs = (text: string) =>
  text
    .split(/\n\s*\n/)
    .flatMap((p) => (/^\s*[|-] /m.test(p) ? p.split(/\n(?=\s*[|-] )/) : [p]))
    .map((p) => p.replace(/\s+/g, ' ').trim());

const all = pages();
/** Whitespace (line breaks included) as one space, for sentences that wrap. */
const flat = (s: string) => s.replace(/\s+/g, ' ');
const page = (p: string) => {
  const text = all.get(p);
  assert.ok(text !== undefined, `${p} exists`);
  return text;
};

/** Every paragraph of every page matching `re`, as "file: paragraph". */
const saying = (re: RegExp) =>
  [...all].flatMap(([file, text]) => paragraphs(prose(text)).flatMap((p) => (re.test(p) ? [`${file}: ${p}`] : [])));

// ---- pairing: the key and the depth ---------------------------------------------------------------------------

const maps = src('bpf', 'maps.h');

test('pairing: the pages key frames by what bpf/maps.h keys them by', () => {
  const key = /out->key\s*=\s*out->(\w+)\s*;/.exec(maps)?.[1];
  assert.ok(key, 'bpf/maps.h: lab_goroutine sets out->key');
  assert.match(maps, /struct lab_depth_key \{\s*__u64 goroutine;/, 'lab_depth is keyed by the goroutine');
  const pairing = flat(prose(page('docs/safe-tracing/pairing.mdx')));
  if (key === 'g') {
    assert.match(pairing, /The key is the `g` pointer/, 'pairing.mdx names the g pointer as the key');
    assert.deepEqual(
      saying(/(goid|goroutine id)[^.]*(is preferred over|rather than|instead of)[^.]*`?g`? (address|pointer)/i),
      [],
      'no page says the goid is the key: the code keys frames by the g pointer (out->key = out->g)',
    );
    assert.deepEqual(saying(/keyed by (the )?(goroutine id|goid)/i), [], 'no page says frames are keyed by the goid');
  } else {
    assert.equal(key, 'goid', `unknown key ${key}: teach this test and the pages what it is`);
    assert.match(pairing, /The key is the goroutine id/, 'pairing.mdx names the goid as the key');
  }
});

test('pairing: the depth is the distance from the stack top, not a +1/−1 counter', () => {
  assert.match(maps, /out->depth\s*=\s*hi > sp \? \(__u32\)\(hi - sp\)/, 'bpf/maps.h: depth = g.stack.hi − SP');
  assert.match(flat(prose(page('docs/safe-tracing/pairing.mdx'))), /`g\.stack\.hi − SP`/);
  assert.match(flat(prose(page('docs/safe-tracing/bpf-programs.mdx'))), /`g\.stack\.hi − SP`/);
  assert.deepEqual(saying(/depth\[g\]\s*=\s*\d|depth counter|increments? (a|the) [^.]*depth|\+1\s*\/\s*[−-]1/i), []);
});

// ---- calls a panic unwound ---------------------------------------------------------------------------------------

test('unwound calls: reported as `unwound` events, never "evicted"', () => {
  const events = src('bpf', 'events.h');
  assert.match(events, /LAB_UNWOUND = \d+/, 'events.h has the unwound event');
  assert.match(maps, /lab_report_unwound/, 'maps.h reports unwound frames');
  assert.match(src('bpf', 'ts', 'trace-event.ts'), /kind: [^;]*'unwound'/);
  assert.deepEqual(
    saying(/evict/i).filter((p) => /panic|unwound|RET|Goexit|never (sees|returns)/i.test(p)),
    [],
  );
  for (const p of ['docs/safe-tracing/edge-cases.mdx', 'docs/safe-tracing/pairing.mdx'])
    assert.match(flat(prose(page(p))), /`unwound`/, `${p} names the unwound event`);
});

// ---- the link kind -----------------------------------------------------------------------------------------------

test('links: one uprobe_multi link per program, perf-event links only as the fallback', () => {
  const probes = src('bpf', 'ts', 'probes.ts');
  assert.match(
    probes,
    /if \(s\.uprobeMulti\)\s*probe\.links\.push\(\s*s\.native\.attachUprobeMulti\(/,
    'one multi link per program',
  );
  assert.match(
    src('bpf', 'ts', 'session.ts'),
    /this\.uprobeMulti = this\.native\.uprobeMulti && process\.env\.LAB_UPROBE_LINKS !== 'perf'/,
  );
  for (const p of ['docs/intro.mdx', 'docs/troubleshooting.mdx'])
    assert.match(flat(prose(page(p))), /`uprobe_multi`/, `${p} names the link kind the lab attaches`);
  // Wherever a page explains perf_event_open attaching, it says it is the fallback beside uprobe_multi.
  assert.deepEqual(
    saying(/perf_event_open/).filter((p) => !/uprobe_multi/.test(p)),
    [],
    'a paragraph about perf_event_open that does not say the lab attaches uprobe_multi links',
  );
});

// ---- event fields and kinds --------------------------------------------------------------------------------------

test("the event fields and kinds the pages use are TraceEvent's", () => {
  const traceEvent = src('bpf', 'ts', 'trace-event.ts');
  const body = /export type TraceEvent = \{([\s\S]*?)\n\};/.exec(traceEvent)?.[1] ?? '';
  const fields = new Set([...body.matchAll(/^\s{2}(\w+)\??:/gm)].map((m) => m[1]));
  const kinds = new Set([...(/kind: ([^;]*);/.exec(body)?.[1].matchAll(/'(\w+)'/g) ?? [])].map((m) => m[1]));
  assert.ok(fields.has('latency_ns') && kinds.has('call'), 'read TraceEvent');
  const used: string[] = [];
  for (const [file, text] of all) {
    // `e.field` in the pages' TypeScript examples
    for (const block of text.match(/^```ts[^\n]*\n[\s\S]*?^```/gm) ?? [])
      for (const m of block.matchAll(/\be\.(\w+)/g)) if (!fields.has(m[1])) used.push(`${file}: e.${m[1]}`);
    // "`unwound` events", "a `call` event"
    for (const m of prose(text).matchAll(/`(\w+)` events?\b/g))
      if (!kinds.has(m[1]) && !fields.has(m[1])) used.push(`${file}: \`${m[1]}\` event`);
  }
  assert.deepEqual(
    used,
    [],
    `not in bpf/ts/trace-event.ts (fields: ${[...fields].join(', ')}; kinds: ${[...kinds].join(', ')})`,
  );
});

// ---- probe sites -------------------------------------------------------------------------------------------------

test('probe sites: the entry past the stack check, every RET, tail jumps too', () => {
  const prologue = src('bpf', 'ts', 'prologue.ts');
  assert.match(
    prologue,
    /instr\.memoryBase === Register\.R14/,
    'the prologue check is found by its compare with [r14+16]',
  );
  assert.match(flat(prose(page('docs/safe-tracing/pairing.mdx'))), /after the stack check's conditional branch/);
  const retsites = src('bpf', 'ts', 'retsites.ts');
  assert.match(retsites, /tailJumps/, 'the decoder finds tail jumps');
  assert.deepEqual(
    saying(/does not turn calls into jumps|every call returns through a `RET` of the called function/i),
    [],
    'ret mode probes tail jumps too (bpf/ts/retsites.ts)',
  );
});

// ---- the crash matrix: labels and explanations ------------------------------------------------------------------

const matrix = readMatrix(at('docs', 'data', 'crash-matrix.json'));

test('matrix: no page calls a cell that crashed in a run a survivor', () => {
  for (const c of matrix.cells) {
    const { counts } = outcomeCounts(c);
    if (!counts.crash) continue;
    const label = matrixCellLabel(c);
    assert.match(label, /^✗ crash/, `${c.go} ${c.trigger} × ${c.probe}`);
  }
  // Prose that says a uretprobe on a trigger that crashed somewhere "always survives" would contradict the counts.
  const hop = matrix.cells.filter((c) => c.trigger === 'thread-hop' && c.probe === 'uretprobe');
  if (hop.some((c) => outcomeCounts(c).counts.crash))
    assert.deepEqual(saying(/`\/hop`[^.]*survives on (every|all)/i), []);
});

test("matrix: the site's matrix, its differences and the README take their labels from the one function", () => {
  for (const file of ['index.tsx', 'Differences.tsx'])
    assert.match(
      src('src', 'components', 'CrashMatrix', file),
      /matrixCellLabel\(/,
      `src/components/CrashMatrix/${file} labels cells with matrixCellLabel (src/lib/matrix-labels.ts)`,
    );
  assert.match(src('engines', 'crash-matrix.ts'), /matrixCellLabel\(c\)/, 'the README and text tables too');
});

test('crash explanations: the go1.26 /gc segfault is explained once, as the nil gp.m dereference', () => {
  const gc = matrix.cells.find((c) => c.go.startsWith('go1.26') && c.trigger === 'gc' && c.probe === 'uretprobe');
  assert.ok(gc, 'the recording has go1.26 gc × uretprobe');
  const explanations = src('src', 'components', 'CrashMatrix', 'explanations.tsx');
  if (gc.crashKind === 'signal') {
    assert.match(gc.signature ?? '', /unwinder\)\.next/, 'the recorded segfault is in the unwinder');
    assert.match(
      explanations,
      /'gc × uretprobe'[\s\S]*golang\/go\/issues\/73259/,
      'the explanation cites golang/go#73259',
    );
  }
  const signatures = page('docs/crash/signatures.mdx');
  assert.match(signatures, /explanations\['gc × uretprobe'\]/, 'signatures.mdx shows the one explanation');
  assert.deepEqual(saying(/bogus frame/i), [], 'no second explanation of the segfault');
});

test("crash signatures: the SIGILL section counts every Go version's /hop runs from the recording", () => {
  const signatures = page('docs/crash/signatures.mdx');
  // The excerpt lists the cells recorded as SIGILL; the counts of every Go version come from the recording too,
  // so a cell that crashed in some runs but whose recorded run survived is named, never silently left out.
  assert.match(signatures, /<RunCounts trigger="thread-hop" probe="uretprobe" \/>/);
  assert.match(signatures, /<MatrixExcerpt crashKind="sigill" \/>/);
  assert.match(signatures, /matrixCellLabel\(c\)/);
  assert.deepEqual(saying(/Go 1\.19 is missing/), [], "no sentence true of one recording's cells only");
});

test('crash prose: which triggers give which signature on which Go, as recorded', () => {
  const kind = (go: string, trigger: string) =>
    matrix.cells.find((c) => c.go.startsWith(go) && c.trigger === trigger && c.probe === 'uretprobe')?.crashKind;
  // signatures.mdx: "/?arg=2000, /gc and /panic produce this signature under a uretprobe — except /gc on Go 1.26"
  const sig = flat(prose(page('docs/crash/signatures.mdx')));
  assert.match(sig, /except `\/gc` on Go 1\.26/, 'the claim this test holds (change both together)');
  for (const go of matrix.toolchains)
    for (const t of ['stack-growth', 'gc', 'panic-through'])
      if (!(t === 'gc' && go.startsWith('go1.26')))
        assert.equal(kind(go, t), 'unexpected-return-pc', `${go} ${t} × uretprobe`);
  assert.equal(kind('go1.26', 'gc'), 'signal', 'go1.26 gc × uretprobe dies of a signal');
  // edge-cases.mdx: "A panic recovered inside it crashed only on Go 1.19"
  const edge = flat(prose(page('docs/safe-tracing/edge-cases.mdx')));
  assert.match(
    edge,
    /\*recovered inside\* it crashed only on Go 1\.19/,
    'the claim this test holds (change both together)',
  );
  {
    const crashed = matrix.cells
      .filter((c) => c.trigger === 'recover-inside' && c.probe === 'uretprobe' && outcomeCounts(c).counts.crash)
      .map((c) => c.go.replace(/\.\d+$/, ''));
    assert.deepEqual(crashed, ['go1.19'], 'recover-inside × uretprobe crashed on');
  }
});

// ---- overhead: one recording, one method -------------------------------------------------------------------------

const bench = JSON.parse(src('bench', 'results.json')) as BenchResults;

/** Table cells compared without a formatter's padding. */
const normalize = (md: string) =>
  md
    .split('\n')
    .map((l) =>
      l.startsWith('|')
        ? l
            .split('|')
            .map((c) => c.trim().replace(/^-+$/, '---'))
            .join('|')
        : l.trim(),
    )
    .join('\n')
    .trim();

test("overhead: the README's per-call rows are bench/results.json's, as the report renders them", () => {
  const readme = src('README.md');
  const start = readme.search(/^## Benchmarks\s*$/m);
  assert.ok(start >= 0, 'README has a Benchmarks section');
  const perCall = (md: string) =>
    normalize(md)
      .split('\n')
      .filter((l) => l.startsWith('|') && /per call|per-hit/.test(l));
  const rows = perCall(readmeSection(bench));
  assert.ok(rows.length >= 3, 'the report renders per-call rows');
  assert.deepEqual(
    perCall(readme.slice(start)),
    rows,
    'README per-call rows ≠ bench/results.json: ./lab bench --readme',
  );
});

test('overhead: the page draws from the recording and says what the numbers are', async () => {
  const overhead = page('docs/safe-tracing/overhead.mdx');
  assert.match(overhead, /<Overhead part="chart" \/>/);
  assert.match(overhead, /perCallMethod\(bench\)/, 'the method sentence comes from the recording');
  assert.doesNotMatch(flat(prose(overhead)), /same few microseconds/);
  // The chart's whiskers are the spread of the lab's runs, read from the recording's rows.
  const { probeKinds } = await import('../../src/components/Overhead/model.ts');
  const kinds = probeKinds(bench);
  assert.ok(kinds, 'bench/results.json has the per-call table');
  for (const k of kinds) {
    const row = bench.probe_cost.find((r) => r.config === (k.id === 'none' ? 'none' : `ours ${k.id}`));
    if (typeof row?.min_ns_per_call === 'number') {
      assert.equal(k.low, row.min_ns_per_call, `${k.id}: whisker from the fastest run`);
      assert.equal(k.high, row.max_ns_per_call, `${k.id}: whisker to the slowest run`);
    }
  }
  assert.doesNotMatch(src('src', 'components', 'Overhead', 'index.tsx'), /spread between tracers/);
  // "a RET-site call … costs about twice an entry uprobe": held to the recording.
  const ns = (config: string) => bench.probe_cost.find((r) => r.config === config)?.ns_per_call;
  const [ret, up] = [ns('ours ret'), ns('ours uprobe')];
  if (/about twice an entry uprobe/.test(flat(prose(overhead))) && typeof ret === 'number' && typeof up === 'number')
    assert.ok(ret / up > 1.5 && ret / up < 2.5, `ret ${ret} ns vs uprobe ${up} ns is not about twice`);
});

// ---- the preflight ----------------------------------------------------------------------------------------------

test('troubleshooting: a section for every check ./lab doctor makes, and the kernel it asks for', () => {
  const preflight = src('engines', 'preflight.ts');
  const names = [...preflight.matchAll(/^\s+name: '([^']+)',$/gm)].map((m) => m[1]);
  assert.ok(names.length >= 6, `read the checks of engines/preflight.ts: ${names.join(', ')}`);
  const headings = [...page('docs/troubleshooting.mdx').matchAll(/^## (.+)$/gm)].map((m) => m[1].toLowerCase());
  const stem = (w: string) => w.toLowerCase().replace(/s$/, '');
  const missing = names.filter((n) => !headings.some((h) => n.split(' ').every((w) => h.includes(stem(w)))));
  assert.deepEqual(missing, [], 'docs/troubleshooting.mdx has no section for these preflight checks');
  const kernel = /use Linux (\d+\.\d+) or newer/.exec(preflight)?.[1];
  assert.ok(kernel, 'the preflight names its minimum kernel');
  assert.match(flat(prose(page('docs/intro.mdx'))), new RegExp(`Linux ≥ ${kernel.replace('.', '\\.')}`));
  assert.match(flat(prose(page('docs/troubleshooting.mdx'))), new RegExp(`at least ${kernel.replace('.', '\\.')}`));
});

// ---- the server's endpoints ---------------------------------------------------------------------------------------

test("every endpoint a page names is one of the server's routes", () => {
  // The README's endpoint tables are generated from the server's own route table (server -list).
  const readme = src('README.md');
  const block = /<!-- endpoints:start -->([\s\S]*?)<!-- endpoints:end -->/.exec(readme)?.[1] ?? '';
  const routes = new Set([...block.matchAll(/^\| `(\/[^`?]*)/gm)].map((m) => m[1]));
  assert.ok(routes.has('/') && routes.has('/gc'), `read the routes: ${[...routes].join(' ')}`);
  const system = /^\/(proc|sys|usr|var|tmp|dev|etc|home|lib|opt|run|docs|notebooks|jupyter|live)\b/;
  const unknown: string[] = [];
  for (const [file, text] of all)
    for (const m of prose(text).matchAll(/`(\/[\w/]*)(\?[^` ]*)?`/g))
      if (!system.test(m[1]) && !routes.has(m[1])) unknown.push(`${file}: ${m[0]}`);
  assert.deepEqual(unknown, [], 'not a route of server/ (README endpoints block, from server -list)');
  // "each growStack frame holds a 256-byte buffer" (pairing.mdx)
  if (/256-byte buffer/.test(page('docs/safe-tracing/pairing.mdx')))
    assert.match(src('server', 'triggers.go'), /func growStack[\s\S]*?var pad \[32\]int64/);
});

// ---- floats: what no tracer can read --------------------------------------------------------------------------------

test('floats: the page, the recording and the tracer agree that a float register cannot be read', () => {
  const rec = JSON.parse(src('docs', 'data', 'float-recording.json')) as {
    runs: { kind: string; events: { kind: string; params: { type: string; unavailable?: string }[] }[] }[];
  };
  const values = src('bpf', 'ts', 'values.ts');
  const reason = /FLOAT_UNAVAILABLE =\s*'([^']+)'/.exec(values)?.[1];
  assert.ok(reason, 'bpf/ts/values.ts says why a float register is unavailable');
  const floats = rec.runs.flatMap((r) => r.events.flatMap((e) => e.params)).filter((p) => p.type === 'float64');
  assert.ok(floats.length >= 2, 'the recording has main.scale’s float64 parameter');
  for (const p of floats)
    assert.equal(p.unavailable, reason, 'recorded with another tracer: node --import tsx docs/data/record-float.ts');
  // pt_regs, as the running kernel's BTF has it (bpf/vmlinux.h, made by ./lab build): integer registers only.
  const header = src('bpf', 'vmlinux.h');
  const ptRegs = /^struct pt_regs \{([\s\S]*?)^\};/m.exec(header)?.[1];
  assert.ok(ptRegs, 'bpf/vmlinux.h has struct pt_regs');
  assert.doesNotMatch(ptRegs, /xmm|fpu|fpstate|\bst\d/i, 'pt_regs holds no floating-point register');
  const page = flat(prose(all.get('docs/safe-tracing/floats.mdx') ?? ''));
  for (const field of ['ax', 'bx', 'cx', 'r15', 'ip', 'sp', 'flags'])
    assert.match(ptRegs, new RegExp(`\\b${field};`), `pt_regs has ${field}, as the page says`);
  assert.match(page, /`pt_regs` has `ax`, `bx`, `cx`, …, `r15`, `ip`, `sp`, `flags`/);
  assert.match(page, /<Recorded kind="ret" \/>/, 'the page shows the recording');
});

// ---- the notebooks, which the site renders too ------------------------------------------------------------------

const notebook = (name: string) =>
  (JSON.parse(src('notebooks', name)) as { cells: { cell_type: string; source: string | string[] }[] }).cells.map(
    (c) => ({ type: c.cell_type, text: Array.isArray(c.source) ? c.source.join('') : c.source }),
  );

test('notebooks: the link kind, the matrix labels and the overhead recording agree with the pages', () => {
  const names = readdirSync(at('notebooks')).filter((f) => f.endsWith('.ipynb'));
  const perf = names.flatMap((n) =>
    notebook(n)
      .filter((c) => c.type === 'markdown')
      .flatMap((c) => paragraphs(c.text))
      .filter((p) => /perf_event_open/.test(p) && !/uprobe_multi/.test(p))
      .map((p) => `${n}: ${p}`),
  );
  assert.deepEqual(
    perf,
    [],
    'a notebook explains perf_event_open attaching without the uprobe_multi links the lab uses',
  );
  const nb07 = notebook('07-crash-matrix.ipynb');
  const matrixCell = nb07.find((c) => c.type === 'code' && c.text.includes('crash-matrix.json'));
  assert.ok(matrixCell, 'notebook 07 shows the recorded matrix');
  assert.match(
    matrixCell.text,
    /matrixCellLabel\(/,
    "notebook 07 labels the matrix's cells with the one label function",
  );
  const live = nb07.findIndex((c) => c.type === 'code' && c.text.includes('probeOverhead('));
  const recorded = nb07.findIndex((c) => c.type === 'code' && c.text.includes('bench/results.json'));
  assert.ok(
    recorded >= 0 && recorded < live,
    'notebook 07 shows the recorded overhead (bench/results.json) before its live run',
  );
  assert.match(nb07[live].text, /live/, 'the live run says it is live');
});

test("every lab_* map, helper or field a page names is in bpf/'s sources", () => {
  const bpf = ['maps.h', 'events.h', 'entry.bpf.c', 'ret.bpf.c', 'exit.bpf.c'].map((f) => src('bpf', f)).join('\n');
  const missing: string[] = [];
  for (const [file, text] of all)
    for (const m of prose(text).matchAll(/`(lab_\w+|entry_reads|ret_reads)`/g))
      if (!new RegExp(`\\b${m[1]}\\b`).test(bpf)) missing.push(`${file}: ${m[1]}`);
  assert.deepEqual(missing, [], 'named on a page, gone from bpf/*.h and bpf/*.bpf.c');
});

test('every exe.method(…) a page calls is a method of the tracer API', () => {
  const api = src('bpf', 'ts', 'index.ts') + src('bpf', 'ts', 'executable.ts');
  const missing: string[] = [];
  for (const [file, text] of all)
    for (const m of text.matchAll(/\bexe\.(\w+)\(/g))
      if (!new RegExp(`^\\s+(async )?${m[1]}\\(`, 'm').test(api)) missing.push(`${file}: exe.${m[1]}`);
  assert.deepEqual(missing, [], 'not a method of TracedExecutable or Executable (bpf/ts)');
});
