import { existsSync, mkdirSync, readdirSync, readFileSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { dirname, join, relative } from 'node:path';
import { parse, shown, UsageError, type Command } from '../command.ts';
import { ensureSetup } from '../setup.ts';
import { buildAll } from '../build.ts';
import { run } from '../../core/proc.ts';
import { at, root, serverDir } from '../../core/paths.ts';
import { say, step } from '../../core/ui.ts';
import { LabError } from '../../core/errors.ts';
import type { Leftover } from '../../engines/leftovers.ts';

function testFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
    const p = join(dir, e.name);
    if (e.isDirectory()) return e.name === 'node_modules' ? [] : testFiles(p);
    return e.name.endsWith('.test.ts') ? [p] : [];
  });
}

/**
 * Most test files check machine-wide state (BPF links, uprobes, processes, accounts, ports) or
 * timing, so they run one at a time. A file that says so near its top,
 *   // lab-test: concurrent — <why nothing it does is seen by another test file>
 * runs alongside the other such files instead, in a batch before the rest (when no file of the
 * one-at-a-time kind is running).
 */
const concurrentMark = /^\/\/ lab-test: concurrent\b/m;
const runsConcurrently = (file: string) => concurrentMark.test(readFileSync(at(file), 'utf8').slice(0, 4000));

/** How many of the concurrent files run at once: their time is mostly waiting (browsers, kernels, Jupyter). */
const concurrentFiles = () => Math.max(3, availableParallelism());

/**
 * node:test on `files`, `concurrency` files at a time; the spec reporter lists every test and every
 * failure, and each file's time goes to .lab/logs/test-times-<batch>.txt (the slowest are said).
 */
async function nodeTests(files: string[], concurrency: number, batch: string): Promise<boolean> {
  if (files.length === 0) return true;
  say(
    `${files.length} test file${files.length === 1 ? '' : 's'}${concurrency > 1 ? `, ${concurrency} at a time` : ', one at a time'}`,
  );
  const times = at('.lab', 'logs', `test-times-${batch}.txt`);
  mkdirSync(dirname(times), { recursive: true });
  const started = performance.now();
  try {
    await run(
      process.execPath,
      [
        '--import',
        'tsx',
        '--test',
        `--test-concurrency=${concurrency}`,
        '--test-reporter=spec',
        '--test-reporter-destination=stdout',
        `--test-reporter=${at('cli', 'test-times-reporter.mjs')}`,
        `--test-reporter-destination=${times}`,
        ...files,
      ],
      {
        cwd: root,
        stdio: ['ignore', 'inherit', 'inherit'],
      },
    );
    return true;
  } catch {
    return false;
  } finally {
    const slowest = existsSync(times) ? readFileSync(times, 'utf8').split('\n').filter(Boolean).slice(0, 5) : [];
    say(
      `${batch} batch: ${((performance.now() - started) / 1000).toFixed(0)} s; slowest files (${relative(root, times)}):\n${slowest.map((l) => `    ${l}`).join('\n')}`,
    );
  }
}

/**
 * What of the lab runs or is attached after the tests and was not before them (said, and returned);
 * what was there already is only mentioned: it is not this run's.
 */
async function outlived(before: Leftover[], after: Leftover[]): Promise<Leftover[]> {
  const key = (l: Leftover) => `${l.kind} ${l.id}`;
  const already = new Set(before.map(key));
  const left = after.filter((l) => !already.has(key(l)));
  const old = after.filter((l) => already.has(key(l)));
  if (old.length > 0) say(`left from before these tests (not counted): ${old.map((l) => l.what).join('; ')}`);
  if (left.length > 0) say(`✖ outlived the tests:\n${left.map((l) => `    ${l.kind}: ${l.what}`).join('\n')}`);
  return left;
}

/** Builds (or finds) the lab's container image; a failure is said here and met again by the container test. */
async function buildImageMeanwhile(): Promise<void> {
  const { ensureImage } = await import('../../engines/container/image.ts');
  await ensureImage().then(
    (i) => say(`container image ${i.ref}: ${i.built ? `built (${i.seconds.toFixed(0)} s)` : 'up to date'}`),
    (e: Error) => say(`the container image could not be built beside the tests: ${e.message}`),
  );
}

/** The rooms: one folder of test/ each (support/ holds what they share). */
const rooms = () =>
  readdirSync(at('test'), { withFileTypes: true })
    .filter((e) => e.isDirectory() && e.name !== 'support')
    .map((e) => e.name);

export const testCommand: Command = {
  name: 'test',
  summary: 'install what is missing, build, run every test suite (go test + node:test on the real kernel)',
  usage:
    `./lab test [room|filter…]   — a room (a folder of test/: ${rooms().join(', ')}) runs its tests;\n` +
    '                              other text picks test files whose path contains it; go runs go test (server/)',
  async run(argv) {
    const { positionals: filters } = parse('test', argv, { positionals: { name: 'filter', max: Infinity } });
    const files = testFiles(at('test'))
      .map((f) => relative(root, f))
      .filter(
        (f) =>
          filters.length === 0 ||
          filters.some((x) => (rooms().includes(x) ? f.startsWith(`test/${x}/`) : f.includes(x))),
      )
      .sort();
    const matchesNothing = filters.find((x) => x !== 'go' && !files.some((f) => f.includes(x)));
    if (matchesNothing !== undefined)
      throw new UsageError(
        `no test file matches ${shown(matchesNothing)}`,
        'filters pick test files under test/ whose path contains the text (or go for go test)',
      );
    await ensureSetup();
    await buildAll();
    if (filters.length === 0 || filters.includes('go')) {
      await step('go test ./... (server)', () => run('go', ['test', '-count=1', './...'], { cwd: serverDir }));
    }
    if (files.length === 0) return;
    const { labLeftovers, runMarkVariable } = await import('../../engines/leftovers.ts');
    const runMark = `${process.pid}-${Date.now()}`;
    process.env[runMarkVariable] = runMark; // inherited by the test files and all they start
    const before = await labLeftovers({ run: runMark });
    // Both batches run even when the first fails: every failure shows.
    const concurrent = files.filter(runsConcurrently);
    // The container test's image (minutes on a fresh clone) builds beside the concurrent batch, so the
    // one-at-a-time files, which measure time, never share the machine with it.
    const image = files.some((f) => f.startsWith('test/container/')) ? buildImageMeanwhile() : undefined;
    const concurrentOk = await nodeTests(concurrent, concurrentFiles(), 'concurrent');
    await image;
    const serialOk = await nodeTests(
      files.filter((f) => !concurrent.includes(f)),
      1,
      'serial',
    );
    const left = await outlived(before, await labLeftovers({ run: runMark }));
    if (!concurrentOk || !serialOk) {
      const which = [!concurrentOk && 'the concurrent batch', !serialOk && 'the one-at-a-time files']
        .filter(Boolean)
        .join(' and ');
      throw new LabError(`tests failed in ${which}`, 'see the failing tests listed above (✖)');
    }
    if (left.length > 0)
      throw new LabError(
        `${left.length} thing${left.length === 1 ? '' : 's'} of the lab outlived the tests (listed above)`,
        'find the test that started it; ./lab doctor lists what is left',
      );
  },
};
