/**
 * Nothing the lab writes is left half-written: SIGINT in the middle of each recording command
 * leaves the previous file byte-identical and no temp file beside it, and a partial crash matrix
 * run merges into the recorded one instead of replacing it. Real commands, real kernel.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { copyFileSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, utimesSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, dirname, join } from 'node:path';
import { at } from '../../core/paths.ts';
import { writeFileAtomicSync } from '../../core/files.ts';
import type { CrashMatrix } from '../../engines/crash-matrix.ts';

/** Runs ./lab, sends SIGINT once `ready` matches its stderr, resolves with its exit and output. */
function interrupted(
  args: string[],
  ready: RegExp,
  timeoutMs = 240000,
): Promise<{ code: number | null; signal: NodeJS.Signals | null; stderr: string; interruptedAt?: number }> {
  return new Promise((resolve) => {
    const child = spawn(at('lab'), args, { cwd: at('.'), stdio: ['ignore', 'pipe', 'pipe'] });
    let stderr = '';
    let interruptedAt: number | undefined;
    child.stdout.resume();
    child.stderr.on('data', (d) => {
      stderr += d;
      if (interruptedAt === undefined && ready.test(stderr)) {
        interruptedAt = Date.now();
        child.kill('SIGINT');
      }
    });
    const guard = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.on('exit', (code, signal) => {
      clearTimeout(guard);
      resolve({ code, signal, stderr, interruptedAt });
    });
  });
}

const tempFilesBeside = (file: string) =>
  readdirSync(dirname(file)).filter((f) => f.startsWith(`.${basename(file)}.`) && f.endsWith('.tmp'));

const cases: { name: string; file: string; args: string[]; ready: RegExp }[] = [
  // main.hopThreads under a uretprobe: the 1000 thread hops take seconds before the crash, time to interrupt.
  {
    name: 'record-crash --write',
    file: 'docs/data/crash-recording.json',
    args: ['record-crash', '--write', '--symbol=main.hopThreads', '--request=/hop?arg=1000'],
    ready: /✓ build addon/,
  },
  {
    name: 'crash-matrix --write',
    file: 'docs/data/crash-matrix.json',
    args: ['crash-matrix', '--write', '--no-fetch'],
    ready: / → (survive|crash)/,
  },
  {
    name: 'notebooks --update',
    file: 'notebooks/07-crash-matrix.ipynb',
    args: ['notebooks', '--update', '07-crash-matrix'],
    ready: /▸ run 07-crash-matrix/,
  },
];

