// The pieces every command shares: --help through runCommand, the option helpers, the lines of an input, and
// the one definition of the benchmarks (`rnnkit bench` and bench/run.js).
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { GATES } from '../src/backend/types.js';
import { flag, helpText, option, runCommand, UsageError, type Command } from '../src/cli/args.js';
import { lines } from '../src/cli/data.js';
import { BENCHMARKS, selectBenchmarks, WORKLOADS } from '../src/cli/workloads.js';

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

describe('the benchmarks', () => {
  it('are W1, the three W2 cells, W4, W3 and W5; without names, all but the GPU-sized W4 and W5', () => {
    expect(BENCHMARKS.map((b) => b.name)).toEqual(['W1', 'W2-lstm', 'W2-gru', 'W2-rnn', 'W4', 'W3', 'W5']);
    expect(selectBenchmarks([]).map((b) => b.name)).toEqual(['W1', 'W2-lstm', 'W2-gru', 'W2-rnn', 'W3']);
    expect(selectBenchmarks(['w5', 'W4']).map((b) => b.name)).toEqual(['W5', 'W4']);
    // issue #16: W4 is LSTM 1024->1024, B256, T100 (429 GFLOP); W5 vocab 256, emb 256, LSTM 1024, B128, T128
    expect(BENCHMARKS.find((b) => b.name === 'W4')!.flops / 1e9).toBeCloseTo(429.5, 1);
    expect(BENCHMARKS.find((b) => b.name === 'W5')!.tokens).toBe(128 * 128);
  });

  it('count the FLOPs of both projections every step, with G from the table of cell kinds', () => {
    const w = WORKLOADS['W2-gru']!;
    expect(BENCHMARKS.find((b) => b.name === 'W2-gru')!.flops).toBe(2 * 100 * 32 * GATES.gru * 512 * (128 + 512));
    expect(GATES[w.kind]).toBe(3);
    const w3 = BENCHMARKS.find((b) => b.name === 'W3')!;
    expect(w3.tokens).toBe(64 * 32);
    expect(BENCHMARKS.filter((b) => b.tokens !== null).map((b) => b.name)).toEqual(['W3', 'W5']);
  });

  it('are selected by name, a group ("W2") by its name, case ignored, each once, in the order asked', () => {
    expect(selectBenchmarks(['w3', 'W2', 'W2-gru']).map((b) => b.name)).toEqual(['W3', 'W2-lstm', 'W2-gru', 'W2-rnn']);
  });

  it('refuse an unknown name with a usage error listing the known ones', () => {
    let e: unknown;
    try { selectBenchmarks(['W9'], 'bench/run.js'); } catch (x) { e = x; }
    expect(e).toBeInstanceOf(UsageError);
    expect(e).toMatchObject({ command: 'bench/run.js', message: 'unknown workload "W9"; known: W1, W2-lstm, W2-gru, W2-rnn, W4, W3, W5 (W2 runs all three W2 cells)' });
    expect(() => selectBenchmarks(['W'])).toThrow(UsageError); // a prefix is not a group
  });
});
