/** Progress output for long steps: one line when a step starts, one when it ends. */
const bold = (s: string) => (process.stderr.isTTY ? `\x1b[1m${s}\x1b[0m` : s);

export function say(message: string): void {
  process.stderr.write(`${bold('[lab]')} ${message}\n`);
}

export async function step<T>(title: string, work: () => Promise<T>): Promise<T> {
  const started = Date.now();
  say(`▸ ${title}…`);
  try {
    const result = await work();
    say(`✓ ${title} (${((Date.now() - started) / 1000).toFixed(1)} s)`);
    return result;
  } catch (err) {
    say(`✗ ${title}`);
    throw err;
  }
}

/**
 * A count that advances while a step runs ("cell 3/12"): one rewritten line on a terminal, a line
 * per count in a log. clear() before the step's own closing line.
 */
export function counter(label: string): { update(i: number, n: number): void; clear(): void } {
  const tty = process.stderr.isTTY;
  return {
    update: (i, n) =>
      process.stderr.write(
        tty ? `\r\x1b[2K${bold('[lab]')}   ${label} ${i}/${n}` : `${bold('[lab]')}   ${label} ${i}/${n}\n`,
      ),
    clear: () => void (tty && process.stderr.write('\r\x1b[2K')),
  };
}
