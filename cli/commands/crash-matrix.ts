import { mkdir, writeFile } from 'node:fs/promises';
import { dirname } from 'node:path';
import { flags, type Command } from '../command.ts';
import { buildAll } from '../build.ts';
import { availableToolchains, goToolchain } from '../../core/go.ts';
import { at } from '../../core/paths.ts';
import { say } from '../../core/ui.ts';
import { LabError } from '../../core/errors.ts';

export const crashMatrixPath = at('docs', 'data', 'crash-matrix.json');

/** Stores a matrix for the site (docs/data) and the README's generated table. */
async function saveMatrix(matrix: import('../../engines/crash-matrix.ts').CrashMatrix): Promise<void> {
  const { renderMatrixMarkdown } = await import('../../engines/crash-matrix.ts');
  const { updateReadmeBlock } = await import('../../engines/readme.ts');
  await mkdir(dirname(crashMatrixPath), { recursive: true });
  await writeFile(crashMatrixPath, JSON.stringify(matrix, null, 2) + '\n');
  await updateReadmeBlock('crash-matrix', '## The crash matrix', renderMatrixMarkdown(matrix));
}

export const crashMatrixCommand: Command = {
  name: 'crash-matrix',
  summary: 'run every crash trigger under every probe kind and Go toolchain; classify each cell',
  usage:
    './lab crash-matrix [--json] [--write] [--go=PATH…] [--no-fetch] [--trigger=ID…] [--probe=KIND…]\n' +
    '  triggers: plain, stack-growth, gc, panic-through, recover-inside, callers, debug-stack, thread-hop\n  probes: none, uprobe, uretprobe, ret\n' +
    '  --write stores the result in docs/data/crash-matrix.json (the site) and the README table; --no-fetch skips Go 1.27.3 from the module proxy',
  async run(argv) {
    // Loaded here so `./lab help` works before the tracer is built.
    const { probeKinds, renderMatrixText, runCrashMatrix, triggers } = await import('../../engines/crash-matrix.ts');
    type ProbeKind = (typeof probeKinds)[number];
    const { values } = flags(argv, {
      json: { type: 'boolean' },
      write: { type: 'boolean' },
      go: { type: 'string', multiple: true },
      'no-fetch': { type: 'boolean' },
      trigger: { type: 'string', multiple: true },
      probe: { type: 'string', multiple: true },
    });
    const chosen = values.trigger ? triggers.filter((t) => values.trigger!.includes(t.id)) : triggers;
    if (values.trigger && chosen.length !== values.trigger.length) {
      throw new LabError(`unknown trigger in ${values.trigger.join(',')}`, `pick from: ${triggers.map((t) => t.id).join(', ')}`);
    }
    const probes = (values.probe ?? [...probeKinds]) as ProbeKind[];
    const badProbe = probes.find((p) => !probeKinds.includes(p));
    if (badProbe) throw new LabError(`unknown probe kind ${badProbe}`, `pick from: ${probeKinds.join(', ')}`);
    await buildAll({}, ['server', 'addon']);
    const toolchains = values.go
      ? await Promise.all(values.go.map((g) => goToolchain(g)))
      : await availableToolchains({ fetchNewer: !values['no-fetch'] });
    say(`crash matrix: ${chosen.length} triggers × ${probes.length} probe kinds × ${toolchains.map((t) => t.version).join(', ')}`);
    const matrix = await runCrashMatrix({
      toolchains,
      triggers: chosen,
      probes,
      onCell: (c) => say(`  ${c.go} ${c.trigger.padEnd(15)} × ${c.probe.padEnd(9)} → ${c.outcome}${c.signature ? `: ${c.signature}` : c.wrong ? `: ${c.wrong}` : ''}`),
    });
    if (values.write) {
      await saveMatrix(matrix);
      say(`wrote ${crashMatrixPath} and the README's crash-matrix table`);
    }
    console.log(values.json ? JSON.stringify(matrix, null, 2) : renderMatrixText(matrix));
  },
};
