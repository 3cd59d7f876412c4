#!/usr/bin/env node
// The rnnkit command line. Exit codes: 0 success, 1 the command failed, 2 bad usage.
import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { RnnkitError } from '../errors.js';
import { runInfo } from './info.js';

const USAGE = `usage: rnnkit <command> [options]

commands:
  info      show the backends that load here, the active one, and why any other does not
            (RNNKIT_BACKEND=native|wasm forces one)

options:
  --json    machine-readable output
  --help    this text
  --version the rnnkit version`;

function version(): string {
  const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string };
  return pkg.version;
}

function main(argv: string[]): number {
  let parsed;
  try {
    parsed = parseArgs({
      args: argv,
      allowPositionals: true,
      options: { json: { type: 'boolean', default: false }, help: { type: 'boolean', default: false }, version: { type: 'boolean', default: false } },
    });
  } catch (e) {
    process.stderr.write(`rnnkit: ${(e as Error).message}\n${USAGE}\n`);
    return 2;
  }
  const { values, positionals } = parsed;
  if (values.version) {
    process.stdout.write(version() + '\n');
    return 0;
  }
  const [cmd] = positionals;
  if (values.help || cmd === undefined || cmd === 'help') {
    process.stdout.write(USAGE + '\n');
    return cmd === undefined && !values.help ? 2 : 0;
  }
  switch (cmd) {
    case 'info':
      return runInfo({ json: values.json });
    default:
      process.stderr.write(`rnnkit: unknown command "${cmd}"\n${USAGE}\n`);
      return 2;
  }
}

try {
  process.exitCode = main(process.argv.slice(2));
} catch (e) {
  const code = e instanceof RnnkitError ? ` [${e.code}]` : '';
  process.stderr.write(`rnnkit: error${code}: ${(e as Error).message}\n`);
  process.exitCode = 1;
}
