import { commands } from './commands/index.ts';
import { LabError } from '../core/errors.ts';

async function main(argv: string[]): Promise<number> {
  const [name = 'help', ...rest] = argv;
  const cmd = commands.find((c) => c.name === name);
  if (!cmd) {
    console.error(`[lab] unknown command "${name}" — run ./lab help for the list`);
    return 2;
  }
  if (rest.includes('--help') || rest.includes('-h')) {
    console.log(`${cmd.name}: ${cmd.summary}\nusage: ${cmd.usage}`);
    return 0;
  }
  return (await cmd.run(rest)) ?? 0;
}

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (err: unknown) => {
    if (err instanceof LabError || (err instanceof TypeError && (err as { code?: string }).code?.startsWith('ERR_PARSE_ARGS'))) {
      console.error(`[lab] ${(err as Error).message}`);
    } else {
      console.error(err);
    }
    process.exitCode = 1;
  },
);
