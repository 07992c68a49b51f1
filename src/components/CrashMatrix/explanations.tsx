import type { ReactNode } from 'react';

/**
 * Why a cell of the crash matrix differs between Go versions, keyed by "trigger × probe". Each
 * explanation names the runtime code behind it (in the toolchains the matrix ran) or says that the
 * outcome is chance. Differences.tsx shows one for every cell that differs in the recording, and says
 * so when one is missing.
 */
export interface Explanation {
  kind: 'runtime change' | 'probabilistic';
  why: ReactNode;
}

const src = (tag: string, file: string) => `https://github.com/golang/go/blob/${tag}/src/runtime/${file}`;

export const explanations: Record<string, Explanation> = {
  'recover-inside × uretprobe': {
    kind: 'runtime change',
    why: (
      <>
        To run a panic's deferred calls, Go 1.19 looks for frames with open-coded defers with <code>gentraceback</code>{' '}
        and a callback (<code>addOneOpenDeferFrame</code>, <a href={src('go1.19.8', 'panic.go')}>panic.go</a>).{' '}
        <code>gentraceback</code> looks up every frame's return address before it hands the frame to the callback, and
        with a callback an unknown one is fatal (<code>throw("unknown caller pc")</code>,{' '}
        <a href={src('go1.19.8', 'traceback.go')}>traceback.go</a>) — so it throws at the probed frame, the very frame
        that recovers. Newer runtimes walk with the unwinder one frame at a time and stop at the first frame that has
        defers (<code>(*_panic).nextFrame</code>, <a href={src('go1.26.8', 'panic.go')}>panic.go</a>): the probed
        frame's return address is never looked up, the function resumes at its <code>deferreturn</code> and returns
        through the trampoline as usual.
      </>
    ),
  },
  'gc × uretprobe': {
    kind: 'runtime change',
    why: (
      <>
        All three crash; only how differs. The stack is scanned while its goroutine waits in <code>runtime.GC()</code>,
        so that goroutine has no thread (<code>gp.m == nil</code>). Before printing <code>unexpected return pc</code>,
        Go 1.26's <code>unwinder.next</code> reads <code>gp.m.incgo</code>: a nil dereference, so the process dies of{' '}
        <code>SIGSEGV</code> inside <code>runtime.(*unwinder).next</code> instead of the runtime's report (
        <a href="https://github.com/golang/go/issues/73259">golang/go#73259</a>: "gp.m is nil, as 0x118 is the offset of
        incgo in the M"). Go 1.27 checks <code>gp.m != nil</code> first (
        <a href={src('go1.27.3', 'traceback.go')}>traceback.go</a>) and prints the report; Go 1.19's{' '}
        <code>gentraceback</code> reads <code>gp.m</code> only when it prints a traceback, never for the garbage
        collector.
      </>
    ),
  },
  'thread-hop × uretprobe': {
    kind: 'probabilistic',
    why: (
      <>
        The kernel's <code>SIGILL</code> needs the goroutine to return on a different OS thread from the one it entered
        on. <code>main.hopThreads</code> sleeps up to 100 times while another goroutine spins, so that the scheduler
        moves it, and returns as soon as it finds itself on another thread; but the scheduler may keep it on its thread
        all 100 times (the server then answers <code>moved threads: false</code>, with or without a probe), and then the
        trampoline finds its <code>return_instance</code> and the call survives. Which happens is up to the scheduler:
        the cells count how often it crashed in their repeated runs.
      </>
    ),
  },
};
