import type { Command } from '../command.ts';
import { ensureSetup } from '../setup.ts';
import { buildAll } from '../build.ts';
import { runAppCommand } from './run-app.ts';

export const startCommand: Command = {
  name: 'start',
  summary: 'the main job: install what is missing, build, start the lab and print its URLs',
  usage: './lab start',
  async run(argv) {
    await ensureSetup();
    await buildAll();
    return runAppCommand.run(argv);
  },
};
