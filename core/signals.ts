/**
 * Who ends the process on a signal. A command or a kernel that handles a signal itself (run-tracer
 * detaching, tslab's "interrupt this cell") owns it. Otherwise the process ends, after the fallbacks
 * that clean up first (the tracer closing its probes, so no detach is cut mid-way) have finished.
 * Fallbacks do not count as owners: two of them counting each other would leave a signal unanswered.
 */
type Listener = (...args: unknown[]) => void;

const fallbacks = new WeakSet<Listener>();

/** Listens for `sig` as a fallback: it runs, but does not make the signal handled. */
export function onSignalFallback(sig: NodeJS.Signals, listener: Listener): void {
  fallbacks.add(listener);
  process.on(sig, listener);
}

/** Whether something other than a fallback handles `sig`. */
export const signalOwned = (sig: NodeJS.Signals): boolean =>
  process.listeners(sig).some((l) => !fallbacks.has(l as Listener));

/** Whether a fallback other than `self` still listens for `sig` (it ends the process once it is done). */
export const otherFallbackPending = (sig: NodeJS.Signals, self: Listener): boolean =>
  process.listeners(sig).some((l) => l !== self && fallbacks.has(l as Listener));

/**
 * A command's process: SIGINT, SIGTERM and SIGHUP end it (exit 128 + the signal's number, or what
 * `exitCode` makes of that) unless something owns the signal, once every fallback has cleaned up.
 */
export function endOnSignals(exitCode: (code: number) => number = (code) => code): void {
  for (const [signal, number] of [
    ['SIGINT', 2],
    ['SIGTERM', 15],
    ['SIGHUP', 1],
  ] as const) {
    const endOnSignal = () => {
      if (signalOwned(signal) || otherFallbackPending(signal, endOnSignal)) return;
      process.exit(exitCode(128 + number));
    };
    onSignalFallback(signal, endOnSignal);
  }
}
