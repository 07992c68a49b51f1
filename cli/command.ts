import { isAbsolute, resolve } from 'node:path';
import { LabError } from '../core/errors.ts';

export interface Command {
  name: string;
  /** One line for `./lab help`. */
  summary: string;
  /** Shown by `./lab <name> --help`. */
  usage: string;
  run(argv: string[]): Promise<number | void>;
}

/**
 * A declared flag. `string` and `enum` with `multiple` take repeats and comma lists; `int` is
 * decimal only, within [min, max]; `path` is resolved against the directory ./lab was run from;
 * `program` is a command on PATH (`go`) or, when it has a slash, a path like `path`.
 */
export type FlagSpec =
  | { type: 'string'; default?: string; multiple?: boolean }
  | { type: 'path' | 'program'; default?: string }
  | { type: 'int'; min: number; max: number; default?: number }
  | { type: 'bool' }
  | { type: 'enum'; values: readonly string[]; default?: string; multiple?: boolean };

export interface PositionalSpec {
  /** Shown in messages, e.g. "target". */
  name: string;
  /** How many may be given; default 0..1. */
  min?: number;
  max?: number;
  /** When set, each one must be one of these. */
  values?: readonly string[];
}

export interface ArgSpec<F extends Record<string, FlagSpec>> {
  flags?: F;
  positionals?: PositionalSpec;
}

type Value<S extends FlagSpec> = S extends { type: 'bool' }
  ? boolean
  : S extends { type: 'int' }
    ? number
    : S extends { type: 'enum'; values: readonly (infer V)[] }
      ? S extends { multiple: true }
        ? V[]
        : V
      : S extends { multiple: true }
        ? string[]
        : string;
type Given<S extends FlagSpec> = S extends { type: 'bool' } ? true : S extends { default: unknown } ? true : false;
export type Values<F extends Record<string, FlagSpec>> = {
  [K in keyof F]: Given<F[K]> extends true ? Value<F[K]> : Value<F[K]> | undefined;
};

/** A bad command line: the user's mistake, said in one line. */
export class UsageError extends LabError {}

/** A value as messages show it: quoted, control characters escaped, at most 80 characters. */
export function shown(value: string, max = 80): string {
  const cut = value.length > max ? `${value.slice(0, max)}…` : value;
  return JSON.stringify(cut);
}

/** The directory the user ran ./lab from (the wrapper changes to the repo root and passes it on). */
export function callerDir(): string {
  return process.env.LAB_CALLER_CWD || process.cwd();
}

/**
 * The lab's one argument parser: declared flags only, each value checked against its type,
 * declared positionals only. `command` names the command in messages (./lab <command> --help).
 */
