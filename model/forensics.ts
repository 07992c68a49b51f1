/**
 * Crash forensics: read a Go runtime crash (the text a dying Go program writes
 * to stderr) and the process's /proc/PID/maps taken while it was alive, and
 * explain what the uretprobe did: which stack slot held the hijacked return
 * address, and which kernel mapping that address belongs to.
 *
 * Two runtime formats exist: Go ≤ 1.20 prints hex-dump words as `0x…` columns
 * with `!`, `<` and `>` marks; newer Go prints 32-bit halves with a caret line
 * underneath (`^ SP`, `^ FP`, `^ <func+off>`). Both are parsed.
 */

export type CrashKind = 'unexpected-return-pc' | 'sigill' | 'signal' | 'other-fatal';

export interface StackWord {
  address: bigint;
  value: bigint;
  /** What the runtime marked this word as: 'SP', 'FP', 'bad' or a `<func+off>` annotation. */
  marks: string[];
}

export interface Frame {
  func: string;
  file?: string;
  line?: number;
  pc?: string;
  sp?: string;
  fp?: string;
  /** This frame's return address was the hijacked one. */
  hijacked: boolean;
  /** The two lines the runtime printed for it. */
  raw: string;
}

export interface Vma {
  start: string;
  end: string;
  perms: string;
  name: string;
  line: string;
}

export interface CrashForensics {
  kind: CrashKind;
  /** The runtime's own line, e.g. "runtime: g 5: unexpected return pc for main.demo called from 0x7fffffffe000". */
  signature: string;
  /** e.g. "fatal error: unknown caller pc" or "SIGILL: illegal instruction". */
  fatal?: string;
  /** The function whose return address was replaced. */
  victim?: string;
  /** The bogus return address the runtime found (the uretprobe trampoline). */
  hijackedPc?: string;
  goroutine?: number;
  /** What the runtime was doing when it walked the stack (copystack, GC scan, panic, traceback). */
  during?: string;
  frame?: { sp: string; fp: string };
  stackBounds?: { lo: string; hi: string };
  /** The stack slot that held the hijacked return address. */
  slot?: { address: string; value: string };
  /** The mapping the hijacked address falls into, from /proc/PID/maps: the kernel's [uprobes] page. */
  uprobesVma?: Vma;
  /** The crashed goroutine's frames, innermost first, as far as the unwinder got. */
  frames: Frame[];
  words: StackWord[];
}

const hex = (n: bigint) => `0x${n.toString(16)}`;

export function parseMaps(maps: string): Vma[] {
  return maps.split('\n').flatMap((line) => {
    const m = /^([0-9a-f]+)-([0-9a-f]+)\s+(\S+)\s+\S+\s+\S+\s+\S+\s*(.*)$/.exec(line.trim());
    return m ? [{ start: `0x${m[1]}`, end: `0x${m[2]}`, perms: m[3], name: m[4] ?? '', line: line.trim() }] : [];
  });
}

export function vmaFor(address: string | bigint, vmas: Vma[]): Vma | undefined {
  const a = BigInt(address);
  return vmas.find((v) => BigInt(v.start) <= a && a < BigInt(v.end));
}

