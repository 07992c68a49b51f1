// lab-test: concurrent — reads binaries in memory, in its own child processes.
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
import { serverBuilds } from '../support/fixtures/binaries.ts';
import type { CaseReport } from '../support/fixtures/fuzz-cases.ts';
import { patient } from '../../core/patience.ts';

const builds = await serverBuilds({ old: true });
const worker = fileURLToPath(new URL('../support/fixtures/fuzz-cases.ts', import.meta.url));
/** A case may take this long at most (a generous bound: typical cases take milliseconds), more on a loaded machine. */
const perCaseLimitMs = () => patient(5000);

async function runFuzz(binary: string, mode: 'elf' | 'dwarf', seed: number, count: number): Promise<CaseReport[]> {
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
  }, patient(20_000));
  const exited = new Promise<number | null>((resolve) => child.on('close', (code) => resolve(code)));
  for await (const line of createInterface({ input: child.stdout })) {
    const r = JSON.parse(line) as CaseReport;
    reports.push(r);
    clearTimeout(watchdog);
    const limit = perCaseLimitMs();
    watchdog = setTimeout(() => {
      hung = `case ${r.index + 1} (seed ${seed}) ran longer than ${limit} ms`;
      child.kill('SIGKILL');
    }, limit);
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

// Split between the default Go (DWARF 5) and Go 1.19 (DWARF 4): a few hundred cases in all.
const elfCases = [200, 100];
const dwarfCases = [40, 40];

builds.forEach(({ binary, toolchain }, i) => {
  test(`${toolchain.version}: ${elfCases[i]} seeded mutations of headers, section table, symtab, strings, build info and DWARF headers: a valid Executable or one LabError line each`, async (t) => {
    const reports = await runFuzz(binary, 'elf', 1 + i, elfCases[i]);
    const others = reports.filter((r) => r.outcome === 'other-error');
    assert.deepEqual(
      others.map((r) => `#${r.index} ${r.region}: ${r.detail.split('\n').slice(0, 3).join(' | ')}`),
      [],
    );
    for (const r of reports) assert.ok(r.ms < perCaseLimitMs(), `case ${r.index} took ${r.ms} ms`);
    // The corpus must actually reach both outcomes, or it tests nothing.
    assert.ok(reports.some((r) => r.outcome === 'valid'));
    assert.ok(reports.some((r) => r.outcome === 'lab-error'));
    t.diagnostic(summarise(reports));
  });

  test(`${toolchain.version}: ${dwarfCases[i]} seeded mutations of the inflated DWARF: an inlining index or a format error each`, async (t) => {
    const reports = await runFuzz(binary, 'dwarf', 11 + i, dwarfCases[i]);
    const others = reports.filter((r) => r.outcome === 'other-error');
    assert.deepEqual(
      others.map((r) => `#${r.index} ${r.region}: ${r.detail.split('\n').slice(0, 3).join(' | ')}`),
      [],
    );
    assert.ok(
      reports.some((r) => r.outcome === 'lab-error'),
      'no mutation was detected as corrupt',
    );
    t.diagnostic(summarise(reports));
  });
});
