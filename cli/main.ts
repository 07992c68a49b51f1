import { commands } from './commands/index.ts';
import { LabError } from '../core/errors.ts';
import { keepServing, survived } from '../core/keep-serving.ts';
import { endOnSignals } from '../core/signals.ts';
import { UsageError, shown } from './command.ts';

/** Text safe for a terminal: control characters (escape sequences included) escaped, long lines cut. */
function printable(text: string): string {
  return text
    .split('\n')
    .map((line) => {
      const safe = line.replace(
        /[\u0000-\u0008\u000b-\u001f\u007f-\u009f]/g,
        (c) => `\\x${c.charCodeAt(0).toString(16).padStart(2, '0')}`,
      );
      return safe.length > 400 ? `${safe.slice(0, 400)}…` : safe;
    })
    .join('\n');
}

/** Every failure ends as one line (LabError's what — fix); a stack only with LAB_DEBUG=1. */
function report(err: unknown): number {
  if (process.env.LAB_DEBUG) console.error(err);
  if (err instanceof LabError) {
    console.error(`[lab] ${printable(err.message.trimEnd())}`);
    return err instanceof UsageError ? 2 : 1;
  }
  const first = String((err as Error)?.message ?? err).split('\n')[0];
  console.error(
    `[lab] unexpected error: ${printable(first)}${process.env.LAB_DEBUG ? '' : ' — run again with LAB_DEBUG=1 to see where it came from'}`,
  );
  return 1;
}

let endingQuietly = false;
/**
 * The reader of our output went away (`./lab run-tracer --json | head -3`): stop as Ctrl-C
 * would — a command that listens for SIGTERM detaches its probes and stops its servers — and
 * exit 0 without a word.
 */
function readerGone(e: NodeJS.ErrnoException): void {
  if (e.code !== 'EPIPE') {
    process.exitCode = report(e);
    return;
  }
  if (endingQuietly) return;
  endingQuietly = true;
  process.exitCode = 0;
  process.emit('SIGTERM' as NodeJS.Signals);
  setTimeout(() => process.exit(0), 5000).unref();
}
/**
 * Ctrl-C, kill, a closed terminal: a command with no handler of its own ends at once, and the exit
 * hooks stop what it started (servers are killed, half-written temp files removed). A command
 * that handles the signal itself (run-tracer detaching, start stopping its services) does so.
 */
endOnSignals((code) => (endingQuietly ? 0 : code));

process.stdout.on('error', readerGone);
process.stderr.on('error', readerGone);
/**
 * An error nothing caught. A command that serves others (below) logs it in one line and carries on
 * (core/keep-serving.ts); any other command ends with it, in one line.
 */
for (const event of ['uncaughtException', 'unhandledRejection'] as const) {
  process.on(event, (err: unknown) => {
    if ((err as NodeJS.ErrnoException)?.code === 'EPIPE') return readerGone(err as NodeJS.ErrnoException);
    if (survived(err, event)) return;
    process.exitCode = report(err);
    process.exit();
  });
}

/** Commands that run until a signal, serving others (attendees, a browser, notebooks): no peer may end them. */
const longRunning = new Set(['start', 'workshop', 'probe-service']);

async function main(argv: string[]): Promise<number> {
  const [name = 'help', ...rest] = argv;
  const cmd = commands.find((c) => c.name === name);
  if (!cmd) throw new UsageError(`unknown command ${shown(name)}`, 'run ./lab help for the list');
  if (rest.includes('--help') || rest.includes('-h')) {
    console.log(`${cmd.name}: ${cmd.summary}\nusage: ${cmd.usage}`);
    return 0;
  }
  if (longRunning.has(cmd.name)) keepServing(cmd.name);
  return (await cmd.run(rest)) ?? 0;
}

main(process.argv.slice(2)).then(
  (code) => {
    if (!endingQuietly) process.exitCode = code;
  },
  (err: unknown) => {
    process.exitCode = endingQuietly ? 0 : report(err);
  },
);
