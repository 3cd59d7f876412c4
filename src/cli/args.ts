// Option parsing shared by the commands: a declared set of options per command, a help text generated from
// it, and typed getters that validate numbers and choices and name the offending option. Anything wrong on the
// command line is a UsageError (exit code 2); everything else is a runtime failure (exit code 1).
import { parseArgs } from 'node:util';

export class UsageError extends Error {
  readonly code = 'E_USAGE';
  constructor(message: string, readonly command?: string) {
    super(message);
    this.name = 'UsageError';
  }
}

export interface OptionSpec {
  type: 'string' | 'boolean';
  short?: string;
  /** Placeholder for the value in the help text, e.g. "<n>". */
  arg?: string;
  help: string;
}

export type OptionSpecs = Record<string, OptionSpec>;

/** An option that takes a value, shown as `--name <arg>` in the help text. */
export const option = (arg: string, help: string): OptionSpec => ({ type: 'string', arg, help });

/** An option without a value (a flag). */
export const flag = (help: string): OptionSpec => ({ type: 'boolean', help });

export interface CommandSpec {
  name: string;
  /** "rnnkit train <task> --data <file|-> --out <model.safetensors> [options]" */
  usage: string;
  summary: string;
  options: OptionSpecs;
  /** Extra paragraphs after the options (data formats, examples). */
  notes?: string;
  /** Most positional arguments accepted. */
  maxPositionals: number;
}

/** A command: its spec (options, help text) and what it does with its parsed command line. */
export interface Command extends CommandSpec {
  run(a: Args): Promise<number> | number;
}

/** Options every command takes. */
export const COMMON: OptionSpecs = {
  json: { type: 'boolean', help: 'machine-readable output (one JSON document on stdout)' },
  help: { type: 'boolean', short: 'h', help: 'this text' },
};

export function helpText(spec: CommandSpec): string {
  const rows = Object.entries({ ...spec.options, ...COMMON }).map(([name, o]) => {
    const flag = `${o.short ? `-${o.short}, ` : '    '}--${name}${o.arg ? ` ${o.arg}` : ''}`;
    return [flag, o.help] as const;
  });
  const width = Math.max(...rows.map(([f]) => f.length)) + 2;
  const lines = [`usage: ${spec.usage}`, '', spec.summary, '', 'options:'];
  for (const [f, h] of rows) lines.push(`  ${f.padEnd(width)}${h}`);
  if (spec.notes) lines.push('', spec.notes);
  return lines.join('\n');
}

/** The parsed command line of one command, with validating getters. */
export class Args {
  constructor(
    readonly command: string,
    private readonly values: Record<string, string | boolean | undefined>,
    readonly positionals: string[],
    /** How each option was spelled on the command line ("-k" or "--top"), for messages. */
    private readonly spelled: Record<string, string> = {},
  ) {}

  private label(name: string): string {
    return this.spelled[name] ?? `--${name}`;
  }

  private fail(message: string): never {
    throw new UsageError(message, this.command);
  }

  has(name: string): boolean {
    return this.values[name] !== undefined;
  }

  flag(name: string): boolean {
    return this.values[name] === true;
  }

  str(name: string): string | undefined {
    const v = this.values[name];
    return typeof v === 'string' ? v : undefined;
  }

  required(name: string, what = 'a value'): string {
    const v = this.str(name);
    if (v === undefined) this.fail(`missing --${name} (${what})`);
    return v;
  }

  choice<T extends string>(name: string, choices: readonly T[]): T | undefined {
    const v = this.str(name);
    if (v === undefined) return undefined;
    if (!(choices as readonly string[]).includes(v)) {
      this.fail(`${this.label(name)}: expected one of ${choices.join(', ')}, found "${v}"`);
    }
    return v as T;
  }

  /** An integer in [min, max]. */
  int(name: string, min = -Infinity, max = Infinity): number | undefined {
    const v = this.str(name);
    if (v === undefined) return undefined;
    const n = /^[+-]?\d+$/.test(v.trim()) ? Number(v) : NaN;
    if (!Number.isSafeInteger(n) || n < min || n > max) this.fail(`${this.label(name)}: expected ${describeRange('an integer', min, max)}, found "${v}"`);
    return n;
  }

