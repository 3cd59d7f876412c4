#!/usr/bin/env node
// The rnnkit command line: dispatches to one file per command and turns errors into exit codes.
// Exit codes: 0 success, 1 the command failed (bad model file, I/O, data), 2 bad usage, 130 interrupted.
import { readFileSync } from 'node:fs';
import { RnnkitError } from '../errors.js';
import { helpText, runCommand, UsageError, type Command } from './args.js';

const USAGE = `usage: rnnkit <command> [options]

commands:
  train     train a model: rnnkit train <lm|classify|forecast> --data <file|-> --out <model.safetensors>
  complete  the most likely next tokens after a prefix (language model)
  generate  continue a prefix by sampling (language model)
  classify  the label of each text (classifier)
  forecast  the next values of a series (forecaster)
  evaluate  loss, perplexity, accuracy or MAE/RMSE of a model on data
  gradients gradient flow through time of a language model: |dL/dh| by distance, decay, spectral radius
  bench     time the standard workloads (W1, W2, W3) on the backends that load here
  experiment RNN vs LSTM vs GRU: accuracy by distance on a long-range task (rnnkit experiment memory)
  info      show the backends that load here, the active one, and why any other does not
            (RNNKIT_BACKEND=native|wasm|cuda forces one)

options:
  --json    machine-readable output
  --help    this text; "rnnkit <command> --help" for a command's options
  --version the rnnkit version

exit codes: 0 success, 1 failure (model file, I/O, data), 2 bad usage, 130 interrupted`;

const INFO: Command = {
  name: 'info',
  usage: 'rnnkit info [--json]',
  summary: 'Shows the backends that load here, the active one, and why any other does not (RNNKIT_BACKEND=native|wasm|cuda forces one).',
  maxPositionals: 0,
  options: {},
  run: async (a) => (await import('./info.js')).runInfo({ json: a.flag('json') }),
};

interface Entry {
  run: (argv: string[]) => Promise<number>;
  /** The text of "rnnkit help <command>". */
  help: () => Promise<string>;
}

/** A command with one spec: runCommand parses its options and answers its --help. */
const command = (load: () => Promise<Command>): Entry => ({
  run: async (argv) => runCommand(await load(), argv),
  help: async () => helpText(await load()),
});

// Each command's module (and the models and backends it pulls in) loads only when that command runs.
const COMMANDS: Record<string, Entry> = {
  // train is a group: its first argument picks a task, whose spec answers "rnnkit train <task> --help"
  train: {
    run: async (argv) => (await import('./train.js')).runTrain(argv),
    help: async () => (await import('./train.js')).TRAIN_HELP,
  },
  complete: command(async () => (await import('./predict.js')).COMPLETE),
  generate: command(async () => (await import('./predict.js')).GENERATE),
  classify: command(async () => (await import('./predict.js')).CLASSIFY),
  forecast: command(async () => (await import('./predict.js')).FORECAST),
  evaluate: command(async () => (await import('./evaluate.js')).EVALUATE),
  bench: command(async () => (await import('./bench.js')).BENCH),
  gradients: command(async () => (await import('./gradients.js')).GRADIENTS),
  experiment: command(async () => (await import('./experiment.js')).EXPERIMENT),
  info: command(async () => INFO),
};

function version(): string {
  const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string };
  return pkg.version;
}

async function main(argv: string[]): Promise<number> {
  const [first, ...rest] = argv;
  if (first === '--version' || first === '-v') {
    process.stdout.write(version() + '\n');
    return 0;
  }
  if (first === undefined) {
    process.stderr.write(USAGE + '\n');
    return 2;
  }
  if (first === '--help' || first === '-h' || first === 'help') {
    const topic = first === 'help' ? rest[0] : undefined;
    const cmd = topic !== undefined ? COMMANDS[topic] : undefined;
    if (topic !== undefined && !cmd) throw new UsageError(`unknown command "${topic}"`);
    process.stdout.write((cmd ? await cmd.help() : USAGE) + '\n');
    return 0;
  }
  if (first.startsWith('-')) throw new UsageError(`unknown option ${first} (options come after the command)`);
  const cmd = COMMANDS[first];
  if (!cmd) throw new UsageError(`unknown command "${first}"`);
  return cmd.run(rest);
}

/** Whether the command line asks for JSON output (options end at "--"). */
function wantsJson(argv: string[]): boolean {
  const end = argv.indexOf('--');
  return (end < 0 ? argv : argv.slice(0, end)).includes('--json');
}

/**
 * Prints an error the way every command does, and returns its exit code. With --json the error is one JSON
 * object on stdout, where the result would have been ({"error": {"code", "message", "exitCode", ...}}), so a
 * script reading the output parses failures too; otherwise one "rnnkit: error [CODE]: ..." line on stderr.
 */
function report(e: unknown, argv: string[]): number {
  const debug = process.env.RNNKIT_DEBUG === '1';
  const usage = e instanceof UsageError;
  const exitCode = usage ? 2 : 1;
  const code = usage || e instanceof RnnkitError ? (e as UsageError | RnnkitError).code : undefined;
  const message = e instanceof Error ? e.message : String(e);
  const command = usage ? (e as UsageError).command : undefined;
  const hint = command ? `rnnkit ${command} --help` : 'rnnkit --help';
  if (wantsJson(argv)) {
    const error = { code: code ?? 'E_INTERNAL', message, exitCode, ...(command ? { command } : {}), ...(usage ? { help: hint } : {}) };
    process.stdout.write(JSON.stringify({ error }, null, 2) + '\n');
    if (debug && e instanceof Error) process.stderr.write(`${e.stack}\n`);
    return exitCode;
  }
  if (usage) {
    process.stderr.write(`rnnkit: error [${code}]: ${command ? `${command}: ` : ''}${message}\n(see "${hint}")\n`);
    return exitCode;
  }
  process.stderr.write(`rnnkit: error${code ? ` [${code}]` : ''}: ${message}\n`);
  if (debug && e instanceof Error) process.stderr.write(`${e.stack}\n`);
  else if (!(e instanceof RnnkitError)) process.stderr.write(`(rnnkit ${argv[0] ?? ''}: set RNNKIT_DEBUG=1 for the stack trace)\n`);
  return exitCode;
}

// Warnings (a text too short for the batch shape, ...) in the CLI's own voice, not Node's "(node:PID) ..." form.
process.removeAllListeners('warning');
process.on('warning', (w) => process.stderr.write(`rnnkit: warning: ${w.message}\n`));

// `rnnkit generate | head` closes our stdout early: that is the reader's choice, not a failure.
process.stdout.on('error', (e: NodeJS.ErrnoException) => {
  if (e.code === 'EPIPE') process.exit(process.exitCode ?? 0);
  throw e;
});

const argv = process.argv.slice(2);
main(argv).then(
  (code) => { process.exitCode = code; },
  (e: unknown) => { process.exitCode = report(e, argv); },
);