export function parse<F extends Record<string, FlagSpec> = Record<string, never>>(
  command: string,
  argv: string[],
  spec: ArgSpec<F> = {},
): { values: Values<F>; positionals: string[] } {
  const flags = (spec.flags ?? {}) as Record<string, FlagSpec>;
  const help = `see ./lab ${command} --help`;
  const values: Record<string, unknown> = {};
  const positionals: string[] = [];
  let onlyPositionals = false;
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    if (onlyPositionals || !arg.startsWith('-') || arg === '-') {
      positionals.push(arg);
      continue;
    }
    if (arg === '--') {
      onlyPositionals = true;
      continue;
    }
    const m = /^--([^=]+)(?:=([^]*))?$/.exec(arg);
    const name = m?.[1];
    const flag = name !== undefined && Object.hasOwn(flags, name) ? flags[name] : undefined;
    if (!m || !flag) {
      const known = Object.keys(flags).map((f) => `--${f}`);
      throw new UsageError(
        `./lab ${command}: unknown flag ${shown(arg.split('=')[0])}`,
        known.length ? `its flags: ${known.join(', ')} (${help})` : `it takes no flags (${help})`,
      );
    }
    if (flag.type === 'bool') {
      if (m[2] !== undefined)
        throw new UsageError(`--${name} takes no value (got ${shown(m[2])})`, `write just --${name}`);
      values[name!] = true;
      continue;
    }
    let text = m[2];
    if (text === undefined) {
      if (i + 1 >= argv.length || argv[i + 1].startsWith('--'))
        throw new UsageError(`--${name} needs a value`, `write --${name}=VALUE (${help})`);
      text = argv[++i];
    }
    const value = check(name!, flag, text, help);
    if ('multiple' in flag && flag.multiple)
      values[name!] = [...((values[name!] as string[]) ?? []), ...(value as string[])];
    else if (values[name!] !== undefined) throw new UsageError(`--${name} is given twice`, `give it once (${help})`);
    else values[name!] = value;
  }
  for (const [name, flag] of Object.entries(flags)) {
    if (values[name] !== undefined) continue;
    if (flag.type === 'bool') values[name] = false;
    else if ('default' in flag && flag.default !== undefined)
      values[name] = flag.type === 'path' ? resolve(callerDir(), flag.default) : flag.default;
  }
  const p = spec.positionals;
  const [min, max] = [p?.min ?? 0, p ? (p.max ?? 1) : 0];
  if (positionals.length > max) {
    const stray = positionals[max];
    throw new UsageError(
      `./lab ${command}: unexpected argument ${shown(stray)}`,
      p ? `it takes at most ${max} ${p.name}${max === 1 ? '' : 's'} (${help})` : `it takes no arguments (${help})`,
    );
  }
  if (p && positionals.length < min) throw new UsageError(`./lab ${command} needs a ${p.name}`, help);
  for (const v of positionals) {
    if (p?.values && !p.values.includes(v))
      throw new UsageError(`unknown ${p.name} ${shown(v)}`, `pick from: ${p.values.join(', ')}`);
    if (v === '') throw new UsageError(`an empty ${p?.name ?? 'argument'}`, help);
  }
  return { values: values as Values<F>, positionals };
}

/** No flag takes a value longer than a path can be, or one with control characters in it. */
const maxValue = 4096;

function check(name: string, flag: Exclude<FlagSpec, { type: 'bool' }>, text: string, help: string): unknown {
  if (text === '') throw new UsageError(`--${name} is empty`, `give it a value or leave it out (${help})`);
  if (text.length > maxValue)
    throw new UsageError(`--${name} is ${text.length} characters long (${shown(text, 40)})`, `at most ${maxValue}`);
  if (/[\u0000-\u001f\u007f-\u009f]/.test(text))
    throw new UsageError(`--${name} ${shown(text)} has control characters`, 'type it without them');
  switch (flag.type) {
    case 'string':
      return flag.multiple ? items(name, text) : text;
    case 'program':
    case 'path':
      if (flag.type === 'program' && !text.includes('/')) return text;
      return isAbsolute(text) ? text : resolve(callerDir(), text);
    case 'int': {
      const range = `${flag.min}..${flag.max}`;
      if (!/^-?\d{1,16}$/.test(text))
        throw new UsageError(`--${name} ${shown(text)} is not a decimal whole number`, `pass a number in ${range}`);
      const n = Number(text);
      if (n < flag.min || n > flag.max)
        throw new UsageError(`--${name} ${n} is out of range`, `pass a number in ${range}`);
      return n;
    }
    case 'enum': {
      const picked = flag.multiple ? items(name, text) : [text];
      const bad = picked.find((v) => !flag.values.includes(v));
      if (bad !== undefined)
        throw new UsageError(
          `--${name} ${shown(bad)} is not one of its values`,
          `pick from: ${flag.values.join(', ')}`,
        );
      return flag.multiple ? picked : text;
    }
  }
}

/** A comma list: no empty items. */
function items(name: string, text: string): string[] {
  const list = text.split(',').map((s) => s.trim());
  if (list.some((s) => s === ''))
    throw new UsageError(`--${name} ${shown(text)} has an empty item`, `write --${name}=a,b or repeat --${name}`);
  return list;
}
