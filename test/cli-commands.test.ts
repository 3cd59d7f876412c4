// The rnnkit commands in a subprocess, end to end: train tiny models, then complete, generate, classify,
// forecast and evaluate with them; usage errors exit 2 naming the option; bad model files exit 1 with a code;
// Ctrl-C during training exits 130 and leaves a loadable model.
import { spawn } from 'node:child_process';
import { cpSync, existsSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const root = fileURLToPath(new URL('..', import.meta.url));
const dir = mkdtempSync(join(tmpdir(), 'rnnkit-cli-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const at = (name: string) => join(dir, name);

interface Run { code: number | null; out: string; err: string }

/** Runs the built CLI in a subprocess (asynchronously, so independent runs can overlap). */
function rnnkit(args: string[], opts: { input?: string; env?: Record<string, string>; pkg?: string } = {}): Promise<Run> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [join(opts.pkg ?? root, 'dist/cli/main.js'), ...args], {
      cwd: dir,
      stdio: ['pipe', 'pipe', 'pipe'],
      env: { ...process.env, RNNKIT_BACKEND: '', RNNKIT_DEBUG: '', ...opts.env },
    });
    let out = '', err = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => { out += d; });
    child.stderr.setEncoding('utf8').on('data', (d: string) => { err += d; });
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, out, err }));
    child.stdin.end(opts.input ?? '');
  });
}

/** Runs a command that must succeed and returns its stdout. */
async function ok(args: string[], input?: string): Promise<string> {
  const r = await rnnkit(args, input === undefined ? {} : { input });
  if (r.code !== 0) throw new Error(`rnnkit ${args.join(' ')} exited with ${r.code}:\n${r.err}`);
  return r.out;
}
const okJson = async (args: string[], input?: string) => JSON.parse(await ok([...args, '--json'], input));

/** A deterministic pseudo-random word text, so training data needs no fixture file. */
function wordText(n: number, seed = 1): string {
  const words = ['call', 'me', 'ishmael', 'the', 'whale', 'ship', 'sea', 'white', 'ahab', 'boat', 'deep', 'water'];
  let x = seed;
  const out: string[] = [];
  for (let i = 0; i < n; i++) {
    x = (x * 1103515245 + 12345) % 2 ** 31;
    out.push(words[x % words.length]!);
  }
  return out.join(' ') + '\n';
}

const TINY_LM = ['--hidden', '16', '--embedding', '8', '--max-steps', '20', '--seq-len', '16', '--batch', '4', '--quiet'];
const TINY = ['--hidden', '8', '--batch', '8', '--epochs', '3', '--quiet'];

beforeAll(() => {
  writeFileSync(at('text.txt'), wordText(1500));
  writeFileSync(at('names.txt'), ['anna', 'maria', 'marta', 'mark', 'martin', 'anne', 'mary', 'max'].join('\n').repeat(20) + '\n');
  const examples: string[] = [];
  for (let i = 0; i < 60; i++) {
    const label = i % 2 ? 'pos' : 'neg';
    examples.push(`${label}\t${['the', 'a', 'this'][i % 3]} movie was ${label === 'pos' ? 'good' : 'bad'}`);
  }
  writeFileSync(at('reviews.tsv'), examples.join('\n') + '\n');
  writeFileSync(at('reviews.jsonl'), examples.map((l) => {
    const [label, input] = l.split('\t');
    return JSON.stringify({ input, label });
  }).join('\n') + '\n');
  const series = Array.from({ length: 120 }, (_, i) => Math.sin(i / 4).toFixed(4));
  writeFileSync(at('series.txt'), series.join('\n') + '\n');
  writeFileSync(at('series.csv'), 't,value\n' + series.map((v, i) => `${i},${v}`).join('\n') + '\n');
  writeFileSync(at('corrupt.safetensors'), Buffer.from('this is not a safetensors file at all'));
});