/** Parses the first hex dump after `from` in either runtime format. */
function parseHexDump(lines: string[], from: number): StackWord[] {
  const words: StackWord[] = [];
  let lineWords: StackWord[] = [];
  for (let i = from; i < lines.length; i++) {
    const line = lines[i];
    const old = /^0x([0-9a-f]{16}):\s(.*)$/.exec(line);
    if (old) {
      let addr = BigInt(`0x${old[1]}`);
      for (const m of old[2].matchAll(/([!<> ])0x([0-9a-f]{16})(?: <([^>]+)>)?/g)) {
        const marks = [];
        if (m[1] === '!') marks.push('bad');
        if (m[1] === '<') marks.push('SP');
        if (m[1] === '>') marks.push('FP');
        if (m[3]) marks.push(`<${m[3]}>`);
        words.push({ address: addr, value: BigInt(`0x${m[2]}`), marks });
        addr += 8n;
      }
      continue;
    }
    // Columns: the line's first word at 18, its second at 37; the first line of a dump may start
    // with the second word (blank first column), the last may hold only the first.
    const cur = /^([0-9a-f]{16}): /.exec(line);
    if (cur) {
      const addr = BigInt(`0x${cur[1]}`);
      lineWords = [];
      for (const [column, offset] of [
        [18, 0n],
        [37, 8n],
      ] as const) {
        const word = /^([0-9a-f]{8}) ([0-9a-f]{8})$/.exec(line.slice(column, column + 17));
        if (word) lineWords.push({ address: addr + offset, value: BigInt(`0x${word[1]}${word[2]}`), marks: [] });
      }
      if (lineWords.length) {
        words.push(...lineWords);
        continue;
      }
    }
    const caret = /^(\s*)\^ (.+)$/.exec(line);
    if (caret && lineWords.length) {
      // Column 18 is the first word of the line above, column 37 the second.
      lineWords[caret[1].length >= 37 ? 1 : 0]?.marks.push(caret[2].trim());
      continue;
    }
    if (/^\s+7 6 5 4/.test(line)) continue;
    if (words.length) break;
  }
  return words;
}

/** Marks the frame whose return address was hijacked (older runtimes do not print that frame at all). */
function markVictim(frames: Frame[], victim: string, fp?: string): Frame[] {
  const hit = frames.find((f) => f.func === victim && (!fp || f.fp === fp));
  if (hit) hit.hijacked = true;
  return frames;
}

function parseFrames(lines: string[], from: number): Frame[] {
  const frames: Frame[] = [];
  for (let i = from; i + 1 < lines.length; i++) {
    const fn = /^(\S.*)\((.*)\)$/.exec(lines[i]);
    const loc = /^\t(\S+):(\d+)(?: \+0x[0-9a-f]+)?(?: fp=(0x[0-9a-f]+) sp=(0x[0-9a-f]+) pc=(0x[0-9a-f]+))?/.exec(
      lines[i + 1],
    );
    if (fn && loc) {
      frames.push({
        func: fn[1],
        file: loc[1],
        line: Number(loc[2]),
        fp: loc[3],
        sp: loc[4],
        pc: loc[5],
        hijacked: false,
        raw: `${lines[i]}\n${lines[i + 1]}`,
      });
      i++;
      continue;
    }
    if (/^runtime: /.test(lines[i]) || lines[i] === '' || /^created by /.test(lines[i])) break;
  }
  return frames;
}

/** Which runtime path walked the stack, read from the runtime stack section. */
function duringFrom(text: string): string | undefined {
  const runtimeStack = text.split(/\nruntime stack:\n/)[1]?.split('\n\n')[0] ?? '';
  if (/runtime\.copystack/.test(runtimeStack)) return 'copystack (goroutine stack growth)';
  if (/runtime\.(scanstack|markroot|gcDrain|shrinkstack)/.test(runtimeStack)) return 'GC stack scan';
  if (/runtime\.(gopanic|addOneOpenDeferFrame|recovery)/.test(text.slice(0, 4000))) return 'panic unwinding';
  if (/runtime\.(callers|Callers|tracebackothers|traceback)/.test(runtimeStack)) return 'runtime traceback';
  return undefined;
}

/**
 * Reads a Go crash. Returns undefined when the text holds no fatal runtime
 * error at all (the process did not crash, or crashed some other way).
 */
