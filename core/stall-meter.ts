/** How long the event loop was blocked at once: a 5 ms timer's latest tick beyond its period. */
export function stallMeter(): { stop(): number } {
  let last = performance.now();
  let worst = 0;
  const t = setInterval(() => {
    const now = performance.now();
    worst = Math.max(worst, now - last - 5);
    last = now;
  }, 5);
  return { stop: () => (clearInterval(t), worst) };
}