test('writeFileAtomic under SIGINT at random moments: the file is always a whole version, never cut, and no temp file stays', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'lab-atomic-'));
  const file = join(dir, 'data.json');
  try {
    writeFileAtomicSync(file, JSON.stringify({ n: 0 }));
    // The child handles SIGINT as ./lab does (exit, so exit hooks run) while 30 MB writes are in flight.
    const script = `
      import { writeFileAtomic } from ${JSON.stringify(at('core', 'files.ts'))};
      process.on('SIGINT', () => process.exit(130));
      const pad = 'x'.repeat(30 << 20);
      for (let n = 1; ; n++) await writeFileAtomic(${JSON.stringify(file)}, JSON.stringify({ n, pad }));
    `;
    for (let round = 0; round < 8; round++) {
      const child = spawn(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], {
        cwd: at('.'),
        stdio: 'ignore',
      });
      await new Promise((r) => setTimeout(r, 700 + Math.random() * 600));
      child.kill('SIGINT');
      await new Promise((r) => child.on('exit', r));
      const text = readFileSync(file, 'utf8');
      assert.doesNotThrow(() => JSON.parse(text), `round ${round}: a cut file (${text.length} bytes)`);
      assert.deepEqual(tempFilesBeside(file), [], `round ${round}: a temp file was left`);
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

for (const c of cases) {
  test(`SIGINT during ./lab ${c.name} leaves ${c.file} byte-identical`, async () => {
    const file = at(c.file);
    const before = readFileSync(file);
    const r = await interrupted(c.args, c.ready);
    assert.ok(r.interruptedAt, `never reached the point to interrupt: ${r.stderr.slice(-2000)}`);
    assert.ok(r.code !== 0 || r.signal, `./lab ${c.name} finished normally despite SIGINT`);
    assert.ok(readFileSync(file).equals(before), `${c.file} changed`);
    assert.deepEqual(tempFilesBeside(file), [], 'a temp file was left beside it');
    assert.doesNotMatch(r.stderr, /^\s+at /m, r.stderr.slice(-2000));
  });
}

test('crash-matrix --write --trigger=plain --probe=none merges its cells into the recorded matrix', async () => {
  const matrixFile = at('docs', 'data', 'crash-matrix.json');
  const backup = mkdtempSync(join(tmpdir(), 'lab-matrix-'));
  const [matrixTimes, readmeTimes] = [statSync(matrixFile), statSync(at('README.md'))];
  copyFileSync(matrixFile, join(backup, 'matrix.json'));
  copyFileSync(at('README.md'), join(backup, 'README.md'));
  try {
    const recorded = JSON.parse(readFileSync(matrixFile, 'utf8')) as CrashMatrix;
    const r = await new Promise<{ code: number | null; stderr: string }>((resolve) => {
      const child = spawn(at('lab'), ['crash-matrix', '--write', '--trigger=plain', '--probe=none', '--go=go'], {
        cwd: at('.'),
        stdio: ['ignore', 'ignore', 'pipe'],
      });
      let stderr = '';
      child.stderr.on('data', (d) => (stderr += d));
      child.on('exit', (code) => resolve({ code, stderr }));
    });
    assert.equal(r.code, 0, r.stderr);
    const merged = JSON.parse(readFileSync(matrixFile, 'utf8')) as CrashMatrix;
    const key = (x: { go: string; trigger: string; probe: string }) => `${x.go} ${x.trigger} ${x.probe}`;
    const rerun = merged.cells.filter(
      (x) => x.trigger === 'plain' && x.probe === 'none' && x.go === merged.toolchains[0],
    );
    assert.equal(rerun.length, 1, 'the re-run cell is there once');
    assert.equal(merged.cells.length, recorded.cells.length, 'no cell lost or duplicated');
    const others = (m: CrashMatrix) => m.cells.filter((x) => key(x) !== key(rerun[0]));
    assert.deepEqual(others(merged), others(recorded), 'every other recorded cell is kept as it was');
    assert.deepEqual(merged.toolchains, recorded.toolchains);
    assert.deepEqual(
      merged.triggers.map((t) => t.id),
      recorded.triggers.map((t) => t.id),
    );
  } finally {
    // Put the committed recording and README back exactly, their times too: a newer crash-matrix.json
    // would make the site look stale, and the next site test would rebuild it for nothing.
    writeFileAtomicSync(matrixFile, readFileSync(join(backup, 'matrix.json')));
    writeFileAtomicSync(at('README.md'), readFileSync(join(backup, 'README.md')));
    utimesSync(matrixFile, matrixTimes.atime, matrixTimes.mtime);
    utimesSync(at('README.md'), readmeTimes.atime, readmeTimes.mtime);
    rmSync(backup, { recursive: true, force: true });
  }
});

test('mergeMatrix: a run covering every recorded cell refreshes the inputs hash; a partial run over older cells keeps them marked stale', async () => {
  const { mergeMatrix, readMatrix } = await import('../../engines/crash-matrix.ts');
  const recorded = { ...readMatrix(at('docs', 'data', 'crash-matrix.json')), inputsHash: 'old' };
  const full = { ...recorded, inputsHash: 'new', recordedAt: 'now' };
  assert.equal(mergeMatrix(recorded, full).inputsHash, 'new');
  const partial = { ...full, cells: full.cells.slice(0, 1) };
  const merged = mergeMatrix(recorded, partial);
  assert.equal(merged.inputsHash, 'old', 'older cells are still from the old sources');
  assert.equal(merged.cells.length, recorded.cells.length);
  assert.equal(mergeMatrix({ ...recorded, inputsHash: 'new' }, partial).inputsHash, 'new');
});
