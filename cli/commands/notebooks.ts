import { basename } from 'node:path';
import { parse, shown, type Command } from '../command.ts';
import { ensureSetup } from '../setup.ts';
import { buildAll } from '../build.ts';
import { startJupyter, stopJupytersOnSignals } from '../../engines/services/jupyter.ts';
import { notebookPaths } from '../../engines/notebook/io.ts';
import { executeNotebook, saveRecording } from '../../engines/notebook/run.ts';
import { LabError } from '../../core/errors.ts';
import { counter, say, step } from '../../core/ui.ts';

export const notebooksCommand: Command = {
  name: 'notebooks',
  summary: 'execute every notebook headless on tslab (Jupyter Server); --update records their outputs',
  usage: './lab notebooks [--update] [name…]   — names pick notebooks whose file name contains the text',
  async run(argv) {
    const { values, positionals } = parse('notebooks', argv, {
      flags: { update: { type: 'bool' } },
      positionals: { name: 'name', max: Infinity },
    });
    console.debug = () => undefined; // @jupyterlab/services logs every WebSocket it opens
    const paths = notebookPaths(positionals);
    if (paths.length === 0)
      throw new LabError(
        `no notebook matches ${positionals.map((n) => shown(n)).join(', ')}`,
        `pick from: ${notebookPaths()
          .map((p) => basename(p))
          .join(', ')}`,
      );
    await ensureSetup();
    await buildAll();
    await runNotebooks(paths, { update: values.update });
  },
};

/**
 * The notebooks command once the lab is built: one Jupyter for every notebook, stopped on every way
 * out — SIGINT (Ctrl-C), SIGTERM and SIGHUP included, kernels and all.
 */
export async function runNotebooks(paths: string[], opts: { update?: boolean } = {}): Promise<void> {
  const releaseSignals = stopJupytersOnSignals();
  let failed = 0;
  try {
    const jupyter = await step('start Jupyter (tslab kernel)', () => startJupyter());
    try {
      for (const p of paths) {
        const name = basename(p);
        const cells = counter('cell');
        const run = await step(`run ${name}`, () =>
          executeNotebook(p, jupyter, { onCell: (i, n) => cells.update(i, n) }).finally(cells.clear),
        );
        if (run.failures.length > 0) {
          failed++;
          for (const f of run.failures) say(`✗ ${name} cell ${f.cell}: ${f.reason}\n${f.text}`);
        } else if (opts.update) {
          await saveRecording(run);
          say(`recorded ${name} (${run.seconds.toFixed(1)} s)`);
        }
      }
    } finally {
      await jupyter.stop();
    }
  } finally {
    releaseSignals();
  }
  if (failed > 0) throw new LabError(`${failed} of ${paths.length} notebooks failed`, 'see the failing cells above');
  say(`${paths.length} notebooks ran without an error${opts.update ? ' and were recorded' : ''}`);
}
