import { readFileSync } from 'node:fs';

/** Nanoseconds this thread has waited on a run queue (the second field of schedstat), or null without schedstat. */
function runQueueWaitNs(): number | null {
  try {
    return Number(readFileSync('/proc/thread-self/schedstat', 'latin1').split(' ')[1]);
  } catch {
    return null;
  }
}

export interface Stalls {
  /** The longest the event loop was blocked at once by this process (its wait for a CPU taken out). */
  own: number;
  /** The same as the wall clock saw it: on a loaded machine, other processes' turns count too. */
  wall: number;
}

/**
 * How long the event loop was blocked at once: a 5 ms timer's latest tick beyond its period. On two
 * busy cores the loop's thread may wait 100 ms and more for a CPU between ticks; that is the
 * machine's load, not a stall of ours, and the thread's run-queue wait (schedstat) tells it apart.
 */
export function stallMeter(): { stop(): Stalls } {
  let last = performance.now();
  let lastWait = runQueueWaitNs();
  const worst: Stalls = { own: 0, wall: 0 };
  const t = setInterval(() => {
    const now = performance.now();
    const wait = runQueueWaitNs();
    const late = now - last - 5;
    const queued = wait !== null && lastWait !== null ? (wait - lastWait) / 1e6 : 0;
    worst.wall = Math.max(worst.wall, late);
    worst.own = Math.max(worst.own, late - queued);
    last = now;
    lastWait = wait;
  }, 5);
  return { stop: () => (clearInterval(t), worst) };
}
