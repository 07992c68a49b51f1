import { parse, type Command } from '../command.ts';

export function helpCommand(all: () => Command[]): Command {
  return {
    name: 'help',
    summary: 'list every command (./lab <command> --help for its options)',
    usage: './lab help',
    async run(argv) {
      parse('help', argv);
      const cmds = all();
      const width = Math.max(...cmds.map((c) => c.name.length));
      console.log('Go uretprobe lab — usage: ./lab <command> [options]\n');
      for (const c of cmds) console.log(`  ${c.name.padEnd(width)}  ${c.summary}`);
      console.log('\nQuick start: ./lab start   (then ./lab test; ./lab open lets another browser in)');
    },
  };
}
