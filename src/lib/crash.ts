// Reads a Go crash dump (stderr of a process the runtime killed) and /proc/PID/maps: the frames of
// the crashing goroutine, the stack bounds, the hex dump around the bad frame, the mapping that
// holds an address. Pure: used by src/tools/record-crash.ts and by the stack explorer in the page.

export interface CrashFrame {
  func: string;
  pc?: string;
  sp?: string;
  fp?: string;
  /** This frame's return slot holds the uretprobe trampoline address instead of its caller's PC. */
  hijacked: boolean;
  raw: string;
}

export interface Mapping {
  start: string;
  end: string;
  perms: string;
  name: string;
}

export interface DumpWord {
  address: string;
  value: string;
  /** What the runtime's dump printed under the word: "SP", "FP", "<main.demo+0x6f>". */
  note?: string;
}

export interface CrashForensics {
  signature: string;
  hijackedPc: string;
  uprobesVma: { start: string; end: string; name: string } | null;
  frames: CrashFrame[];
}

const hex = (n: bigint) => `0x${n.toString(16)}`;

export function parseMaps(maps: string): Mapping[] {
  return maps.split('\n').flatMap((line) => {
    const m = /^([0-9a-f]+)-([0-9a-f]+)\s+(\S+)\s+\S+\s+\S+\s+\S+\s*(.*)$/.exec(line.trim());
    return m ? [{ start: `0x${m[1]}`, end: `0x${m[2]}`, perms: m[3], name: m[4].trim() }] : [];
  });
}

export function mappingOf(maps: Mapping[], address: string): Mapping | undefined {
  const a = BigInt(address);
  return maps.find((m) => BigInt(m.start) <= a && a < BigInt(m.end));
}

/** The Go runtime's one-line verdict: "unexpected return pc for main.demo called from 0x…" etc. */
export function crashSignature(stderr: string): string {
  const unexpected = /unexpected return pc for (\S+) called from (0x[0-9a-f]+)/.exec(stderr);
  const fatal = /^fatal error: (.+)$/m.exec(stderr);
  const signal = /^(SIGILL|SIGSEGV|SIGBUS|SIGTRAP)[^\n]*$/m.exec(stderr);
  if (unexpected) return `unexpected return pc for ${unexpected[1]} called from ${unexpected[2]}${fatal ? ` (fatal error: ${fatal[1]})` : ''}`;
  if (signal) return signal[0].trim();
  if (fatal) return `fatal error: ${fatal[1]}`;
  return stderr.trim().split('\n').pop() ?? '';
}

/** Frames of the goroutine whose traceback hit the bad return PC (the section after "goroutine N"). */
export function goroutineFrames(stderr: string, hijackedPc = '0x7fffffffe000'): CrashFrame[] {
  const start = stderr.search(/^goroutine \d+ .*\[[^\]]*\]:$/m);
  if (start < 0) return [];
  const lines = stderr.slice(start).split('\n').slice(1);
  const frames: CrashFrame[] = [];
  for (let i = 0; i < lines.length; i++) {
    const head = /^([\w./*()$%\-\[\]]+)\((.*)\)$/.exec(lines[i]);
    const where = lines[i + 1]?.match(/^\t(\S+:\d+)(?: \+0x[0-9a-f]+)?(.*)$/);
    if (!head || !where) {
      if (lines[i].startsWith('runtime: ') || lines[i] === '' || lines[i].startsWith('goroutine ')) {
        if (frames.length) break;
      }
      continue;
    }
    const field = (k: string) => new RegExp(`${k}=(0x[0-9a-f]+)`).exec(where[2])?.[1];
    frames.push({ func: head[1], pc: field('pc'), sp: field('sp'), fp: field('fp'), hijacked: false, raw: `${lines[i]}\n${lines[i + 1]}` });
    i++;
  }
  const culprit = new RegExp(`unexpected return pc for (\\S+) called from ${hijackedPc}`).exec(stderr)?.[1];
  const last = [...frames].reverse().find((f) => f.func === culprit);
  if (last) last.hijacked = true;
  return frames;
}

/** The stack bounds the runtime printed: stack=[lo,hi). */
export function stackBounds(stderr: string): { lo: string; hi: string } | null {
  const m = /stack=\[(0x[0-9a-f]+),(0x[0-9a-f]+)\)/.exec(stderr);
  return m ? { lo: m[1], hi: m[2] } : null;
}

/** The words of the runtime's hex dump around the bad frame, with its SP/FP/symbol notes. */
export function dumpWords(stderr: string): DumpWord[] {
  const words: DumpWord[] = [];
  const lines = stderr.split('\n');
  for (let i = 0; i < lines.length; i++) {
    // Go 1.20 and earlier: "0x000000c000051670:  0x000000012a05f200 <main.f+0x1f>  0x000000c0000880a0 "
    const old = /^0x([0-9a-f]{16}):\s+(.*)$/.exec(lines[i]);
    if (old) {
      const base = BigInt(`0x${old[1]}`);
      const found = Array.from(old[2].matchAll(/([!<>]?)0x([0-9a-f]{16})(?:\s+<([^>]+)>)?/g));
      found.forEach((w, k) => {
        const notes = [w[1] === '!' ? 'bad' : w[1] === '<' || w[1] === '>' ? w[1] : '', w[3] ? `<${w[3]}>` : ''].filter(Boolean);
        words.push({ address: hex(base + BigInt(8 * k)), value: hex(BigInt(`0x${w[2]}`)), ...(notes.length ? { note: notes.join(' ') } : {}) });
      });
      continue;
    }
    const m = /^([0-9a-f]{16}): ((?:[0-9a-f]{8} [0-9a-f]{8}\s+){1,2})/.exec(lines[i]);
    if (!m) continue;
    const base = BigInt(`0x${m[1]}`);
    const values = m[2].trim().split(/\s{2,}/).map((w) => w.replace(' ', ''));
    const lineWords = values.map((v, k) => ({ address: hex(base + BigInt(8 * k)), value: hex(BigInt(`0x${v}`)) }) as DumpWord);
    const notes = lines[i + 1]?.startsWith(' ') ? lines[i + 1] : '';
    if (notes) {
      // A caret under column 18 marks the first word, under column 37 the second.
      for (const n of Array.from(notes.matchAll(/\^ (\S+)/g))) {
        const word = (n.index ?? 0) < 30 ? lineWords[0] : lineWords[1];
        if (word) word.note = word.note ? `${word.note} ${n[1]}` : n[1];
      }
      i++;
    }
    words.push(...lineWords);
  }
  // The runtime prints the same dump again in the goroutine's traceback: keep the first.
  const seen = new Set<string>();
  return words.filter((w) => !seen.has(w.address) && seen.add(w.address));
}

export function crashForensics(stderr: string, maps: string, hijackedPc = '0x7fffffffe000'): CrashForensics {
  const vma = parseMaps(maps).find((m) => m.name === '[uprobes]');
  return {
    signature: crashSignature(stderr),
    hijackedPc,
    uprobesVma: vma ? { start: vma.start, end: vma.end, name: vma.name } : null,
    frames: goroutineFrames(stderr, hijackedPc),
  };
}
