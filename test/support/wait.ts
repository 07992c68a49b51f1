/**
 * `promise`, or `fallback` once `ms` have passed. The timer is cleared either way: a pending timer
 * keeps a test file's process alive until it fires, so a bare `Promise.race` with a 30 s timeout
 * adds 30 s to the file even when the promise won.
 */
export async function within<T, F>(promise: Promise<T>, ms: number, fallback: F): Promise<T | F> {
  let timer: NodeJS.Timeout | undefined;
  try {
    return await Promise.race([promise, new Promise<F>((r) => (timer = setTimeout(() => r(fallback), ms)))]);
  } finally {
    clearTimeout(timer);
  }
}

/**
 * `visit` on every item, `width` at a time, results in the items' order. Pages (and whole ./lab runs)
 * spend most of their time waiting, so a few at once overlap those waits.
 */
export async function eachAtOnce<T, R>(
  items: readonly T[],
  width: number,
  visit: (item: T, index: number) => Promise<R>,
): Promise<R[]> {
  const out: R[] = new Array(items.length);
  let next = 0;
  const worker = async () => {
    for (let i = next++; i < items.length; i = next++) out[i] = await visit(items[i], i);
  };
  await Promise.all(Array.from({ length: Math.min(width, items.length) }, worker));
  return out;
}
