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
