/**
 * A node:test reporter beside the spec one: each test file's time (its top-level tests' durations
 * added up), slowest first, so a suite that grows past its budget says where the time went.
 * Plain JavaScript: node loads reporters before --import tsx applies.
 */
export default async function* testTimes(source) {
  const byFile = new Map();
  for await (const event of source) {
    if (event.type !== 'test:pass' && event.type !== 'test:fail') continue;
    const { nesting, file, details } = event.data;
    if (nesting !== 0 || !file) continue;
    const f = byFile.get(file) ?? { ms: 0, tests: 0 };
    f.ms += details?.duration_ms ?? 0;
    f.tests++;
    byFile.set(file, f);
  }
  const rows = [...byFile].sort((a, b) => b[1].ms - a[1].ms);
  for (const [file, { ms, tests }] of rows)
    yield `${(ms / 1000).toFixed(1).padStart(7)} s  ${String(tests).padStart(3)} tests  ${file.replace(`${process.cwd()}/`, '')}\n`;
}
