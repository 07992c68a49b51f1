// Turns a recorded crash (docs/data/crash-recording.json) into the steps the stack explorer shows.
// Every address comes from the recording: the frames' sp/fp, the runtime's hex dump, the maps.
import { parseCrash, parseMaps, vmaFor, type Frame, type Vma } from '../../../model/forensics.ts';
import type { CrashRecording } from '../../lib/data-types.ts';

export type RowKind = 'caller' | 'probed' | 'callee' | 'elided' | 'guard';

export interface StackRow {
  id: string;
  kind: RowKind;
  label: string;
  /** Frame bounds as the runtime printed them. */
  sp?: string;
  fp?: string;
  /** The return-address slot of this frame (fp - 8) and what it holds at this step. */
  slot?: { address: string; value: string; hijacked: boolean };
}

export interface Step {
  title: string;
  /** Plain sentences; addresses are inserted from the recording. */
  text: string[];
  rows: StackRow[];
  /** Row the step points at (the unwinder's cursor, the frame being called…). */
  focus?: string;
  /** Lines of /proc/PID/maps worth showing at this step. */
  maps?: Vma[];
  /** A snippet of the recorded stderr to show verbatim. */
  quote?: string;
  /** The copy copystack makes: old and new stack sizes and how much of the stack was in use. */
  copy?: { oldSize: number; newSize: number; used: number; lo: string; hi: string };
}

const big = (s: string) => BigInt(s);
const hex = (n: bigint) => `0x${n.toString(16)}`;
const minus8 = (a: string) => hex(big(a) - 8n);

