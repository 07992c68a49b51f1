/** "Did you mean …?" for misspelt Go function names: small edit distances, import paths, receivers. */

/** Up to three names from `candidates` close to `name`, the lab's own (main.*) first. */
export function suggestNames(name: string, candidates: Iterable<string>): string[] {
  // Receivers are spelt (*T).M in symbols; people often write T.M or *T.M, so compare without them.
  const plain = (n: string) => n.toLowerCase().replace(/[()*]/g, '');
  const wanted = plain(name);
  const tail = wanted.slice(wanted.lastIndexOf('.') + 1);
  const pkg = wanted.slice(0, Math.max(0, wanted.lastIndexOf('.'))).replace(/^.*\//, '');
  const limit = Math.max(2, Math.floor(wanted.length / 4));
  const tailLimit = Math.max(1, Math.floor(tail.length / 4));
  const scored: { n: string; score: number }[] = [];
  for (const n of candidates) {
    const lower = plain(n);
    if (lower.endsWith(`/${wanted}`)) {
      scored.push({ n, score: 0 }); // http.Serve → net/http.Serve: symbols carry the full import path
      continue;
    }
    const dist = editDistance(wanted, lower, limit);
    if (dist <= limit) {
      scored.push({ n, score: dist });
      continue;
    }
    const symTail = lower.slice(lower.lastIndexOf('.') + 1);
    // Only the same name in another package is worth suggesting: main.doesNotExist is not os.IsNotExist.
    const samePackage = !pkg || lower.slice(0, lower.lastIndexOf('.')).replace(/^.*\//, '') === pkg;
    const tailDist = tail.length >= 3 ? editDistance(tail, symTail, samePackage ? tailLimit : 0) : tailLimit + 1;
    if (tailDist <= (samePackage ? tailLimit : 0)) scored.push({ n, score: limit + tailDist });
    else if (samePackage && tail.length >= 4 && lower.includes(tail))
      scored.push({ n, score: limit + tailLimit + 1 + lower.length / 1000 });
  }
  // main.* first: the lab's own functions are what people usually mean.
  const rank = (x: { n: string; score: number }) => x.score + (x.n.startsWith('main.') ? 0 : 0.5);
  return scored
    .sort((a, b) => rank(a) - rank(b))
    .slice(0, 3)
    .map((x) => x.n);
}

/** Levenshtein distance, giving up (returning limit + 1) once it must exceed `limit`. */
export function editDistance(a: string, b: string, limit: number): number {
  if (Math.abs(a.length - b.length) > limit) return limit + 1;
  let prev = Array.from({ length: b.length + 1 }, (_, i) => i);
  for (let i = 1; i <= a.length; i++) {
    const cur = [i];
    let best = i;
    for (let j = 1; j <= b.length; j++) {
      cur[j] = Math.min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (a[i - 1] === b[j - 1] ? 0 : 1));
      best = Math.min(best, cur[j]);
    }
    if (best > limit) return limit + 1;
    prev = cur;
  }
  return prev[b.length];
}
