import { basename } from 'node:path';
import { parse, type Command } from '../command.ts';
import { buildServer, goToolchain, inliningReport, type GoToolchain } from '../../core/go.ts';
import { step } from '../../core/ui.ts';
import { Executable } from '../../bpf/ts/executable.ts';

/** What inlining did to one function of package main, as far as a probe is concerned. */
export interface InlinedFunction {
  name: string; // main.addOne
  /** Where the compiler said "can inline", e.g. triggers.go:129. */
  declaredAt?: string;
  status: 'inlined away' | 'partly inlined' | 'kept out of line' | 'cloned' | 'no code';
  symbol?: { address: number; size: number };
  /** Functions holding a copy of its body (DWARF). */
  inlinedInto: string[];
  /** Call sites the compiler reported inlining (-gcflags=-m). */
  callSites: string[];
  /** For a closure whose enclosing function was inlined: the renamed copies made at each inlined site. */
  clones: string[];
}

export interface InliningSummary {
  goVersion: string;
  binary: string;
  /** Every call the compiler inlined in package main's files: site and callee as -m names it. */
  inlinedCalls: { at: string; callee: string }[];
  functions: InlinedFunction[];
}

const canInlineLine = /^\.\/([^:]+:\d+):\d+: can inline (.+)$/;
const inlinedCallLine = /^\.\/([^:]+:\d+):\d+: inlining call to (.+)$/;

/** The compiler's inlining decisions for the server joined with what the built binary really holds. */
export async function inliningSummary(tc: GoToolchain): Promise<InliningSummary> {
  const [report, binary] = await Promise.all([inliningReport(tc), buildServer(tc)]);
  const exe = await Executable.open(binary);
  // `go build` writes the -m diagnostics on stderr; run() captured stdout, so the report may be in either.
  const lines = report.split('\n');
  const declared = new Map<string, string>(); // local short name → file:line
  const calls: { at: string; callee: string }[] = [];
  for (const line of lines) {
    const can = canInlineLine.exec(line);
    if (can) declared.set(can[2], can[1]);
    const call = inlinedCallLine.exec(line);
    if (call) calls.push({ at: call[1], callee: call[2] });
  }
  // -m names package main's own functions without the package: addOne, routes.func1.
  const qualify = (short: string) => (declared.has(short) ? `main.${short}` : short);
  const names = new Set([...declared.keys()].map((n) => `main.${n}`));
  for (const c of calls) if (declared.has(c.callee)) names.add(`main.${c.callee}`);

  const allNames = exe.functions().map((f) => f.name);
  const functions: InlinedFunction[] = [];
  for (const name of [...names].sort()) {
    const short = name.slice('main.'.length);
    const inlinedInto = exe.inlinedInto(name);
    let symbol: InlinedFunction['symbol'];
    try {
      const f = exe.func(name);
      symbol = { address: f.address, size: f.size };
    } catch {
      symbol = undefined; // inlined away or never emitted: the status says which
    }
    // A closure (withArg.func1) inside an inlined function is compiled once per inlined site,
    // renamed after the caller: main.routes.withArg.func11, …
    const closure = /^(.+)\.func\d+$/.exec(short);
    const clones =
      symbol || !closure
        ? []
        : allNames.filter((n) => n.startsWith('main.') && n.includes(`.${closure[1]}.func`)).sort();
    const status: InlinedFunction['status'] = symbol
      ? inlinedInto.length > 0
        ? 'partly inlined'
        : 'kept out of line'
      : inlinedInto.length > 0
        ? 'inlined away'
        : clones.length > 0
          ? 'cloned'
          : 'no code';
    functions.push({
      name,
      declaredAt: declared.get(short),
      status,
      symbol,
      inlinedInto,
      callSites: calls.filter((c) => c.callee === short).map((c) => c.at),
      clones,
    });
  }
  return {
    goVersion: exe.goVersion ?? tc.version,
    binary,
    inlinedCalls: calls.map((c) => ({ at: c.at, callee: qualify(c.callee) })),
    functions,
  };
}

const meaning: Record<InlinedFunction['status'], (f: InlinedFunction) => string> = {
  'inlined away': (f) =>
    `no symbol to probe: its body was copied into ${f.inlinedInto.join(', ')} — probe that, or add //go:noinline`,
  'partly inlined': (f) =>
    `probe-able at 0x${f.symbol!.address.toString(16)}, but calls inside ${f.inlinedInto.join(', ')} run a copy and are not traced`,
  'kept out of line': () => 'probe-able: every call goes through its symbol',
  cloned: (f) =>
    `no symbol of its own: its enclosing function was inlined, so it was compiled again at each site as ${listed(f.clones)} — probe those`,
  'no code': () => 'no symbol and no inlined copy: nothing calls it, so the linker dropped it — nothing to probe',
};

const listed = (names: string[]) =>
  names.length > 3 ? `${names.slice(0, 3).join(', ')} … (${names.length} copies)` : names.join(', ');

function render(s: InliningSummary): string {
  const out: string[] = [];
  out.push(
    `Inlining in ${basename(s.binary)} built by ${s.goVersion} (go build -gcflags=-m, checked against the binary's symbols and DWARF)`,
  );
  out.push('', `The compiler may inline ${s.functions.filter((f) => f.declaredAt).length} functions of package main:`);
  for (const f of s.functions.filter((x) => x.declaredAt)) out.push(`  ${f.name.padEnd(24)} ${f.declaredAt}`);
  out.push('', 'Calls it inlined in package main (call site → callee):');
  const bySite = new Map<string, string[]>();
  for (const c of s.inlinedCalls) bySite.set(c.at, [...new Set([...(bySite.get(c.at) ?? []), c.callee])]);
  for (const [at, callees] of bySite) out.push(`  ${at.padEnd(18)} ${callees.join(', ')}`);
  out.push('', 'What that means for probes:');
  const width = Math.max(...s.functions.map((f) => f.name.length), 10);
  for (const f of s.functions) out.push(`  ${f.name.padEnd(width)}  ${f.status.padEnd(16)}  ${meaning[f.status](f)}`);
  out.push('', 'Functions marked //go:noinline (main.demo, main.classify, …) are never inlined and are not listed.');
  return out.join('\n');
}

export const inliningCommand: Command = {
  name: 'inlining',
  summary:
    "the compiler's inlining decisions for the server and which functions they leave without a probe-able symbol",
  usage: './lab inlining [--go=/path/to/go] [--json]   e.g. ./lab inlining --go=/usr/lib/go-1.19/bin/go',
  async run(argv) {
    const { values } = parse('inlining', argv, { flags: { go: { type: 'program' }, json: { type: 'bool' } } });
    const tc = await goToolchain(values.go);
    const summary = await step(`inlining report (${tc.version})`, () => inliningSummary(tc));
    console.log(values.json ? JSON.stringify(summary, null, 2) : render(summary));
  },
};
