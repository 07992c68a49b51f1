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
  summary: 'run every benchmark (ring buffer, probe cost, latency, RSS, load, site build, notebooks, start times), print ratios, write bench/results.json',
  usage:
    './lab bench [--quick] [--only ringbuf,probes,latency,rss,load,site,notebooks,start] [--readme]\n' +
    '  a full run writes bench/results.json; --quick or --only write .lab/bench-partial.json instead\n' +
    '  --readme: regenerate the README\'s "Benchmarks" section from bench/results.json (runs nothing)',
  async run(argv) {
    const { values } = parse('bench', argv, { flags: { quick: { type: 'bool' }, only: { type: 'string', multiple: true }, readme: { type: 'bool' } } });
    const { readmeSection, renderTable, withBenchmarkSection } = await import('../../bench/report.ts');
    if (values.readme) {
      if (!existsSync(benchResultsFile)) throw new LabError('no bench/results.json yet', 'run ./lab bench first (as root)');
      const results = JSON.parse(readFileSync(benchResultsFile, 'utf8'));
      const readme = at('README.md');
      await writeFileAtomic(readme, withBenchmarkSection(readFileSync(readme, 'utf8'), readmeSection(results)));
      say(`README.md: Benchmarks section regenerated from bench/results.json (${results.date})`);
      return 0;
    }
    const { benchmarkNames, runBenchmarks } = await import('../../bench/run.ts');
    const only = values.only;
    for (const o of only ?? []) {
      if (!(benchmarkNames as readonly string[]).includes(o)) throw new LabError(`unknown benchmark ${shown(o)}`, `pick from: ${benchmarkNames.join(', ')}`);
    }
    if (process.getuid?.() !== 0) throw new LabError('the benchmarks attach real probes', 'run as root: sudo ./lab bench');
    await buildAll({}, ['server', 'addon', 'cilium', 'bench']);
    const results = await runBenchmarks({ only: only as Parameters<typeof runBenchmarks>[0]['only'], quick: values.quick });
    const partial = values.quick || only !== undefined;
    const file = partial ? at('.lab', 'bench-partial.json') : benchResultsFile;
    mkdirSync(at('.lab'), { recursive: true });
    await writeFileAtomic(file, JSON.stringify(results, null, 2) + '\n');
    process.stdout.write(renderTable(results.summary) + '\n');
    say(`results: ${file}${partial ? ' (partial run: bench/results.json untouched)' : ' — ./lab bench --readme puts the table in README.md'}`);
    return 0;
  },
};
