import { readdirSync } from 'node:fs';
import { join, relative } from 'node:path';
import { parse, shown, UsageError, type Command } from '../command.ts';
import { ensureSetup } from '../setup.ts';
import { buildAll } from '../build.ts';
import { run } from '../../core/proc.ts';
import { at, root, serverDir } from '../../core/paths.ts';
import { step } from '../../core/ui.ts';

function testFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
    const p = join(dir, e.name);
    if (e.isDirectory()) return e.name === 'node_modules' ? [] : testFiles(p);
    return e.name.endsWith('.test.ts') ? [p] : [];
  });
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
      .filter((f) => filters.length === 0 || filters.some((x) => (rooms().includes(x) ? f.startsWith(`test/${x}/`) : f.includes(x))))
      .sort();
    const matchesNothing = filters.find((x) => x !== 'go' && !files.some((f) => f.includes(x)));
    if (matchesNothing !== undefined) throw new UsageError(`no test file matches ${shown(matchesNothing)}`, 'filters pick test files under test/ whose path contains the text (or go for go test)');
    await ensureSetup();
    await buildAll();
    if (filters.length === 0 || filters.includes('go')) {
      await step('go test ./... (server)', () => run('go', ['test', '-count=1', './...'], { cwd: serverDir }));
    }
    if (files.length === 0) return;
    await run(process.execPath, ['--import', 'tsx', '--test', '--test-concurrency=1', '--test-reporter=spec', ...files], {
      cwd: root,
      stdio: ['ignore', 'inherit', 'inherit'],
      fix: 'see the failing tests above',
    });
  },
};
