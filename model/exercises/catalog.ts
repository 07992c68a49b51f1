/**
 * The lab's exercises, as data: what each asks, its choices or task, hints, the solution, and —
 * for predictions — the answer this lab's recordings show. Browser-safe (no Node imports): the site
 * renders predictions from it without a kernel; engines/exercises/checks.ts judges the same names
 * against the real kernel.
 */

export type ExerciseKind = 'predict' | 'do' | 'explain';
export const notebookNumbers = ['02', '03', '04', '05', '06', '07'] as const;
export type NotebookNumber = (typeof notebookNumbers)[number];

interface Common {
  /** Unique, starts with its notebook's number: `03-kill-the-server`. */
  name: string;
  notebook: NotebookNumber;
  kind: ExerciseKind;
  title: string;
  /** What the learner is asked (markdown, one paragraph). */
  prompt: string;
  /** Revealed one at a time. */
  hints: string[];
  /** Why the right answer is right (predict/explain) or what the solution does (do). */
  why: string;
}

export interface Prediction extends Common {
  kind: 'predict';
  choices: { id: string; text: string }[];
  /** The choice this lab's recordings show; the kernel check judges against the live run instead. */
  answer: string;
  /** Id of the notebook cell whose output shows the truth. */
  revealedBy: string;
}

export interface Task extends Common {
  kind: 'do';
  /** The editable cell's function body as the learner first sees it (TypeScript 5.0, no `using`). */
  starter: string;
  solution: string;
}

export interface Evidence extends Common {
  kind: 'explain';
  /** The learner's answer as a TypeScript object literal: what the solution fills in. */
  starter: string;
  solution: string;
}

export type Exercise = Prediction | Task | Evidence;

/** The parameter every "do it" attempt gets: a fresh private server, its binary opened for tracing. */
export const attemptSignature = 'async ({ server, exe, startServer }) =>';