describe('rnnkit train lm, complete, generate, evaluate', () => {
  it('trains a tiny language model and reports the run as JSON', async () => {
    const r = await okJson(['train', 'lm', '--data', 'text.txt', '--out', 'lm.safetensors', ...TINY_LM]);
    expect(r).toMatchObject({ task: 'lm', path: 'lm.safetensors', interrupted: false, steps: 20 });
    expect(Number.isFinite(r.loss)).toBe(true);
    expect(r.seconds).toBeGreaterThan(0);
    expect(existsSync(at('lm.safetensors'))).toBe(true);
  });

  it('prints a summary and plain progress lines when stderr is not a terminal', async () => {
    const r = await rnnkit(['train', 'lm', '--data', 'text.txt', '--out', 'lm2.safetensors', ...TINY_LM.filter((a) => a !== '--quiet')]);
    expect(r.code).toBe(0);
    expect(r.out).toMatch(/^saved lm2\.safetensors \(20 steps/);
    expect(r.err).toMatch(/rnnkit: step 20\/20 .*loss/);
    expect(r.err).not.toMatch(/\x1b\[/); // no terminal escapes in a log
  });

  it('trains four names (too short for the default batch shape) with a warning in its own voice', async () => {
    const r = await rnnkit(['train', 'lm', '--data', '-', '--separator', '\\n', '--out', 'four.safetensors', '--hidden', '8', '--epochs', '2'],
      { input: 'Anna\nJohn\nJohanna\nMary\n' });
    expect(r.code, r.err).toBe(0);
    // Separated names train in item mode (one sequence each): four names are one batch of four.
    expect(r.err).toMatch(/^rnnkit: warning: training data: 4 items are fewer than batchSize 32; training with batchSize 4$/m);
    expect(r.err).not.toMatch(/\(node:\d+\)/);
  });

  it('--sequences stream trains separated names as one running text (the mode is saved in the model)', async () => {
    const r = await rnnkit(['train', 'lm', '--data', '-', '--separator', '\\n', '--sequences', 'stream', '--out', 'four-stream.safetensors',
      '--hidden', '8', '--epochs', '2'], { input: 'Anna\nJohn\nJohanna\nMary\n' });
    expect(r.code, r.err).toBe(0);
    expect(r.err).toMatch(/^rnnkit: warning: training text: \d+ tokens is too short for batchSize 32 x seqLen 64/m);
    const file = readFileSync(at('four-stream.safetensors'));
    const header = JSON.parse(file.subarray(8, 8 + Number(file.readBigUInt64LE(0))).toString('utf8'));
    const config = JSON.parse(header.__metadata__.config);
    expect(config.sequences).toBe('stream');
    const bad = await rnnkit(['train', 'lm', '--data', 'text.txt', '--out', 'x.safetensors', '--sequences', 'lines']);
    expect(bad.code).toBe(2);
    expect(bad.err).toMatch(/--sequences: expected one of auto, items, stream, found "lines"/);
  });

  it('reads the training text from stdin with --data -', async () => {
    const r = await rnnkit(['train', 'lm', '--data', '-', '--out', 'stdin.safetensors', ...TINY_LM], { input: wordText(1500, 7) });
    expect(r.code).toBe(0);
    expect(existsSync(at('stdin.safetensors'))).toBe(true);
  });

  it('complete: the k most likely next tokens, most likely first', async () => {
    const r = await okJson(['complete', 'the wh', '--model', 'lm.safetensors', '-k', '3']);
    expect(r.predictions).toHaveLength(3);
    const p = r.predictions.map((t: { probability: number }) => t.probability);
    expect(p[0]).toBeGreaterThanOrEqual(p[1]);
    expect(p[1]).toBeGreaterThanOrEqual(p[2]);
    expect(p.reduce((a: number, b: number) => a + b, 0)).toBeLessThanOrEqual(1 + 1e-6);
    const text = await ok(['complete', 'the wh', '--model', 'lm.safetensors', '-k', '3']);
    expect(text.trim().split('\n')).toHaveLength(3);
    expect(text).toMatch(/^".*"\s+0\.\d{4}$/m);
  });

  it('generate --seed gives the same text twice, starting with the prefix', async () => {
    const args = ['generate', '--prefix', 'call me', '--model', 'lm.safetensors', '--length', '40', '--seed', '1', '--temperature', '0.8'];
    const a = await ok(args), b = await ok(args);
    expect(a).toBe(b);
    expect(a.startsWith('call me')).toBe(true);
    const j = await okJson(args);
    expect(a).toBe(j.text + '\n');
    expect(j.text).toBe(j.prefix + j.continuation);
    expect(Array.from(j.continuation as string)).toHaveLength(40);
    expect(j.seed).toBe(1);
  });

  it('generate honours --top-k 1 (greedy: the same text for any seed)', async () => {
    const g = (seed: string) => ok(['generate', '--prefix', 'the', '--model', 'lm.safetensors', '--length', '20', '--top-k', '1', '--seed', seed]);
    expect(await g('1')).toBe(await g('2'));
  });

  it('evaluate: loss and perplexity of a language model on a text', async () => {
    const r = await okJson(['evaluate', '--model', 'lm.safetensors', '--data', 'text.txt']);
    expect(r.task).toBe('language-model');
    expect(r.tokens).toBeGreaterThan(1000);
    expect(r.perplexity).toBeCloseTo(Math.exp(r.loss), 3);
    expect(await ok(['evaluate', '--model', 'lm.safetensors', '--data', 'text.txt'])).toMatch(/^loss [\d.]+ nats\/token {2}perplexity [\d.]+/);
  });

  it('a model trained with --separator "\\n" completes names from an empty prefix', async () => {
    await okJson(['train', 'lm', '--data', 'names.txt', '--separator', '\\n', '--out', 'names.safetensors', ...TINY_LM]);
    const r = await okJson(['complete', '', '--model', 'names.safetensors', '-k', '20']);
    const tokens = r.predictions.map((t: { token: string }) => t.token);
    expect(tokens).toContain('m');
    expect(tokens).toContain('\n'); // the end of a name is a token of its own
    const g = await okJson(['generate', '--model', 'names.safetensors', '--length', '30', '--seed', '3']);
    expect(g.prefix).toBe('');
    expect(Array.from(g.continuation as string)).toHaveLength(30);
  });
});

describe('rnnkit train classify, classify, evaluate', () => {
  it('trains on label<TAB>text lines, then classifies arguments and stdin lines', async () => {
    const t = await okJson(['train', 'classify', '--data', 'reviews.tsv', '--out', 'clf.safetensors', '--embedding', '8', ...TINY]);
    expect(t).toMatchObject({ task: 'classify', interrupted: false });
    const r = await okJson(['classify', 'this movie was good', 'a movie was bad', '--model', 'clf.safetensors']);
    expect(r.labels.sort()).toEqual(['neg', 'pos']);
    expect(r.predictions).toHaveLength(2);
    for (const p of r.predictions) {
      expect(['neg', 'pos']).toContain(p.label);
      expect(p.probability).toBe(p.probabilities[p.label]);
    }
    const lines = (await ok(['classify', '--model', 'clf.safetensors'], 'the movie was good\n\nthe movie was bad\r\n')).trim().split('\n');
    expect(lines).toHaveLength(2);
    for (const l of lines) expect(l).toMatch(/^(neg|pos)\t[01]\.\d{4}$/);
  });

  it('one rule for empty input: classify and evaluate with nothing on stdin exit 2 naming the input', async () => {
    for (const [args, what] of [
      [['classify', '--model', 'clf.safetensors'], /missing <text>: stdin is empty/],
      [['classify', '-', '--model', 'clf.safetensors'], /missing <text>: stdin is empty/],
      [['evaluate', '--model', 'clf.safetensors'], /missing --data <file\|->: stdin is empty/],
    ] as [string[], RegExp][]) {
      const r = await rnnkit(args, { input: '\n  \n' });
      expect(r.code, args.join(' ')).toBe(2);
      expect(r.err).toMatch(what);
      expect(r.out).toBe('');
    }
  });

  it('trains on JSON Lines and evaluates accuracy on labelled data', async () => {
    await okJson(['train', 'classify', '--data', 'reviews.jsonl', '--out', 'clf2.safetensors', '--bidirectional', '--cell', 'gru', ...TINY]);
    const r = await okJson(['evaluate', '--model', 'clf2.safetensors', '--data', 'reviews.tsv']);
    expect(r.task).toBe('sequence-classifier');
    expect(r.count).toBe(60);
    expect(r.accuracy).toBeGreaterThanOrEqual(0);
    expect(r.accuracy).toBeLessThanOrEqual(1);
    expect(r.correct).toBe(Math.round(r.accuracy * 60));
  });
});

describe('rnnkit train forecast, forecast, evaluate', () => {
  it('trains on a CSV column, forecasts N values and evaluates MAE/RMSE', async () => {
    const t = await okJson(['train', 'forecast', '--data', 'series.csv', '--column', 'value', '--window', '8', '--out', 'reg.safetensors', ...TINY]);
    expect(t.task).toBe('forecast');
    const values = (await ok(['forecast', '--model', 'reg.safetensors', '--data', 'series.txt', '--steps', '5'])).trim().split('\n').map(Number);
    expect(values).toHaveLength(5);
    for (const v of values) expect(Number.isFinite(v)).toBe(true);
    const j = await okJson(['forecast', '--model', 'reg.safetensors', '--steps', '5'], readFileSync(at('series.txt'), 'utf8'));
    expect(j.forecast).toHaveLength(5);
    expect(j.forecast[0]).toBeCloseTo(values[0]!, 5);
    const empty = await rnnkit(['forecast', '--model', 'reg.safetensors', '--data', '-'], { input: '\n' });
    expect(empty.code).toBe(2);
    expect(empty.err).toMatch(/missing --data <file\|->: stdin is empty/);
    const e = await okJson(['evaluate', '--model', 'reg.safetensors', '--data', 'series.txt']);
    expect(e.task).toBe('sequence-regressor');
    expect(e.count).toBe(120 - 8);
    expect(e.rmse).toBeGreaterThanOrEqual(e.mae);
  });
});

describe.concurrent('usage errors exit with code 2 and name the option', () => {
  it.for([
    [['train', 'lm', '--data', 'text.txt', '--out', 'x.safetensors', '--hidden', 'abc'], /--hidden: expected a positive integer, found "abc"/],
    [['train', 'lm', '--data', 'text.txt', '--out', 'x.safetensors', '--lr', '-1'], /--lr: expected a positive number/],
    [['train', 'lm', '--data', 'text.txt', '--out', 'x.safetensors', '--val', '1'], /--val: expected a number in \[0, 1\)/],
    [['train', 'lm', '--data', 'text.txt', '--out', 'x.safetensors', '--cell', 'transformer'], /--cell: expected one of lstm, gru, rnn_tanh, rnn_relu/],
    [['train', 'lm', '--data', 'text.txt', '--out', 'x.safetensors', '--frobnicate'], /unknown option --frobnicate/],
    [['train', 'lm', '--data', 'text.txt', '--out', 'x.safetensors', '--hidden'], /option --hidden needs a value/],
    [['train', 'lm', '--data', 'text.txt'], /missing --out/],
    [['train', 'lm', '--out', 'x.safetensors'], /missing --data/],
    [['train', 'transformer'], /unknown task "transformer"/],
    [['train'], /missing <task>/],
    [['complete', '--model', 'lm.safetensors'], /missing <prefix>/],
    [['complete', 'a', '--model', 'lm.safetensors', '-k', '0'], /-k: expected a positive integer/],
    [['generate', '--model', 'lm.safetensors', '--temperature', '0'], /--temperature: expected a positive number/],
    [['generate', '--model', 'lm.safetensors', '--top-p', '1.5'], /--top-p: expected a number in \(0, 1\]/],
    [['generate', '--model', 'lm.safetensors', '--json=yes'], /option --json takes no value/],
    [['classify', 'text'], /missing --model/],
    [['forecast', '--model', 'reg.safetensors', '--steps', '2.5'], /--steps: expected a positive integer, found "2.5"/],
    [['evaluate', '--data', 'text.txt'], /missing --model/],
    [['complete', 'a', 'b', '--model', 'lm.safetensors'], /unexpected argument "b"/],
  ] as [string[], RegExp][])('rnnkit %j', async ([args, message], { expect }) => {
    const r = await rnnkit(args);
    expect(r.code).toBe(2);
    expect(r.err).toMatch(/^rnnkit: error \[E_USAGE\]: /);
    expect(r.err).toMatch(message);
    expect(r.out).toBe('');
  });

  it.for([['train'], ['train', 'lm'], ['train', 'classify'], ['train', 'forecast'], ['complete'], ['generate'], ['classify'], ['forecast'], ['evaluate'], ['info']])(
    'rnnkit %s ... --help prints the usage, exit code 0', async (args, { expect }) => {
      const r = await rnnkit([...args, '--help']);
      expect(r.code).toBe(0);
      expect(r.out).toMatch(/^usage: rnnkit /);
      if (args[1] === 'lm') expect(r.out).toMatch(/--separator <text>/);
    });
});

describe.concurrent('runtime failures exit with code 1 and an error code, without a stack trace', () => {
  it('a missing model file is E_IO', async ({ expect }) => {
    const r = await rnnkit(['complete', 'a', '--model', 'missing.safetensors']);
    expect(r.code).toBe(1);
    expect(r.err).toMatch(/^rnnkit: error \[E_IO\]: cannot read missing\.safetensors: no such file/);
    expect(r.err).not.toMatch(/\n\s+at /);
  });

  it('a corrupt model file is E_MODEL_FILE, for every command', async ({ expect }) => {
    for (const args of [['complete', 'a'], ['generate', '--prefix', 'a'], ['classify', 'a'], ['forecast', '--data', 'series.txt'], ['evaluate', '--data', 'series.txt']]) {
      const r = await rnnkit([...args, '--model', 'corrupt.safetensors']);
      expect(r.code, args[0]).toBe(1);
      expect(r.err).toMatch(/^rnnkit: error \[E_MODEL_FILE\]: corrupt\.safetensors: /);
      expect(r.err).not.toMatch(/\n\s+at /);
    }
  });

  it('a truncated model file is E_MODEL_FILE', async ({ expect }) => {
    const bytes = readFileSync(at('lm.safetensors'));
    writeFileSync(at('truncated.safetensors'), bytes.subarray(0, Math.floor(bytes.length / 2)));
    const r = await rnnkit(['generate', '--prefix', 'a', '--model', 'truncated.safetensors']);
    expect(r.code).toBe(1);
    expect(r.err).toMatch(/\[E_MODEL_FILE\]/);
  });

  it('a model of another task is E_MODEL_FILE saying which task it holds', async ({ expect }) => {
    const r = await rnnkit(['complete', 'a', '--model', 'clf.safetensors']);
    expect(r.code).toBe(1);
    expect(r.err).toMatch(/\[E_MODEL_FILE\]: clf\.safetensors: expected a language model .*found a classifier/);
  });

  it('bad data names the file and the line', async ({ expect }) => {
    const r = await rnnkit(['forecast', '--model', 'reg.safetensors', '--data', 'text.txt']);
    expect(r.code).toBe(1);
    expect(r.err).toMatch(/text\.txt line 1: expected a number/);
  });

  it('an output directory that does not exist fails before training', async ({ expect }) => {
    const r = await rnnkit(['train', 'lm', '--data', 'text.txt', '--out', join('no', 'such', 'dir', 'm.safetensors'), ...TINY_LM]);
    expect(r.code).toBe(1);
    expect(r.err).toMatch(/\[E_IO\]: cannot write .*does not exist/);
  });

  it('RNNKIT_DEBUG=1 adds the stack trace', async ({ expect }) => {
    const r = await rnnkit(['complete', 'a', '--model', 'corrupt.safetensors'], { env: { RNNKIT_DEBUG: '1' } });
    expect(r.code).toBe(1);
    expect(r.err).toMatch(/\n\s+at /);
  });

  describe('in a copy of the package without the default models', () => {
    const pkg = mkdtempSync(join(tmpdir(), 'rnnkit-nomodels-'));
    cpSync(join(root, 'package.json'), join(pkg, 'package.json'));
    cpSync(join(root, 'dist'), join(pkg, 'dist'), { recursive: true });
    symlinkSync(join(root, 'node_modules'), join(pkg, 'node_modules'));
    afterAll(() => rmSync(pkg, { recursive: true, force: true }));

    it.for([['complete', 'a'], ['generate']])('rnnkit %s says the default model is missing and how to train it', async (args, { expect }) => {
      const r = await rnnkit(args, { pkg });
      expect(r.code).toBe(1);
      expect(r.err).toMatch(/\[E_IO\]: the default model .*(names|moby-dick)\.safetensors.*npm run train:defaults.*--model/);
    });
  });
});

describe.concurrent('with --json, errors are one JSON object on stdout', () => {
  it('a runtime failure: {"error": {code, message, exitCode: 1}}, nothing on stderr', async ({ expect }) => {
    const r = await rnnkit(['complete', 'a', '--model', 'missing.safetensors', '--json']);
    expect(r.code).toBe(1);
    expect(JSON.parse(r.out)).toEqual({ error: { code: 'E_IO', message: expect.stringMatching(/cannot read missing\.safetensors/), exitCode: 1 } });
    expect(r.err).toBe('');
  });

  it('a usage error: exitCode 2, the command and where to get help', async ({ expect }) => {
    const r = await rnnkit(['complete', 'a', '--model', 'lm.safetensors', '-k', '0', '--json']);
    expect(r.code).toBe(2);
    expect(JSON.parse(r.out).error).toMatchObject({ code: 'E_USAGE', exitCode: 2, command: 'complete', help: 'rnnkit complete --help' });
  });

  it('"--json" after "--" is an argument, not the option', async ({ expect }) => {
    const r = await rnnkit(['classify', '--model', 'missing.safetensors', '--', '--json']);
    expect(r.code).toBe(1);
    expect(r.out).toBe('');
    expect(r.err).toMatch(/^rnnkit: error \[E_IO\]/);
  });
});

describe('rnnkit bench workload names', () => {
  it('"W2", the README\'s name, runs the three W2 cells', async () => {
    const r = await rnnkit(['bench', 'W2', '--time', '50', '--backend', 'wasm', '--json']);
    expect(r.code, r.err).toBe(0);
    expect(JSON.parse(r.out).rows.map((x: { workload: string }) => x.workload)).toEqual(['W2-lstm', 'W2-gru', 'W2-rnn']);
  });

  it('--threads 1,2 runs the workloads once per thread count, each in its own process', async () => {
    const r = await rnnkit(['bench', 'W1', '--time', '50', '--backend', 'wasm', '--threads', '1,2', '--json']);
    expect(r.code, r.err).toBe(0);
    const rows = JSON.parse(r.out).rows as { workload: string; threads: number; details: string }[];
    expect(rows.map((x) => [x.workload, x.threads])).toEqual([['W1', 1], ['W1', 2]]);
    // each child's backend was sized by its count (RNNKIT_WASM_THREADS): one thread, then two
    expect(rows[0]!.details).toMatch(/\b1 thread\b/);
    expect(rows[1]!.details).toMatch(/\b2 threads\b/);
  });

  it('--threads with something other than counts from 1 to 256 is a usage error', async () => {
    const r = await rnnkit(['bench', 'W1', '--threads', '2,x']);
    expect(r.code).toBe(2);
    expect(r.err).toMatch(/--threads: expected thread counts from 1 to 256/);
  });

  it('an unknown name is a usage error listing the known ones', async () => {
    const r = await rnnkit(['bench', 'W9']);
    expect(r.code).toBe(2);
    expect(r.err).toMatch(/unknown workload "W9"; known: W1, W2-lstm, W2-gru, W2-rnn, W4, W3, W5/);
  });
});

describe('Ctrl-C during training', () => {
  it('stops, saves the parameters reached so far, and exits 130', async () => {
    writeFileSync(at('long.txt'), wordText(40000, 3));
    const child = spawn(process.execPath, [join(root, 'dist/cli/main.js'), 'train', 'lm', '--data', 'long.txt',
      '--out', 'interrupted.safetensors', '--hidden', '32', '--embedding', '8', '--seq-len', '32', '--batch', '8',
      '--epochs', '1000', '--json'], { cwd: dir, stdio: ['pipe', 'pipe', 'pipe'], env: { ...process.env, RNNKIT_BACKEND: '' } });
    let out = '', err = '';
    child.stdout.on('data', (d: Buffer) => { out += d; });
    const exited = new Promise<number | null>((resolve) => child.on('close', (code) => resolve(code)));
    await new Promise<void>((resolve, reject) => {
      child.stderr.on('data', (d: Buffer) => {
        err += d;
        if (/rnnkit: step \d+/.test(err)) resolve();
      });
      child.on('close', () => reject(new Error(`training ended before its first progress line:\n${err}`)));
    });
    child.kill('SIGINT');
    expect(await exited).toBe(130);
    expect(err).toMatch(/training interrupted at step \d+; saved the parameters reached so far to interrupted\.safetensors/);
    const result = JSON.parse(out);
    expect(result).toMatchObject({ interrupted: true, path: 'interrupted.safetensors' });
    expect(result.steps).toBeGreaterThan(0);
    const e = await okJson(['evaluate', '--model', 'interrupted.safetensors', '--data', 'text.txt']);
    expect(Number.isFinite(e.loss)).toBe(true);
  });
});