function runtimeStack(stderr: string): string[] {
  const start = stderr.indexOf('runtime stack:');
  if (start < 0) return [];
  const section = stderr.slice(start).split(/\n\s*\n/)[0];
  return Array.from(section.matchAll(/^([\w./*()]+)\(/gm), (m) => m[1]);
}

function quoteLines(stderr: string, pattern: RegExp, context = 0): string | undefined {
  const lines = stderr.split('\n');
  const i = lines.findIndex((l) => pattern.test(l));
  return i < 0 ? undefined : lines.slice(i, i + 1 + context).join('\n');
}

export interface ExplorerModel {
  steps: Step[];
  hijackedPc: string;
  slotAddress: string;
  recording: CrashRecording;
}

/** null when the recording lacks what the explorer needs (no hijacked frame with sp/fp). */
export function explorerModel(rec: CrashRecording): ExplorerModel | null {
  // Everything is read from the raw crash text and maps, never from a recorder's forensics block.
  const crash = parseCrash(rec.stderr, rec.maps);
  const hijackedPc = crash?.hijackedPc;
  if (!crash || !hijackedPc) return null;
  const frames = crash.frames.filter((x) => x.sp && x.fp);
  const probedIndex = frames.findIndex((x) => x.hijacked);
  if (probedIndex < 0) return null;
  const probed = frames[probedIndex];
  const callees = frames.slice(0, probedIndex); // innermost first
  const slotAddress = crash.slot?.address ?? minus8(probed.fp!);
  const bounds = crash.stackBounds;
  const maps = parseMaps(rec.maps);
  const uprobes = vmaFor(hijackedPc, maps);
  const text = maps.find((m) => m.perms.includes('x') && m.name && !m.name.startsWith('['));
  const stackVma = bounds ? vmaFor(bounds.lo, maps) : undefined;
  // The runtime's <func+off> marks on words above the probed frame: the callers' return addresses.
  const callerNotes = crash.words.flatMap((w) =>
    w.address > big(probed.fp!)
      ? w.marks.filter((m) => m.startsWith('<')).map((note) => ({ address: hex(w.address), note }))
      : [],
  );
  // The innermost frame stopped in its prologue (no frame yet): measure the outermost callee.
  const frameSize = callees.length ? big(callees[callees.length - 1].fp!) - big(callees[callees.length - 1].sp!) : 0n;
  const fname = (x: Frame) => x.func;
  const symbol = rec.symbol ?? probed.func;

  // Above the probed frame the unwinder never got: only the hex dump saw those words.
  const nearestCode = callerNotes.find((w) => w.note.startsWith('<main.'));
  const callerRows: StackRow[] = [
    {
      id: 'caller-0',
      kind: 'caller',
      label: `the HTTP handler's frames, above fp=${probed.fp}${nearestCode ? ` (the dump shows ${nearestCode.note.slice(1, -1)} at ${nearestCode.address})` : ''}`,
    },
  ];

  const probedRow = (value: string, hijacked: boolean): StackRow => ({
    id: 'probed',
    kind: 'probed',
    label: `${probed.func} (the probed function)`,
    sp: probed.sp,
    fp: probed.fp,
    slot: { address: slotAddress, value, hijacked },
  });

  const calleeRows = (count: number): StackRow[] => {
    // outermost first, the way memory runs from high to low addresses
    const outerFirst = callees.slice().reverse().slice(0, count);
    if (outerFirst.length <= 5) return outerFirst.map((x, i) => calleeRow(x, i));
    return [
      calleeRow(outerFirst[0], 0),
      calleeRow(outerFirst[1], 1),
      {
        id: 'elided',
        kind: 'elided',
        label: `… ${outerFirst.length - 4} more ${fname(outerFirst[2])} frames, ${frameSize} bytes each …`,
      },
      calleeRow(outerFirst[outerFirst.length - 2], outerFirst.length - 2),
      calleeRow(outerFirst[outerFirst.length - 1], outerFirst.length - 1),
    ];
  };
  // A frame's return slot holds the PC its caller resumes at — the caller frame's printed pc.
  const calleeRow = (x: Frame, i: number): StackRow => {
    const k = callees.indexOf(x);
    const caller = k + 1 < probedIndex ? callees[k + 1] : probed;
    return {
      id: `callee-${i}`,
      kind: 'callee',
      label: x.raw.split('\n')[0],
      sp: x.sp,
      fp: x.fp,
      slot: { address: minus8(x.fp!), value: `${caller.pc ?? '?'} (${caller.func})`, hijacked: false },
    };
  };
  // The runtime printed the bounds of the NEW stack (copystack had already switched g.stack);
  // newstack doubles the size, so the old stack ended half-way down, at the same offsets from hi.
  const size = bounds ? Number(big(bounds.hi) - big(bounds.lo)) : 0;
  const oldLo = bounds ? hex(big(bounds.hi) - BigInt(size / 2)) : undefined;
  const stackGuard = 928n; // linux/amd64: StackNosplitBase (800) + StackSmall (128)
  const guardRow: StackRow[] = oldLo
    ? [
        {
          id: 'guard',
          kind: 'guard',
          label: `old stack.lo ≈ ${oldLo}; stackguard0 = stack.lo + ${stackGuard} = ${hex(big(oldLo) + stackGuard)}`,
        },
      ]
    : [];
  const original = '(return PC into the caller)';
  const all = callees.length;
  const topFrame = callees[0];
  const outermost = callees.length > 1 ? callees[callees.length - 1] : undefined;
  const rt = runtimeStack(rec.stderr);
  // How much stack was in use when morestack ran: from the top of the stack to the innermost frame.
  const copyInfo =
    bounds && topFrame?.sp
      ? {
          oldSize: size / 2,
          newSize: size,
          used: Number(big(bounds.hi) - big(topFrame.sp)),
          lo: bounds.lo,
          hi: bounds.hi,
        }
      : undefined;

  const steps: Step[] = [
    {
      title: `A request calls ${symbol}`,
      text: [
        `GET ${rec.request} reaches the handler, which calls ${symbol}. The CALL instruction pushes the return address into the slot at ${slotAddress}, just below the caller's frame.`,
        `The stack is heap memory owned by the Go runtime, not the thread's stack. The addresses shown are the ones the runtime printed when it died: by then it had already copied the stack into a new ${size / 1024} KiB block [${bounds?.lo ?? '?'}, ${bounds?.hi ?? '?'}). Before the copy, the same frames sat at the same distance below the top of the old ${size / 2048} KiB stack.`,
      ],
      rows: [...callerRows, probedRow(original, false), ...guardRow],
      focus: 'probed',
    },
    {
      title: 'The uretprobe fires: int3 at the function entry',
      text: [
        `The first instruction of ${symbol} was replaced by int3. The kernel's uprobe handler runs, and because a return probe is attached it saves the real return address in a return_instance on this thread's list and overwrites the slot with the trampoline address ${hijackedPc}.`,
        uprobes
          ? `${hijackedPc} is the [uprobes] page the kernel mapped into the process (${uprobes.start}-${uprobes.end}, ${uprobes.perms}). It holds no Go code: the Go runtime's function table (pclntab) covers only ${text ? `${text.start}-${text.end}` : "the binary's text"}.`
          : `${hijackedPc} is the kernel's [uprobes] trampoline page.`,
      ],
      rows: [...callerRows, probedRow(hijackedPc, true), ...guardRow],
      focus: 'probed',
      maps: [text, stackVma, uprobes].filter((m): m is Vma => !!m),
    },
    {
      title: `${symbol} recurses: the stack fills up`,
      text: [
        `${symbol} calls ${topFrame ? fname(topFrame) : 'its callee'}, which calls itself ${/arg=(\d+)/.exec(rec.request)?.[1] ?? 'many'} times deep. Each frame takes ${frameSize} bytes and the stack grows downwards towards stack.lo.`,
        `The recording caught ${all} of these frames on the stack when the runtime stopped.`,
      ],
      rows: [...callerRows, probedRow(hijackedPc, true), ...calleeRows(Math.max(1, all - 1)), ...guardRow],
      focus: calleeRows(Math.max(1, all - 1)).at(-1)?.id,
    },
    {
      title: 'The prologue check fails: morestack',
      text: [
        `Every Go function starts by comparing SP (minus its frame size) with g.stackguard0. One more ${topFrame?.func ?? 'callee'} frame of ${frameSize} bytes below sp=${topFrame?.sp} would cross the old stack's guard, so the prologue calls runtime.morestack instead of running the body.`,
        `morestack switches to the thread's system stack (g0) and calls newstack, which allocates a stack twice as large — the ${size / 1024} KiB block [${bounds?.lo}, ${bounds?.hi}) of the crash output — and calls copystack.`,
      ],
      rows: [...callerRows, probedRow(hijackedPc, true), ...calleeRows(all), ...guardRow],
      focus: calleeRows(all).at(-1)?.id,
      quote: rt.length ? `runtime stack (innermost first): ${rt.join(' ← ')}` : undefined,
      copy: copyInfo,
    },
    {
      title: 'copystack walks every frame with the unwinder',
      copy: copyInfo,
      text: [
        `copystack has already moved the used part of the stack to the new block. Now it walks the new copy frame by frame to fix every pointer into the old stack — in locals, arguments, saved frame pointers — by the distance the stack moved. Each frame's layout comes from pclntab, looked up by the frame's PC; the caller's PC is the return address stored in the frame.`,
        `The unwinder starts at the innermost frame (${topFrame?.func} at sp=${topFrame?.sp}) and walks outwards, frame by frame: every return address so far points into a known Go function.`,
      ],
      rows: [...callerRows, probedRow(hijackedPc, true), ...calleeRows(all), ...guardRow],
      focus: calleeRows(all).at(-1)?.id,
    },
    ...(outermost
      ? [
          {
            title: `Up to ${outermost.func}, the last frame below ${probed.func}`,
            text: [
              `Frame by frame the walk goes up. At ${outermost.raw.split('\n')[0]} (sp=${outermost.sp}, fp=${outermost.fp}) the return slot at ${minus8(outermost.fp!)} holds ${probed.pc ?? '?'}: findfunc finds ${probed.func} in pclntab, so the unwinder knows that frame's size and pointer map and moves on to it.`,
              `So far every return address has been a real PC, as the Go toolchain guarantees.`,
            ],
            rows: [...callerRows, probedRow(hijackedPc, true), ...calleeRows(all), ...guardRow],
            focus: calleeRows(all)[0]?.id,
          } satisfies Step,
        ]
      : []),
    {
      title: `The unwinder reaches ${probed.func}'s return slot`,
      text: [
        `${probed.func}'s frame is sp=${probed.sp}, fp=${probed.fp}. Its return address is read from ${slotAddress}: it holds ${hijackedPc}, not a PC in the caller.`,
        `findfunc(${hijackedPc}) finds nothing — the address is outside every Go module's text — so the runtime cannot know the caller's frame size or pointer maps. It cannot finish copying a stack it cannot walk.`,
      ],
      rows: [...callerRows, probedRow(hijackedPc, true), ...calleeRows(all), ...guardRow],
      focus: 'probed',
      quote: quoteLines(rec.stderr, /unexpected return pc/, 1),
    },
    {
      title: 'fatal error: the process dies',
      text: [
        `Unwinding for copystack must be exact, so the runtime throws instead of guessing: it prints the frames it did find, a hex dump around the bad frame, and exits with status 2. Every goroutine — every request in flight — goes with it.`,
        `Without the stack growth, ${symbol} would have returned into ${hijackedPc}, the kernel would have run the uretprobe handler and jumped back to the saved address. The probe itself works; it is the Go runtime reading its own stack that cannot tolerate the rewritten slot.`,
      ],
      rows: [...callerRows, probedRow(hijackedPc, true), ...calleeRows(all), ...guardRow],
      focus: 'probed',
      quote: quoteLines(rec.stderr, /^fatal error:/),
    },
  ];
  return { steps, hijackedPc, slotAddress, recording: rec };
}