export const exercises: Exercise[] = [
  // ------------------------------------------------------------------ 02 first uprobe
  {
    name: '02-arg-register',
    notebook: '02',
    kind: 'predict',
    title: 'Where is the argument?',
    prompt: 'A uprobe on `main.demo` fires for `/?arg=42`. Where does the BPF program find the `42`?',
    choices: [
      { id: 'a', text: "in RAX — the first integer register of Go's register ABI" },
      { id: 'b', text: 'in RDI — the first argument register of the C ABI' },
      { id: 'c', text: 'on the goroutine stack, just above the return address' },
      { id: 'd', text: 'in R14' },
    ],
    answer: 'a',
    revealedBy: '02-07',
    hints: [
      'Go 1.17 changed how arguments travel on amd64.',
      'R14 is taken: it always holds the current goroutine (g).',
    ],
    why: "Since Go 1.17 the amd64 register ABI passes integer arguments in RAX, RBX, RCX, RDI, RSI, R8–R11; the probe reads slot 0 = RAX and gets 42. RDI is C's first register (Go's fourth); R14 holds g; the stack was the pre-1.17 ABI.",
  },
  {
    name: '02-read-the-string',
    notebook: '02',
    kind: 'do',
    title: 'Read a Go string',
    prompt:
      'Attach a probe to `main.wordStats` that delivers the **text** of its string argument (not just a pointer). The check sends `/words?s=…` with words of its own and looks for them in your events.',
    hints: [
      'A Go string is two words: a pointer in one register, the length in the next.',
      '`exe.uprobe(symbol, { pid, args, stringArg })` — `stringArg` is the register slot of the pointer.',
      'The pointer is in slot 0 (RAX), the length in slot 1 (RBX): `{ pid: server.pid, args: 2, stringArg: 0 }`.',
    ],
    starter: 'return exe.uprobe("main.wordStats", { pid: server.pid, args: 2 });',
    solution: 'return exe.uprobe("main.wordStats", { pid: server.pid, args: 2, stringArg: 0 });',
    why: "stringArg: 0 tells the BPF program that slot 0 is a pointer and slot 1 its length; it copies the bytes from the server's memory with bpf_probe_read_user.",
  },
  // ------------------------------------------------------------------ 03 the crash
  {
    name: '03-which-request-kills',
    notebook: '03',
    kind: 'predict',
    title: 'Which request kills it?',
    prompt: 'A uretprobe is attached to `main.demo`. Which requests does the server survive?',
    choices: [
      { id: 'a', text: 'both `/?arg=3` and `/?arg=2000`' },
      { id: 'b', text: '`/?arg=3` survives, `/?arg=2000` kills the server' },
      { id: 'c', text: 'the first request kills it, whatever its arg' },
      { id: 'd', text: 'neither survives: attaching the uretprobe kills it' },
    ],
    answer: 'b',
    revealedBy: '03-11',
    hints: ['What does `demo(2000)` need that `demo(3)` does not?', 'A goroutine starts with a few KiB of stack.'],
    why: "demo(3) returns through the trampoline and the kernel sends it home. demo(2000) recurses 2000 frames deep: the stack must grow, the runtime copies it and walks every frame by its return address — and finds 0x7fffffffe000 in main.demo's slot.",
  },
  {
    name: '03-kill-the-server',
    notebook: '03',
    kind: 'do',
    title: 'Kill the server with a probe',
    prompt:
      "Make the server die of a **hijacked return address**: attach a probe and send a request so that the Go runtime throws. Killing the process yourself does not count — the check reads the runtime's crash text.",
    hints: [
      'Only one probe kind touches the stack.',
      'Attach `exe.uretprobe("main.demo", { pid: server.pid })`, then make the stack grow.',
      '`await server.get("/?arg=2000")` recurses deep enough.',
    ],
    starter: 'exe.uprobe("main.demo", { pid: server.pid });\nawait server.get("/?arg=2000");',
    solution:
      'exe.uretprobe("main.demo", { pid: server.pid });\nawait server.get("/?arg=3");\nawait server.get("/?arg=2000");',
    why: 'The uretprobe replaced main.demo\'s return address with the [uprobes] trampoline; copystack walked the frames and threw "unexpected return pc".',
  },
  {
    name: '03-smallest-crashing-arg',
    notebook: '03',
    kind: 'do',
    title: 'The smallest fatal arg',
    prompt:
      "Under a uretprobe on `main.demo`, `arg=3` survives and `arg=2000` crashes. Find the **smallest** `arg` that crashes the server on this machine's Go, and return it. Each try needs a fresh server: `await startServer()` gives one (with its own `exe`). The check tries your number and the one below it.",
    hints: [
      'Write `crashes(arg)`: a fresh server, a uretprobe on its demo, one request, then `!s.alive` (give it ~100 ms to die).',
      'Crashing is monotonic in arg: bisect between 3 and 2000 (about 11 tries).',
      "The stack grows when demo's recursion needs more than the goroutine's first stack: the answer depends on the Go version and on what the handler used before.",
    ],
    starter: 'return 2000;',
    solution: [
      'const crashes = async (arg) => {',
      '  const s = await startServer();',
      '  const probe = s.exe.uretprobe("main.demo", { pid: s.pid });',
      '  await s.get(`/?arg=${arg}`, 3000);',
      '  await new Promise((r) => setTimeout(r, 100));',
      '  const dead = !s.alive;',
      '  probe.close();',
      '  await s.close();',
      '  return dead;',
      '};',
      'let lo = 3, hi = 2000; // lo survives, hi crashes',
      'while (hi - lo > 1) {',
      '  const mid = Math.floor((lo + hi) / 2);',
      '  if (await crashes(mid)) hi = mid;',
      '  else lo = mid;',
      '}',
      'return hi;',
    ].join('\n'),
    why: "Below the threshold the recursion fits in the goroutine's initial stack and nothing walks it; one more frame and morestack copies the stack — through the hijacked slot.",
  },
  // ------------------------------------------------------------------ 04 why
  {
    name: '04-hijacked-slot',
    notebook: '04',
    kind: 'explain',
    title: 'Point at the hijacked slot',
    prompt:
      "In the crash dump above (the runtime's hex dump of the stack), find the **stack address** whose word is the trampoline address, and name the **frame** whose return address it was. Fill them in; the check reads the same crash with the lab's forensics.",
    hints: [
      "The runtime's line `unexpected return pc for F called from 0x…` names the frame.",
      "Look for the word `0x7fffffffe000`: Go ≥ 1.21 prints each 8-byte word as two halves, `00007fff ffffe000`. A line starts with its first word's address; the second word on the line is 8 bytes further.",
      "The slot sits just below the caller's frame pointer: the `fp` of `frame={sp:…, fp:…}` minus 8.",
    ],
    starter: '{ slot: "0x…", frame: "main.…" }',
    solution:
      '{ slot: lab.parseCrash(exit.stderr, maps).slot.address, frame: lab.parseCrash(exit.stderr, maps).victim }',
    why: "The uretprobe wrote 0x7fffffffe000 over main.demo's return address, one word below its caller's frame; the unwinder read that slot, found no Go function there and threw.",
  },
  {
    name: '04-what-walked-the-stack',
    notebook: '04',
    kind: 'predict',
    title: 'Who read the slot?',
    prompt: 'When `demo(2000)` crashed the server, which part of the Go runtime was walking the stack?',
    choices: [
      { id: 'a', text: "copystack — growing the goroutine's stack" },
      { id: 'b', text: "the garbage collector's stack scan" },
      { id: 'c', text: 'panic unwinding' },
      { id: 'd', text: 'the kernel, on the way back from the trampoline' },
    ],
    answer: 'a',
    revealedBy: '04-06',
    hints: [
      'What did 2000 nested calls need?',
      'The `runtime stack:` section of the crash names the runtime functions.',
    ],
    why: "runtime.newstack → copystack moves the stack and adjusts every frame: it reads each return address to find the frame's function. The runtime stack section of the crash shows copystack.",
  },
  // ------------------------------------------------------------------ 05 safely
  {
    name: '05-demo-ret-count',
    notebook: '05',
    kind: 'predict',
    title: 'How many RETs?',
    prompt: 'RET-site tracing needs a uprobe on every `RET` instruction. How many does `main.demo` have?',
    choices: [
      { id: '1', text: '1' },
      { id: '2', text: '2' },
      { id: '3', text: '3' },
      { id: '4', text: '4 or more' },
    ],
    answer: '1',
    revealedBy: '05-04',
    hints: ['`demo` has one `return` statement.', 'Does a `panic` call end in a RET?'],
    why: 'demo has one return path; the panic branch calls runtime.gopanic, which never returns, so the compiler emits no RET after it. The disassembly shows one RET.',
  },
  {
    name: '05-survive-growth',
    notebook: '05',
    kind: 'do',
    title: 'Trace returns and survive',
    prompt:
      'Trace `main.demo` so that you get each call **with its latency** — and the server survives `/?arg=2000`. The check sends `/?arg=3` and `/?arg=2000` and reads your events.',
    hints: [
      'A uprobe survives but never sees a return; a uretprobe sees returns and kills Go.',
      "The lab's third kind puts a uprobe on every RET and pairs by goroutine.",
      '`exe.returnProbes("main.demo", { pid: server.pid, args: 1 })`',
    ],
    starter: 'return exe.uretprobe("main.demo", { pid: server.pid, args: 1 });',
    solution: 'return exe.returnProbes("main.demo", { pid: server.pid, args: 1 });',
    why: 'RET-site probes are plain uprobes: they never write to the stack, so copystack finds real return addresses. The entry program stores the time per goroutine; the RET program computes the latency.',
  },
  {
    name: '05-survive-panic',
    notebook: '05',
    kind: 'do',
    title: 'See a call that panics',
    prompt:
      '`/panic?arg=1` makes `main.panicThrough(1)` panic; the handler recovers. Attach a probe that **sees that call** (its argument 1) and lets the server survive. The check sends the request and reads your events and the process.',
    hints: [
      'A uretprobe: the panic unwinds through the hijacked slot.',
      'RET-site probes report a call at its RET — does a panicking call reach one?',
      'An entry uprobe sees the call and touches nothing: `exe.uprobe("main.panicThrough", { pid: server.pid, args: 1 })`.',
    ],
    starter: 'return exe.uretprobe("main.panicThrough", { pid: server.pid, args: 1 });',
    solution: 'return exe.uprobe("main.panicThrough", { pid: server.pid, args: 1 });',
    why: 'The call never returns — it panics — so neither a uretprobe (which crashes the unwinder) nor RET-site probes (no RET reached) can report it; the entry uprobe sees it with its argument.',
  },
  // ------------------------------------------------------------------ 06 traps
  {
    name: '06-classify-ret-count',
    notebook: '06',
    kind: 'predict',
    title: 'RETs of classify',
    prompt:
      '`main.classify` has five `return` statements and a `defer`. How many `RET` instructions does the compiled function have?',
    choices: [
      { id: '1', text: '1 — the compiler merges the returns into one epilogue' },
      { id: '2', text: '2 — one epilogue, plus one for a recovered panic' },
      { id: '5', text: '5 — one per return statement' },
      { id: '6', text: '6 — one per return statement, plus one for a recovered panic' },
    ],
    answer: '6',
    revealedBy: '06-08',
    hints: [
      'Go open-codes a simple defer: the deferred call is copied to each return path.',
      'A panic recovered by the defer needs a way back out of the function too (runtime.deferreturn).',
    ],
    why: 'The defer is open-coded: each of the five return statements gets its own copy of the deferred call and its own RET, and the path through runtime.deferreturn (taken after a recovered panic) ends in a sixth. Miss one and some calls never report a return.',
  },
  {
    name: '06-which-ret',
    notebook: '06',
    kind: 'do',
    title: 'Which RET fired?',
    prompt:
      'Attach a probe to `main.classify` whose events say **which RET instruction** each call left through. The check sends several `/classify` requests and reads the `RET #` of your events.',
    hints: [
      'Only one probe kind puts a probe on each RET.',
      'Its events carry `ret_site`: the index of the RET that fired.',
      '`exe.returnProbes("main.classify", { pid: server.pid, args: 1 })`',
    ],
    starter: 'return exe.uprobe("main.classify", { pid: server.pid, args: 1 });',
    solution: 'return exe.returnProbes("main.classify", { pid: server.pid, args: 1 });',
    why: 'Each RET gets its own uprobe whose bpf_cookie carries its index; the event reports it as ret_site.',
  },
  {
    name: '06-square-calls',
    notebook: '06',
    kind: 'predict',
    title: 'Calls at inlined copies',
    prompt:
      '`/inline?arg=7` calls `main.square` twice: once directly — the compiler inlined that call into its caller — and once through the function value `squareFunc`, which runs the out-of-line copy at the symbol. How many calls does the lab\'s `exe.uprobe("main.square", …)` see?',
    choices: [
      { id: '0', text: '0 — square is inlined, there is nothing to probe' },
      { id: '1', text: '1 — only the call through the function value reaches the symbol' },
      { id: '2', text: '2 — both calls' },
    ],
    answer: '2',
    revealedBy: '06-06',
    hints: [
      'Can the compiler inline a call through a function value?',
      'DWARF records where each inlined copy of a function starts (DW_TAG_inlined_subroutine).',
    ],
    why: "The call through squareFunc runs the out-of-line copy at the symbol; the direct call's instructions were copied into its caller, and DWARF says where that copy starts — the lab's tracer puts a uprobe there too. A tool that probes only the symbol (bpftrace's uprobe:…:main.square, the seed's cilium tracer) sees 1 of the 2 calls.",
  },
  // ------------------------------------------------------------------ 07 matrix
  {
    name: '07-quiet-damage',
    notebook: '07',
    kind: 'predict',
    title: 'Quiet damage',
    prompt: 'Under a uretprobe on `main.countCallers`, what does `/callers?arg=1` (which calls `runtime.Callers`) do?',
    choices: [
      { id: 'a', text: 'the server crashes' },
      { id: 'b', text: 'the server survives but answers wrong' },
      { id: 'c', text: 'the server survives and answers right' },
    ],
    answer: 'b',
    revealedBy: '07-02',
    hints: ['runtime.Callers stops quietly where it cannot unwind; it does not throw.'],
    why: 'runtime.Callers walks until it meets a return address it cannot map and stops there: it reports 1 frame instead of 9, and nothing crashes. Such a wrong answer is worse than a crash — nobody notices.',
  },
  {
    name: '07-go-version-matters',
    notebook: '07',
    kind: 'do',
    title: 'A trigger the Go version decides',
    prompt:
      "Find a crash-matrix trigger that a uretprobe **survives on this machine's Go** but that **crashes on Debian's Go 1.19**, and return its id. The check runs that trigger under a uretprobe on both toolchains.",
    hints: [
      "Read the recorded matrix (notebook 07's first table) column by column.",
      'Look at the panic rows.',
      'A panic recovered inside the probed frame: `"recover-inside"`.',
    ],
    starter: 'return "stack-growth";',
    solution: 'return "recover-inside";',
    why: 'On Go 1.19, recovering from the panic walks the stack and reads main.recoverInside\'s hijacked return address (its crash says "unexpected return pc for main.recoverInside"); the reworked panic and recover of newer Go get back into the frame without failing on it.',
  },
];

export function exercise(name: string): Exercise | undefined {
  return exercises.find((e) => e.name === name);
}

export const exercisesOf = (notebook: string) => exercises.filter((e) => e.notebook === notebook);
