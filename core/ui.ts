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
