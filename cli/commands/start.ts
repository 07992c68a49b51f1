import { parse, type Command } from '../command.ts';
import { ensureSetup } from '../setup.ts';
import { buildAll } from '../build.ts';
import { defaultServerAddr } from '../../core/paths.ts';
import { say, step } from '../../core/ui.ts';
import { accessDays } from '../../model/site-access.ts';

export const startCommand: Command = {
  name: 'start',
  summary: 'the main job: install what is missing, build, start Jupyter + the site + the demo server, print URLs',
  usage:
    './lab start [--site-port=N] [--jupyter-port=N] [--no-app] [--terminals]\n' +
    '  everything listens on 127.0.0.1; Ctrl-C stops it all (and releases every probe the notebooks attached)\n' +
    '  --terminals: JupyterLab terminals too (a root shell for whoever holds the token; off by default)',
  async run(argv) {
    const { values } = parse('start', argv, {
      flags: {
        'site-port': { type: 'int', min: 0, max: 65535, default: 0 },
        'jupyter-port': { type: 'int', min: 0, max: 65535, default: 0 },
        'no-app': { type: 'bool' },
        terminals: { type: 'bool' },
      },
    });
    const started = Date.now();
    await ensureSetup();
    await buildAll();
    const { startJupyter } = await import('../../engines/services/jupyter.ts');
    const { siteServe } = await import('../../engines/services/site.ts');
    const { ManagedServer } = await import('../../engines/managed-server.ts');

    const jupyter = await step('start JupyterLab (tslab kernel)', () =>
      startJupyter({ port: values['jupyter-port'], terminals: values.terminals }),
    );
    const site = await step('serve the docs site', () =>
      siteServe({ port: values['site-port'], jupyter: { url: jupyter.url, token: jupyter.token }, control: true }),
    );
    const app = values['no-app']
      ? undefined
      : await ManagedServer.start({
          addr: defaultServerAddr,
          onOutput: (t) => process.stdout.write(`[server] ${t}`),
        }).catch((e: Error) => {
          say(`demo server not started: ${e.message}`);
          return undefined;
        });

    console.log(`
  The lab is running (${((Date.now() - started) / 1000).toFixed(1)} s):

    Docs site     ${site.grantUrl ?? site.url}
                  (works once: this browser may run the notebook cells for ${accessDays} days, then ${site.url};
                   ./lab open prints a link for another browser, ./lab open --revoke shuts them all out)
    JupyterLab    ${jupyter.url}lab?token=${jupyter.token}
    Notebooks     ${jupyter.url}lab/tree/notebooks?token=${jupyter.token}
${app ? `    Demo server   ${app.url}/?arg=42   (curl 'localhost:8091?arg=42')\n` : ''}
  Ctrl-C stops everything.`);

    const signals = ['SIGINT', 'SIGTERM', 'SIGHUP'] as const;
    await new Promise<void>((resolve) => signals.forEach((s) => process.once(s, () => resolve())));
    // A second signal while stopping ends the process at once; its exit hooks still kill Jupyter and its kernels.
    signals.forEach((s) => process.once(s, () => process.exit(130)));
    say('stopping…');
    await Promise.allSettled([app?.stop(), site.stop(), jupyter.stop()]);
    say('stopped: Jupyter, the site and the demo server are down');
    // Everything we started is down: a handle something else still holds open must not keep the command up.
    setTimeout(() => process.exit(), 3000).unref();
  },
};
