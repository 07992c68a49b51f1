import { existsSync, readFileSync, mkdirSync } from 'node:fs';
import { parse, shown, type Command } from '../command.ts';
import { writeFileAtomic } from '../../core/files.ts';
import { buildAll } from '../build.ts';
import { at } from '../../core/paths.ts';
import { say } from '../../core/ui.ts';
import { LabError } from '../../core/errors.ts';

export const benchResultsFile = at('bench', 'results.json');

export const benchCommand: Command = {
  name: 'bench',
  summary:
    'run every benchmark (ring buffer, probe cost, latency, RSS, load, site build, notebooks, start times), print ratios, write bench/results.json',
  usage:
    './lab bench [--quick] [--only NAME,…] [--merge] [--readme]\n' +
    '  a full run writes bench/results.json; --quick or --only write .lab/bench-partial.json instead;\n' +
    "  --only … --merge puts those benchmarks' tables into bench/results.json (the rest stay as recorded)\n" +
    '  --readme: regenerate the README\'s "Benchmarks" section from bench/results.json (runs nothing; a full or --merge run does it too)\n' +
    '  a row of this run that misses its target is marked ✗ and the run exits 1',
  async run(argv) {
    const { values } = parse('bench', argv, {
      flags: {
        quick: { type: 'bool' },
        only: { type: 'string', multiple: true },
        merge: { type: 'bool' },
        readme: { type: 'bool' },
      },
    });
    const { mergeResults, missedTargets, readmeSection, renderTable } = await import('../../bench/report.ts');
    const { updateReadmeBlock } = await import('../../engines/readme.ts');
    if (values.merge && (!values.only || values.quick))
      throw new LabError(
        '--merge takes the tables of a full-size --only run',
        'e.g. ./lab bench --only lifecycle,service --merge',
      );
    if (values.merge && !existsSync(benchResultsFile))
      throw new LabError('no bench/results.json to merge into', 'run ./lab bench first');
    if (values.readme) {
      if (!existsSync(benchResultsFile))
        throw new LabError('no bench/results.json yet', 'run ./lab bench first (as root)');
      const results = JSON.parse(readFileSync(benchResultsFile, 'utf8'));
      await updateReadmeBlock('benchmarks', '## Benchmarks', readmeSection(results));
      say(`README.md: Benchmarks section regenerated from bench/results.json (${results.date})`);
      return 0;
    }
    const { benchmarkNames, runBenchmarks } = await import('../../bench/run.ts');
    const only = values.only;
    for (const o of only ?? []) {
      if (!(benchmarkNames as readonly string[]).includes(o))
        throw new LabError(`unknown benchmark ${shown(o)}`, `pick from: ${benchmarkNames.join(', ')}`);
    }
    if (process.getuid?.() !== 0)
      throw new LabError('the benchmarks attach real probes', 'run as root: sudo ./lab bench');
    await buildAll({}, ['server', 'addon', 'cilium', 'bench']);
    const { startHandsOn } = await import('../../workshop/hands-on.ts');
    const results = await runBenchmarks({
      only: only as Parameters<typeof runBenchmarks>[0]['only'],
      quick: values.quick,
      startRoom: startHandsOn,
    });
    const partial = (values.quick || only !== undefined) && !values.merge;
    const file = partial ? at('.lab', 'bench-partial.json') : benchResultsFile;
    mkdirSync(at('.lab'), { recursive: true });
    const written = values.merge
      ? mergeResults(JSON.parse(readFileSync(benchResultsFile, 'utf8')), results, only!)
      : results;
    await writeFileAtomic(file, JSON.stringify(written, null, 2) + '\n');
    // The README's tables are always the recorded run's: a test (and a reader) compares the two.
    if (!partial) await updateReadmeBlock('benchmarks', '## Benchmarks', readmeSection(written));
    process.stdout.write(renderTable(written.summary) + '\n');
    say(
      `results: ${file}${partial ? ' (partial run: bench/results.json and README.md untouched)' : ", and README.md's Benchmarks section"}`,
    );
    // Judged on this run's rows only (a --merge keeps older rows it did not re-run).
    const missed = missedTargets(results.summary);
    for (const row of missed) say(`✗ missed its target (${row.target}): ${row.benchmark} — ${row.ours}`);
    return missed.length > 0 ? 1 : 0;
  },
};
