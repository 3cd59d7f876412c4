// The pieces every command shares: --help through runCommand, the option helpers and the lines of an input.
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { flag, helpText, option, runCommand, type Command } from '../src/cli/args.js';
import { lines } from '../src/cli/data.js';

const root = fileURLToPath(new URL('..', import.meta.url));

function rnnkit(args: string[]): Promise<{ code: number | null; out: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [join(root, 'dist/cli/main.js'), ...args], { stdio: ['ignore', 'pipe', 'ignore'] });
    let out = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => { out += d; });
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, out }));
  });
}

describe('runCommand', () => {
  afterEach(() => { vi.restoreAllMocks(); });
  const cmd = (run: Command['run']): Command => ({
    name: 'demo', usage: 'rnnkit demo [--size <n>]', summary: 'A demo.', maxPositionals: 0,
    options: { size: option('<n>', 'how many'), loud: flag('louder') }, run,
  });

  it('--help prints the help text made from the spec, runs nothing, and exits 0', async () => {
    const write = vi.spyOn(process.stdout, 'write').mockImplementation(() => true);
    const run = vi.fn(() => 7);
    const c = cmd(run);
    await expect(runCommand(c, ['--size', '3', '-h'])).resolves.toBe(0);
    expect(run).not.toHaveBeenCalled();
    expect(write).toHaveBeenCalledWith(helpText(c) + '\n');
    expect(helpText(c)).toMatch(/--size <n>\s+how many\n\s+--loud\s+louder/);
  });

  it('otherwise runs the command on the parsed options and returns its exit code', async () => {
    const c = cmd((a) => a.int('size', 1)! + (a.flag('loud') ? 100 : 0));
    await expect(runCommand(c, ['--size', '3', '--loud'])).resolves.toBe(103);
    await expect(runCommand(c, ['--size', '0'])).rejects.toThrow(/--size: expected a positive integer/);
  });
});

describe.concurrent('every command answers --help one way', () => {
  it.for(['train', 'train lm', 'complete', 'generate', 'classify', 'forecast', 'evaluate', 'bench', 'info'])(
    'rnnkit %s --help', async (line, { expect }) => {
      const args = line.split(' ');
      const r = await rnnkit([...args, '--help']);
      expect(r.code).toBe(0);
      expect(r.out).toMatch(new RegExp(`^usage: rnnkit ${line} `));
      if (args.length === 1) expect((await rnnkit(['help', line])).out).toBe(r.out); // = "rnnkit help <command>"
    });
});

describe('lines()', () => {
  it('drops line ends (\\n, \\r\\n) and blank lines, and numbers the lines from 1', () => {
    expect(lines('a\r\n\n  \nb c\nd\r\n')).toEqual([{ line: 1, text: 'a' }, { line: 4, text: 'b c' }, { line: 5, text: 'd' }]);
  });
});
