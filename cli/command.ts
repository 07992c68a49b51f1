import { parseArgs, type ParseArgsConfig } from 'node:util';

export interface Command {
  name: string;
  /** One line for `./lab help`. */
  summary: string;
  /** Shown by `./lab <name> --help`. */
  usage: string;
  run(argv: string[]): Promise<number | void>;
}

/** node:util parseArgs with the lab's conventions: strict, --help handled by the caller. */
export function flags<T extends NonNullable<ParseArgsConfig['options']>>(argv: string[], options: T) {
  return parseArgs({ args: argv, options, strict: true, allowPositionals: true });
}