  /** A finite number in [min, max] (or (min, max] when minExclusive, [min, max) when maxExclusive). */
  num(name: string, range: { min?: number; max?: number; minExclusive?: boolean; maxExclusive?: boolean } = {}): number | undefined {
    const v = this.str(name);
    if (v === undefined) return undefined;
    const { min = -Infinity, max = Infinity, minExclusive = false, maxExclusive = false } = range;
    const n = v.trim() === '' ? NaN : Number(v);
    const ok = Number.isFinite(n) && (minExclusive ? n > min : n >= min) && (maxExclusive ? n < max : n <= max);
    if (!ok) this.fail(`${this.label(name)}: expected ${describeRange('a number', min, max, minExclusive, maxExclusive)}, found "${v}"`);
    return n;
  }

  /** The i-th positional argument, or a usage error naming it when it is required and missing. */
  positional(i: number, name: string, required: true): string;
  positional(i: number, name: string, required?: false): string | undefined;
  positional(i: number, name: string, required = false): string | undefined {
    const v = this.positionals[i];
    if (v === undefined && required) this.fail(`missing <${name}>`);
    return v;
  }
}

function describeRange(kind: string, min: number, max: number, minEx = false, maxEx = false): string {
  if (min === -Infinity && max === Infinity) return kind;
  if (max === Infinity) {
    if (kind === 'an integer' && min === 1) return 'a positive integer';
    if (kind === 'an integer' && min === 0) return 'a non-negative integer';
    if (min === 0 && minEx) return 'a positive number';
    return `${kind} ${minEx ? '>' : '>='} ${min}`;
  }
  return `${kind} in ${minEx ? '(' : '['}${min}, ${max}${maxEx ? ')' : ']'}`;
}

/**
 * Parses argv against the command's options. Unknown options, missing values and surplus positionals are
 * usage errors that name the option; `--` ends the options.
 */
export function parseCommand(spec: CommandSpec, argv: string[]): Args {
  const all = { ...spec.options, ...COMMON };
  const options: Record<string, { type: 'string' | 'boolean'; short?: string }> = {};
  for (const [name, o] of Object.entries(all)) options[name] = { type: o.type, ...(o.short ? { short: o.short } : {}) };
  // Non-strict, with tokens, so every complaint can be worded here and name the option as typed.
  const { tokens } = parseArgs({ args: argv, options, strict: false, allowPositionals: true, tokens: true });
  const values: Record<string, string | boolean | undefined> = {};
  const spelled: Record<string, string> = {};
  const positionals: string[] = [];
  const fail = (m: string) => new UsageError(m, spec.name);
  for (const t of tokens) {
    if (t.kind === 'positional') { positionals.push(t.value); continue; }
    if (t.kind !== 'option') continue;
    const o = all[t.name];
    if (!o) throw fail(`unknown option ${t.rawName}`);
    if (o.type === 'string') {
      if (t.value === undefined) throw fail(`option ${t.rawName} needs a value${o.arg ? ` ${o.arg}` : ''}`);
      values[t.name] = t.value;
      spelled[t.name] = t.rawName;
    } else {
      if (t.inlineValue) throw fail(`option ${t.rawName} takes no value`);
      values[t.name] = true;
    }
  }
  if (values.help !== true && positionals.length > spec.maxPositionals) {
    throw fail(`unexpected argument "${positionals[spec.maxPositionals]}"`);
  }
  return new Args(spec.name, values, positionals, spelled);
}

/**
 * Runs a command on its part of argv: with --help (-h) prints the help text made from its spec and runs
 * nothing (exit code 0). Every command's --help is handled here, so all of them behave alike.
 */
export async function runCommand(cmd: Command, argv: string[]): Promise<number> {
  const a = parseCommand(cmd, argv);
  if (a.flag('help')) {
    process.stdout.write(helpText(cmd) + '\n');
    return 0;
  }
  return cmd.run(a);
}

/** Turns the escapes \n \t \r \\ in a command-line string into the characters they name. */
export function unescape(s: string): string {
  return s.replace(/\\(.)/g, (m, c: string) => ({ n: '\n', t: '\t', r: '\r', '\\': '\\', '0': '\0' })[c] ?? m);
}
