/**
 * Fuzzing the binary reader: seeded mutations of the server's ELF header, program and section
 * headers, symbol table, string tables, build info and DWARF. Every case must end as a valid
 * Executable or one LabError line — never another exception, never a hang. The cases run in a
 * child process so a hang can be detected and killed.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { serverBuilds } from './fixtures/binaries.ts';
import type { CaseReport } from './fixtures/fuzz-cases.ts';

const [{ binary }] = await serverBuilds();
const worker = fileURLToPath(new URL('./fixtures/fuzz-cases.ts', import.meta.url));
/** A case may take this long at most (a generous bound: typical cases take milliseconds). */
const perCaseLimitMs = 5000;

async function runFuzz(mode: 'elf' | 'dwarf', seed: number, count: number): Promise<CaseReport[]> {
  const child = spawn(process.execPath, ['--import', 'tsx', worker, binary, mode, String(seed), String(count)], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stderr = '';
  child.stderr.on('data', (d) => (stderr += d));
  const reports: CaseReport[] = [];
  let hung: string | undefined;
  // Startup (tsx, iced-x86) gets its own allowance; after that each case must report in time.
  let watchdog = setTimeout(() => {
    hung = 'the fuzz child did not start';
    child.kill('SIGKILL');
  }, 20_000);
  const exited = new Promise<number | null>((resolve) => child.on('close', (code) => resolve(code)));
  for await (const line of createInterface({ input: child.stdout })) {
    const r = JSON.parse(line) as CaseReport;
    reports.push(r);
    clearTimeout(watchdog);
    watchdog = setTimeout(() => {
      hung = `case ${r.index + 1} (seed ${seed}) ran longer than ${perCaseLimitMs} ms`;
      child.kill('SIGKILL');
    }, perCaseLimitMs);
  }
  const code = await exited;
  clearTimeout(watchdog);
  assert.equal(hung, undefined, hung);
  assert.equal(code, 0, `fuzz child exited with ${code}: ${stderr.trim().split('\n').slice(-8).join('\n')}`);
  assert.equal(reports.length, count);
  return reports;
}

function summarise(reports: CaseReport[]): string {
  const by = (o: string) => reports.filter((r) => r.outcome === o).length;
  const slowest = Math.max(...reports.map((r) => r.ms));
  return `${by('valid')} valid, ${by('lab-error')} LabErrors, slowest case ${slowest.toFixed(0)} ms`;
}

test('300 seeded mutations of headers, section table, symtab, strings and build info: a valid Executable or one LabError line each', async (t) => {
  const reports = await runFuzz('elf', 1, 300);
  const others = reports.filter((r) => r.outcome === 'other-error');
  assert.deepEqual(others.map((r) => `#${r.index} ${r.region}: ${r.detail.split('\n').slice(0, 3).join(' | ')}`), []);
  for (const r of reports) assert.ok(r.ms < perCaseLimitMs, `case ${r.index} took ${r.ms} ms`);
  // The corpus must actually reach both outcomes, or it tests nothing.
  assert.ok(reports.some((r) => r.outcome === 'valid'));
  assert.ok(reports.some((r) => r.outcome === 'lab-error'));
  t.diagnostic(summarise(reports));
});

test('60 seeded mutations of the inflated DWARF: an inlining index or a format error each', async (t) => {
  const reports = await runFuzz('dwarf', 2, 60);
  const others = reports.filter((r) => r.outcome === 'other-error');
  assert.deepEqual(others.map((r) => `#${r.index} ${r.region}: ${r.detail.split('\n').slice(0, 3).join(' | ')}`), []);
  assert.ok(reports.some((r) => r.outcome === 'lab-error'), 'no mutation was detected as corrupt');
  t.diagnostic(summarise(reports));
});
