import { parse, type Command } from '../command.ts';
import { ensureSetup } from '../setup.ts';
import { buildAll } from '../build.ts';
import { say } from '../../core/ui.ts';

export const setupCommand: Command = {
  name: 'setup',
  summary: 'install what is missing (Debian packages, npm, Python venv) and build; idempotent',
  usage: './lab setup   — safe to re-run: a ready machine finishes in seconds and says so',
  async run(argv) {
    parse('setup', argv);
    const started = Date.now();
    const worked = await ensureSetup();
    await buildAll();
    const secs = ((Date.now() - started) / 1000).toFixed(1);
    say(worked === 0 ? `nothing to install: everything was already set up (${secs} s)` : `set-up complete (${secs} s)`);
  },
};