export function parseCrash(stderr: string, maps = ''): CrashForensics | undefined {
  const lines = stderr.split('\n');
  const vmas = parseMaps(maps);
  const sigIndex = lines.findIndex((l) => /unexpected return pc for \S+ called from 0x[0-9a-f]+/.test(l));
  if (sigIndex >= 0) {
    const sig = lines[sigIndex];
    const m = /(?:g (\d+): )?unexpected return pc for (\S+) called from (0x[0-9a-f]+)/.exec(sig)!;
    const frameLine = /frame=\{sp:(0x[0-9a-f]+), fp:(0x[0-9a-f]+)\} stack=\[(0x[0-9a-f]+),(0x[0-9a-f]+)\)/.exec(
      lines[sigIndex + 1] ?? '',
    );
    const words = parseHexDump(lines, sigIndex + 2);
    const hijacked = BigInt(m[3]);
    const fp = frameLine ? BigInt(frameLine[2]) : undefined;
    // The return address sits just below the caller's frame pointer; prefer that slot, else any slot holding the address.
    const slotWord =
      words.find((w) => w.value === hijacked && fp !== undefined && w.address === fp - 8n) ??
      words.find((w) => w.value === hijacked);
    const gHeader = lines.findIndex((l) => new RegExp(`^goroutine ${m[1] ?? '\\d+'}\\b.*:$`).test(l));
    return {
      kind: 'unexpected-return-pc',
      signature: sig.trim(),
      fatal: lines.find((l) => l.startsWith('fatal error:')),
      victim: m[2],
      hijackedPc: m[3],
      goroutine: m[1] ? Number(m[1]) : gHeader >= 0 ? Number(/^goroutine (\d+)/.exec(lines[gHeader])![1]) : undefined,
      during: duringFrom(stderr),
      frame: frameLine ? { sp: frameLine[1], fp: frameLine[2] } : undefined,
      stackBounds: frameLine ? { lo: frameLine[3], hi: frameLine[4] } : undefined,
      slot: slotWord ? { address: hex(slotWord.address), value: hex(slotWord.value) } : undefined,
      uprobesVma: vmaFor(hijacked, vmas),
      frames: markVictim(gHeader >= 0 ? parseFrames(lines, gHeader + 1) : [], m[2], frameLine?.[2]),
      words,
    };
  }
  const sig = lines.findIndex((l) => /^SIG[A-Z]+: /.test(l));
  if (sig >= 0) {
    const pc = /^PC=(0x[0-9a-f]+)/m.exec(stderr)?.[1];
    const gHeader = lines.findIndex((l, i) => i > sig && /^goroutine \d+.*:$/.test(l));
    const frames = gHeader >= 0 ? parseFrames(lines, gHeader + 1) : [];
    const where = frames[0] ? ` in ${frames[0].func}` : '';
    return {
      kind: lines[sig].startsWith('SIGILL') ? 'sigill' : 'signal',
      signature: `${lines[sig].trim()}${pc ? ` at PC=${pc}` : ''}${where}`,
      fatal: lines[sig].trim(),
      hijackedPc: lines[sig].startsWith('SIGILL') ? pc : undefined,
      goroutine: gHeader >= 0 ? Number(/^goroutine (\d+)/.exec(lines[gHeader])![1]) : undefined,
      during: frames.some((f) => /runtime\.(scanstack|markroot|gcDrain)/.test(f.func))
        ? 'GC stack scan'
        : duringFrom(stderr),
      uprobesVma: pc ? vmaFor(pc, vmas) : undefined,
      frames,
      words: [],
    };
  }
  const fatal = lines.find((l) => /^(fatal error: |panic: |SIG[A-Z]+: )/.test(l));
  if (!fatal) return undefined;
  return { kind: 'other-fatal', signature: fatal, fatal, frames: [], words: [] };
}

/** A short one-line signature for tables: the runtime throw or the kernel signal. */
export function crashSignature(f: CrashForensics): string {
  if (f.kind === 'unexpected-return-pc') return `unexpected return pc for ${f.victim} called from ${f.hijackedPc}`;
  return f.signature;
}

