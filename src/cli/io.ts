// Reading a command's input (a file, or stdin for "-" or when stdin is piped) and writing its output.
import { constants } from 'node:fs';
import { access, readFile, stat } from 'node:fs/promises';
import { dirname, resolve } from 'node:path';
import { RnnkitError } from '../errors.js';
import { errnoCode, errnoReason, readError } from '../io/errno.js';
import { UsageError } from './args.js';

export interface Input {
  text: string;
  /** The file name, or "stdin". */
  name: string;
}

async function readStdin(): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const c of process.stdin) chunks.push(typeof c === 'string' ? Buffer.from(c) : (c as Buffer));
  return Buffer.concat(chunks).toString('utf8');
}

export function stdinIsPiped(): boolean {
  return !process.stdin.isTTY;
}

/**
 * The text of `path`, or of stdin when `path` is "-", or when it is omitted and stdin is not a terminal.
 * `what` names the missing input in the usage error ("--data <file|->"). One rule for every command: an
 * input with nothing but white space in it is a usage error (exit 2), from stdin or from a file.
 */
export async function readInput(path: string | undefined, what: string, command: string): Promise<Input> {
  let input: Input;
  if (path === '-' || (path === undefined && stdinIsPiped())) {
    input = { text: await readStdin(), name: 'stdin' };
  } else if (path === undefined) {
    throw new UsageError(`missing ${what} (or pipe the data on stdin)`, command);
  } else {
    input = { text: await readFileText(path), name: path };
  }
  if (input.text.trim() === '') throw new UsageError(`missing ${what}: ${input.name} is empty`, command);
  return input;
}

async function readFileText(path: string): Promise<string> {
  try {
    return await readFile(path, 'utf8');
  } catch (e) {
    throw readError(path, e);
  }
}

/** Fails early (before a long training run) when `path` cannot be written: no such directory, or read-only. */
export async function checkWritable(path: string): Promise<void> {
  const dir = dirname(resolve(path));
  try {
    const st = await stat(dir);
    if (!st.isDirectory()) throw new RnnkitError('E_IO', `cannot write ${path}: ${dir} is not a directory`);
    await access(dir, constants.W_OK);
  } catch (e) {
    if (e instanceof RnnkitError) throw e;
    // Which directory, and what about it: the two causes a user can fix; anything else in the shared words.
    const code = errnoCode(e);
    const why = code === 'ENOENT' ? `the directory ${dir} does not exist` : code === 'EACCES' ? `the directory ${dir} is not writable` : errnoReason(e);
    throw new RnnkitError('E_IO', `cannot write ${path}: ${why}`, { cause: e });
  }
  try {
    if ((await stat(path)).isDirectory()) throw new RnnkitError('E_IO', `cannot write ${path}: it is a directory`);
  } catch (e) {
    if (e instanceof RnnkitError) throw e; // a missing file is fine: it will be created
  }
}

/** Writes text and a new line to stdout. */
export function out(text: string): void {
  process.stdout.write(text + '\n');
}

export function outJson(value: unknown): void {
  process.stdout.write(JSON.stringify(value, null, 2) + '\n');
}

export function note(text: string): void {
  process.stderr.write(`rnnkit: ${text}\n`);
}

/** A token shown so that whitespace is visible: "a", "\n", " ". */
export function showToken(t: string): string {
  return JSON.stringify(t);
}

/** 4 significant digits, without exponent noise for ordinary values. */
export function fmt(x: number | undefined): string {
  if (x === undefined || Number.isNaN(x)) return '-';
  if (x !== 0 && (Math.abs(x) >= 1e6 || Math.abs(x) < 1e-3)) return x.toExponential(3);
  return String(Number(x.toPrecision(4)));
}
