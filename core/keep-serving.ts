/**
 * What a long-running mode (a hands-on room, the probe service, `./lab start`, a workshop) does
 * with an error nothing caught: one line in its log, and it carries on serving everyone else. A
 * peer's input must never end the process — in a hands-on room that would end every attendee's
 * session. Code that serves connections wraps each peer's handlers with `forPeer`, so an error there
 * drops that one connection (and is logged); what still escapes reaches `survived`, which cli/main.ts
 * calls from its uncaughtException / unhandledRejection handlers.
 */
import { say } from './ui.ts';

let serving: { mode: string; log: (line: string) => void } | undefined;

/** From now on this process serves others: errors nothing caught are logged, not fatal. */
export function keepServing(mode: string, log: (line: string) => void = say): void {
  serving = { mode, log };
}

/** The long-running mode this process is in, if any. */
export const servingMode = (): string | undefined => serving?.mode;

const firstLine = (err: unknown) =>
  String((err as Error)?.message ?? err)
    .split('\n')[0]
    .slice(0, 300);

/** At most this many lines a minute: a peer that triggers errors in a loop must not flood the log. */
const linesPerMinute = 20;
let windowStart = 0;
let inWindow = 0;
let suppressed = 0;

function logLimited(line: string): void {
  if (!serving) return;
  const now = Date.now();
  if (now - windowStart >= 60_000) {
    if (suppressed)
      serving.log(`${serving.mode}: ${suppressed} more unexpected error(s) in the last minute (not shown)`);
    windowStart = now;
    inWindow = 0;
    suppressed = 0;
  }
  if (++inWindow > linesPerMinute) suppressed++;
  else serving.log(line);
}

/** One line in the serving mode's log (rate-limited); nothing outside a serving mode. */
export function logServing(line: string): void {
  if (serving) logLimited(`${serving.mode}: ${line}`);
}

/**
 * An error no handler caught. In a long-running mode: logged in one line, and true (carry on).
 * Otherwise false: the caller ends the command as before.
 */
export function survived(err: unknown, kind: 'uncaughtException' | 'unhandledRejection'): boolean {
  if (!serving) return false;
  if (process.env.LAB_DEBUG) console.error(err);
  logLimited(
    `${serving.mode}: unexpected ${kind === 'unhandledRejection' ? 'rejection' : 'error'}, still serving: ${firstLine(err)}`,
  );
  return true;
}

/**
 * Wraps a handler of one peer's events: a throw, or a rejection of the promise it returns, drops that
 * peer (and is logged once) instead of reaching the process.
 */
export function forPeer<A extends unknown[]>(
  peer: string | (() => string),
  drop: (why: string) => void,
  handler: (...args: A) => unknown,
): (...args: A) => void {
  const fail = (err: unknown) => {
    const why = firstLine(err);
    if (serving) logLimited(`${serving.mode}: dropped ${typeof peer === 'string' ? peer : peer()}: ${why}`);
    try {
      drop(why);
    } catch {}
  };
  return (...args: A) => {
    try {
      const r = handler(...args);
      if (r instanceof Promise) r.catch(fail);
    } catch (err) {
      fail(err);
    }
  };
}