/** The annotated stack as plain text, for the CLI. */
export function renderForensicsText(f: CrashForensics): string {
  const out: string[] = [];
  out.push(`crash: ${f.signature}`);
  if (f.fatal && f.fatal !== f.signature) out.push(`       ${f.fatal}`);
  if (f.during) out.push(`while: ${f.during}`);
  if (f.slot)
    out.push(`hijacked return slot: ${f.slot.address} holds ${f.slot.value} (return address of ${f.victim ?? '?'})`);
  if (f.hijackedPc) {
    out.push(
      f.uprobesVma
        ? `${f.hijackedPc} is in ${f.uprobesVma.name || 'an anonymous mapping'} ${f.uprobesVma.start}-${f.uprobesVma.end} ${f.uprobesVma.perms}: the kernel's uretprobe trampoline, not Go code`
        : `${f.hijackedPc} is in no mapping from /proc/PID/maps${f.kind === 'unexpected-return-pc' ? ' (maps not captured?)' : ''}`,
    );
  }
  if (f.frames.length) {
    out.push('goroutine frames the unwinder walked (innermost first):');
    const shown = f.frames.length > 8 ? [...f.frames.slice(0, 3), undefined, ...f.frames.slice(-3)] : f.frames;
    for (const fr of shown) {
      out.push(
        fr
          ? `  ${fr.func.padEnd(28)} sp=${fr.sp ?? '?'} fp=${fr.fp ?? '?'}`
          : `  … ${f.frames.length - 6} more frames …`,
      );
    }
    if (f.victim) out.push(`  ${'↑ ' + f.victim + ' returns to'} ${f.hijackedPc}: the unwinder stops here`);
  }
  if (f.words.length && f.slot) {
    out.push('stack words around the slot:');
    const i = f.words.findIndex((w) => hex(w.address) === f.slot!.address);
    for (const w of f.words.slice(Math.max(0, i - 3), i + 3)) {
      const mark = hex(w.address) === f.slot.address ? '  ← hijacked return address' : '';
      out.push(`  ${hex(w.address)}: ${hex(w.value).padEnd(18)} ${w.marks.join(' ')}${mark}`);
    }
  }
  return out.join('\n');
}

