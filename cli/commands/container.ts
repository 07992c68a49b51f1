import { spawn } from 'node:child_process';
import { parse, UsageError, type Command } from '../command.ts';
import { LabError } from '../../core/errors.ts';
import { say, step } from '../../core/ui.ts';

export const containerCommand: Command = {
  name: 'container',
  summary: 'the lab in a container for one learner: build the image, ./lab start or ./lab doctor inside it (Podman)',
  usage:
    './lab container build                       the image from Debian packages (mmdebstrap), Node and Go; cached by its inputs\n' +
    './lab container start [--site-port=N] [--jupyter-port=N] [--no-app]\n' +
    '                                            ./lab start inside it: privileged on this kernel, host PIDs and network,\n' +
    '                                            this checkout mounted; Ctrl-C stops it and removes the container\n' +
    "./lab container doctor [--json]             ./lab doctor inside it: what this host's kernel lacks, if anything\n" +
    '  each builds the image first when it is missing, and prints the podman command it runs (root only)',
  async run(argv) {
    const { values, positionals } = parse('container', argv, {
      positionals: { name: 'subcommand', min: 1, max: 1, values: ['build', 'start', 'doctor'] },
      flags: {
        'site-port': { type: 'int', min: 0, max: 65535 },
        'jupyter-port': { type: 'int', min: 0, max: 65535 },
        'no-app': { type: 'bool' },
        json: { type: 'bool' },
      },
    });
    const action = positionals[0];
    const startOnly = ['site-port', 'jupyter-port', 'no-app'] as const;
    const misplaced = action !== 'start' ? startOnly.find((f) => values[f]) : values.json ? 'json' : undefined;
    if (misplaced) throw new UsageError(`--${misplaced} does not go with ${action}`, 'see ./lab container --help');
    if (process.getuid?.() !== 0)
      throw new LabError('the lab container is privileged on this kernel', 'run it as root: sudo ./lab container …');

    const { ensureImage } = await import('../../engines/container/image.ts');
    const image = action === 'build' ? await ensureImage() : await step('the lab image', () => ensureImage());
    say(
      image.built
        ? `built ${image.ref} (${image.seconds.toFixed(0)} s)`
        : `${image.ref} is up to date: its inputs did not change (${image.seconds.toFixed(1)} s)`,
    );
    if (action === 'build') return;

    const labArgs =
      action === 'start'
        ? [
            'start',
            ...(values['site-port'] !== undefined ? [`--site-port=${values['site-port']}`] : []),
            ...(values['jupyter-port'] !== undefined ? [`--jupyter-port=${values['jupyter-port']}`] : []),
            ...(values['no-app'] ? ['--no-app'] : []),
          ]
        : ['doctor', ...(values.json ? ['--json'] : [])];
    return runInContainer(labArgs, image.ref);
  },
};

/**
 * Runs podman in the foreground with this terminal. Ctrl-C reaches podman from the terminal (same
 * process group), which passes it to the lab inside; a SIGTERM or SIGHUP sent to this process is
 * passed on; should this process die outright, setpriv's parent-death signal stops podman, which
 * stops the container (--rm removes it).
 */
async function runInContainer(labArgs: string[], image: string): Promise<number> {
  const { labContainerCommand } = await import('../../engines/container/lab.ts');
  const { podman } = await import('../../engines/container/podman.ts');
  const c = labContainerCommand(labArgs, { image });
  say(`running: ${c.line}`);
  const child = spawn('setpriv', ['--pdeathsig=SIGTERM', ...c.argv], {
    stdio: 'inherit',
    env: { ...process.env, ...c.env },
  });
  const pass = (s: NodeJS.Signals) => () => child.kill(s);
  const handlers = { SIGINT: () => undefined, SIGTERM: pass('SIGTERM'), SIGHUP: pass('SIGHUP') };
  for (const [s, h] of Object.entries(handlers)) process.on(s, h);
  const code = await new Promise<number>((resolve, reject) => {
    child.once('error', (e) => reject(new LabError(`cannot run podman: ${e.message}`, 'install podman (./lab setup)')));
    child.once('close', (code, signal) => resolve(code ?? (signal ? 128 : 1)));
  });
  for (const [s, h] of Object.entries(handlers)) process.off(s, h);
  // --rm removes it when podman sees it end; this covers a podman that was itself killed.
  await podman(['rm', '--force', '--ignore', c.name], { capture: true }).catch(() => undefined);
  return code;
}
