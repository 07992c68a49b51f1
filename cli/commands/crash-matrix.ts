import { existsSync } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import { dirname, isAbsolute, resolve } from 'node:path';
import { callerDir, parse, type Command } from '../command.ts';
import { writeFileAtomic } from '../../core/files.ts';
import { buildAll } from '../build.ts';
import { availableToolchains, goToolchain } from '../../core/go.ts';
import { at, serverBinary } from '../../core/paths.ts';
import { renderEndpointsMarkdown, serverListing } from '../../engines/server-listing.ts';
import { say } from '../../core/ui.ts';
import { probeKindNames } from '../../bpf/ts/probe-kinds.ts';

export const crashMatrixPath = at('docs', 'data', 'crash-matrix.json');

/**
 * Stores a run for the site (docs/data) and the README's generated tables (the matrix and the
 * server's endpoints), merged into the recorded matrix: a partial run replaces only its own cells.
 */
async function saveMatrix(run: import('../../engines/crash-matrix.ts').CrashMatrix): Promise<void> {
  const { mergeMatrix, readMatrix, renderMatrixMarkdown } = await import('../../engines/crash-matrix.ts');
  const { updateReadmeBlock } = await import('../../engines/readme.ts');
  const matrix = existsSync(crashMatrixPath) ? mergeMatrix(readMatrix(crashMatrixPath), run) : run;
  await mkdir(dirname(crashMatrixPath), { recursive: true });
  await writeFileAtomic(crashMatrixPath, JSON.stringify(matrix, null, 2) + '\n');
  await updateReadmeBlock('crash-matrix', '## The crash matrix', renderMatrixMarkdown(matrix));
  await updateReadmeBlock('endpoints', '## The server', renderEndpointsMarkdown(serverListing()));
}

/** The trigger ids for the usage text, from the built server (its route table is their one source). */
function listedTriggerIds(): string {
  try {
    return serverListing()
      .triggers.map((t) => t.id)
      .join(', ');
  } catch {
    return 'those `server/server -list` prints (./lab build first)';
  }
}

export const crashMatrixCommand: Command = {
  name: 'crash-matrix',
  summary: 'run every crash trigger under every probe kind and Go toolchain; classify each cell',
  get usage() {
    return (
      './lab crash-matrix [--json] [--write] [--go=PATH…] [--no-fetch] [--trigger=ID…] [--probe=KIND…] [--repeat=N]\n' +
      `  triggers: ${listedTriggerIds()}\n  probes: none, ${probeKindNames.join(', ')}\n` +
      '  --repeat=N runs each cell N times on fresh servers and records how often each outcome happened (for the cells chance decides);\n' +
      '    with --write, a cell recorded with more runs is run that many times again, so a refresh keeps its rate\n' +
      '  --write stores the result in docs/data/crash-matrix.json (the site) and the README tables; --no-fetch skips Go 1.27.3 from the module proxy'
    );
  },
  async run(argv) {
    // Loaded here so `./lab help` works before the tracer is built.
    const { chooseTriggers, probeKinds, readMatrix, renderMatrixText, runCrashMatrix } = await import(
      '../../engines/crash-matrix.ts'
    );
    type ProbeKind = (typeof probeKinds)[number];
    const { values } = parse('crash-matrix', argv, {
      flags: {
        json: { type: 'bool' },
        write: { type: 'bool' },
        go: { type: 'string', multiple: true },
        'no-fetch': { type: 'bool' },
        trigger: { type: 'string', multiple: true },
        probe: { type: 'enum', values: probeKinds, multiple: true },
        repeat: { type: 'int', min: 1, max: 100, default: 1 },
      },
    });
    const probes: readonly ProbeKind[] = values.probe ?? probeKinds;
    const program = (g: string) => (g.includes('/') && !isAbsolute(g) ? resolve(callerDir(), g) : g);
    await buildAll({}, ['server', 'addon']);
    const chosen = chooseTriggers(serverBinary, values.trigger);
    const toolchains = values.go
      ? await Promise.all(values.go.map((g) => goToolchain(program(g))))
      : await availableToolchains({ fetchNewer: !values['no-fetch'] });
    const times = values.repeat > 1 ? `, ${values.repeat} runs each` : '';
    // A refresh keeps the recorded number of runs of a repeated cell, so its rate is not lost to one run.
    const recorded = values.write && existsSync(crashMatrixPath) ? readMatrix(crashMatrixPath) : undefined;
    const recordedRuns = (c: { go: string; trigger: string; probe: string }) =>
      recorded?.cells.find((r) => r.go === c.go && r.trigger === c.trigger && r.probe === c.probe)?.runs ?? 1;
    say(
      `crash matrix: ${chosen.length} triggers × ${probes.length} probe kinds × ${toolchains.map((t) => t.version).join(', ')}${times}`,
    );
    const matrix = await runCrashMatrix({
      toolchains,
      triggers: values.trigger,
      probes,
      repeat: (c) => Math.max(values.repeat, recordedRuns(c)),
      onCell: (c) =>
        say(
          `  ${c.go} ${c.trigger.padEnd(15)} × ${c.probe.padEnd(9)} → ${c.outcome}${c.outcomes ? ` ${JSON.stringify(c.outcomes)}` : ''}${c.signature ? `: ${c.signature}` : c.wrong ? `: ${c.wrong}` : ''}`,
        ),
    });
    if (values.write) {
      await saveMatrix(matrix);
      say(`merged into ${crashMatrixPath} and the README's crash-matrix and endpoint tables`);
    }
    console.log(values.json ? JSON.stringify(matrix, null, 2) : renderMatrixText(matrix));
  },
};