const esc = (s: string) => s.replace(/[&<>"]/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;' })[c]!);

/** The annotated stack as HTML, for notebooks and the site. */
export function renderForensicsHtml(f: CrashForensics): string {
  const rows = f.frames
    .slice(-6)
    .map(
      (fr) =>
        `<tr><td><code>${esc(fr.func)}</code></td><td><code>${fr.sp ?? ''}</code></td><td><code>${fr.fp ?? ''}</code></td></tr>`,
    )
    .join('');
  const slotIndex = f.slot ? f.words.findIndex((w) => hex(w.address) === f.slot!.address) : -1;
  const words = f.words
    .slice(Math.max(0, slotIndex - 4), slotIndex + 3)
    .map((w) => {
      const isSlot = f.slot && hex(w.address) === f.slot.address;
      return `<tr${isSlot ? ' style="background:#fdd;font-weight:bold"' : ''}><td><code>${hex(w.address)}</code></td><td><code>${hex(w.value)}</code></td><td>${esc(w.marks.join(' '))}${isSlot ? ' ← hijacked return address' : ''}</td></tr>`;
    })
    .join('');
  return `<div class="lab-forensics">
<p><b>${f.kind === 'sigill' ? 'Kernel SIGILL' : f.kind === 'signal' ? 'Signal' : 'Go runtime throw'}:</b> <code>${esc(f.signature)}</code>${f.during ? ` — while ${esc(f.during)}` : ''}</p>
${f.slot ? `<p>Stack slot <code>${f.slot.address}</code> held <code>${f.slot.value}</code> where the return address of <code>${esc(f.victim ?? '?')}</code> belonged.</p>` : ''}
${f.uprobesVma ? `<p><code>${f.hijackedPc}</code> lies in <code>${esc(f.uprobesVma.name || 'anonymous')}</code> <code>${f.uprobesVma.start}-${f.uprobesVma.end} ${f.uprobesVma.perms}</code> — the kernel's uretprobe trampoline page, which Go's unwinder cannot know.</p>` : ''}
${rows ? `<table><thead><tr><th>frame (innermost last shown)</th><th>sp</th><th>fp</th></tr></thead><tbody>${rows}<tr><td colspan="3">↑ returns to <code>${f.hijackedPc ?? '?'}</code>: the unwinder stops</td></tr></tbody></table>` : ''}
${words ? `<table><thead><tr><th>address</th><th>word</th><th>runtime's mark</th></tr></thead><tbody>${words}</tbody></table>` : ''}
</div>`;
}

// ---------------------------------------------------------------- how a traced process died

/** Where Linux maps the uretprobe trampoline page ([uprobes]) on x86-64, when /proc/PID/maps was not captured. */
export const UPROBES_PAGE = 0x7fffffffe000n;

/** What a process's death left behind: its status, its stderr (when captured), and what the tracer's witnesses saw. */
export interface DeathEvidence {
  code?: number | null;
  /** A signal number or name (SIGKILL), when a signal ended it. */
  signal?: number | string | null;
  stderr?: string;
  maps?: string;
  /** Messages the Go runtime threw (runtime.throw), in order, as a witness probe saw them. */
  throws?: string[];
  /** Fatal signals the runtime's handler received, with the PC they hit. */
  signals?: { signal: number; pc?: string; inUprobes?: boolean }[];
}

export type DeathKind =
  | 'uretprobe-return-pc' // the runtime's unwinder met the trampoline's return address
  | 'trampoline-signal' // SIGILL/SIGSEGV whose PC is in the [uprobes] page
  | 'runtime-throw' // another fatal runtime error
  | 'fatal-signal' // a fatal signal elsewhere
  | 'killed' // a signal from outside (SIGKILL, SIGTERM, …)
  | 'exit-status' // the program exited non-zero on its own
  | 'exit-0';

export interface Death {
  kind: DeathKind;
  /** The probe caused it. */
  probeCrash: boolean;
  /** One line: what happened and whose fault it is. */
  summary: string;
  forensics?: CrashForensics;
}

const SIGNALS: Record<number, string> = {
  1: 'SIGHUP',
  2: 'SIGINT',
  4: 'SIGILL',
  5: 'SIGTRAP',
  6: 'SIGABRT',
  7: 'SIGBUS',
  9: 'SIGKILL',
  11: 'SIGSEGV',
  13: 'SIGPIPE',
  15: 'SIGTERM',
};
const signalName = (s: number | string) => (typeof s === 'number' ? (SIGNALS[s] ?? `signal ${s}`) : s);

function inUprobesPage(pc: string | undefined, maps: string | undefined, vma?: Vma): boolean {
  if (!pc) return false;
  if (vma) return vma.name === '[uprobes]';
  if (maps) return vmaFor(pc, parseMaps(maps))?.name === '[uprobes]';
  const a = BigInt(pc);
  return a >= UPROBES_PAGE && a < UPROBES_PAGE + 0x1000n;
}

/**
 * Classifies a death from what happened, not from the fact that it happened under a probe: the
 * runtime's "unexpected return pc … 0x7fffffffe000" throw, a SIGILL/SIGSEGV whose PC is in the
 * [uprobes] page, or an ordinary exit status with no runtime throw at all.
 */
export function classifyDeath(ev: DeathEvidence): Death {
  const status = ev.code ?? 0;
  const f = ev.stderr ? parseCrash(ev.stderr, ev.maps ?? '') : undefined;
  if (f?.kind === 'unexpected-return-pc') {
    const trampoline = inUprobesPage(f.hijackedPc, ev.maps, f.uprobesVma);
    return {
      kind: trampoline ? 'uretprobe-return-pc' : 'runtime-throw',
      probeCrash: trampoline,
      summary: trampoline
        ? `the Go runtime threw "${crashSignature(f)}": ${f.hijackedPc} is the uretprobe trampoline ([uprobes] page), which Go's stack unwinder cannot follow${f.during ? ` — while ${f.during}` : ''}`
        : `the Go runtime threw "${crashSignature(f)}" — the return pc is not in the [uprobes] page, so not the uretprobe's trampoline`,
      forensics: f,
    };
  }
  if (f?.kind === 'sigill' || f?.kind === 'signal') {
    const pc = /PC=(0x[0-9a-f]+)/.exec(f.signature)?.[1];
    const name = /^(SIG[A-Z]+)/.exec(f.fatal ?? '')?.[1] ?? 'a signal';
    const trampoline = inUprobesPage(pc, ev.maps, f.uprobesVma);
    // A fault inside the runtime's own stack walker: it followed a return address into garbage.
    const walker = f.frames
      .slice(0, 3)
      .find((fr) => /^runtime\.(\(\*unwinder\)|gentraceback|adjustframe|copystack|scanframeworker)/.test(fr.func));
    const where = f.frames[0] ? ` in ${f.frames[0].func}` : '';
    return {
      kind: trampoline ? 'trampoline-signal' : 'fatal-signal',
      probeCrash: trampoline || walker !== undefined,
      summary: trampoline
        ? `${name} at PC=${pc}, in the [uprobes] page: the CPU ran the kernel's uretprobe trampoline as the program's own code (a return through a hijacked address after the stack moved), and the Go runtime died of the signal`
        : walker
          ? `${name} at PC=${pc}${where}: Go's stack unwinder faulted while walking a goroutine's stack — where following a return address it does not know (a uretprobe's trampoline) leads`
          : `${name}${pc ? ` at PC=${pc}` : ''}${where}, outside the [uprobes] page and the runtime's stack walker — the program's own fault, not the probe's`,
      forensics: f,
    };
  }
  const witnessed = ev.signals?.find((s) => s.signal === 4 || s.signal === 11 || s.signal === 7);
  if (witnessed && status !== 0 && !witnessed.pc) {
    const name = signalName(witnessed.signal);
    return {
      kind: 'fatal-signal',
      probeCrash: false,
      summary: `${name}, then exit status ${status} — the process was gone before the PC it hit could be read, so whether it was the [uprobes] page is not known`,
    };
  }
  if (witnessed && status !== 0) {
    const name = signalName(witnessed.signal);
    const trampoline = witnessed.inUprobes ?? inUprobesPage(witnessed.pc, ev.maps);
    return {
      kind: trampoline ? 'trampoline-signal' : 'fatal-signal',
      probeCrash: trampoline,
      summary: trampoline
        ? `${name} at PC=${witnessed.pc}, in the [uprobes] page: the CPU ran the uretprobe trampoline as the program's own code, and the Go runtime exited with status ${status}`
        : `${name}${witnessed.pc ? ` at PC=${witnessed.pc}` : ''} — not in the [uprobes] page; the runtime exited with status ${status}`,
    };
  }
  const thrown = ev.throws?.[ev.throws.length - 1];
  if (thrown !== undefined && status !== 0) {
    // Its unwinder's words for a return address it does not know: under a uretprobe, the trampoline.
    const unwinder = /unknown caller pc|traceback did not unwind completely|unexpected return pc/.test(thrown);
    return {
      kind: unwinder ? 'uretprobe-return-pc' : 'runtime-throw',
      probeCrash: unwinder,
      summary: unwinder
        ? `the Go runtime threw "${thrown}": its stack unwinder met a return address it does not know — the uretprobe's trampoline — and the program exited with status ${status}`
        : `the Go runtime threw "${thrown}" and exited with status ${status} — not the unwinder error a uretprobe causes`,
    };
  }
  if (f?.kind === 'other-fatal') {
    return {
      kind: 'runtime-throw',
      probeCrash: false,
      summary: `${f.signature} — a fatal error of the program, not the probe's`,
      forensics: f,
    };
  }
  if (ev.signal)
    return {
      kind: 'killed',
      probeCrash: false,
      summary: `killed by ${signalName(ev.signal)} — sent from outside, not a probe crash`,
    };
  if (status !== 0)
    return {
      kind: 'exit-status',
      probeCrash: false,
      summary: `exited with status ${status} — not a probe crash (no runtime throw, no fatal signal)`,
    };
  return { kind: 'exit-0', probeCrash: false, summary: 'exited normally (status 0)' };
}

/** docs/data/crash-recording.json, as ./lab record-crash --write writes it (engines/record-crash.ts). */
export interface CrashRecording {
  recordedAt: string;
  /** The sources it was made from (engines/recordings.ts). */
  inputsHash: string;
  kernel: string;
  goVersion: string;
  binary: string;
  symbol: string;
  /** A shallow call first: the kernel maps the [uprobes] page on the first hijacked return. */
  warmup: string;
  request: string;
  tracer: string;
  exit: { code: number | null; signal: string | null };
  stderr: string;
  maps: string;
  forensics: CrashForensics;
}
