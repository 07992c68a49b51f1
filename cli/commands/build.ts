import { parse, type Command } from '../command.ts';
import { buildAll, targetIds } from '../build.ts';

export const buildCommand: Command = {
  name: 'build',
  summary: 'build the Go server, BPF objects, addon and site (incremental)',
  usage: './lab build [--go=/path/to/go] [target…]   e.g. ./lab build --go=/usr/lib/go-1.19/bin/go server',
  async run(argv) {
    const { values, positionals } = parse('build', argv, {
      flags: { go: { type: 'program' } },
      positionals: { name: 'target', max: targetIds.length, values: targetIds },
    });
    await buildAll({ go: values.go }, positionals.length ? positionals : undefined);
  },
};
