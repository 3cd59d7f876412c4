// The commands that run a trained model: complete, generate (language models), classify, forecast.
import { RnnkitError } from '../errors.js';
import type { SequenceInput } from '../models/sequence-classifier.js';
import { option, UsageError, type Args, type Command } from './args.js';
import { lines, parseSeries } from './data.js';
import { out, outJson, readInput, showToken, stdinIsPiped } from './io.js';
import { DEFAULT_MODELS, loadModelOf, modelPath } from './models.js';

export const COMPLETE: Command = {
  name: 'complete',
  usage: 'rnnkit complete <prefix> [--model <file>] [-k <n>] [--json]',
  summary: 'The k most likely next tokens (characters or words) after a prefix, with their probabilities.',
  maxPositionals: 1,
  options: {
    model: option('<file>', `a language model (default: models/${DEFAULT_MODELS.complete} in the package)`),
    top: { type: 'string', short: 'k', arg: '<n>', help: 'how many tokens (default 5)' },
  },
  notes: 'Tokens are shown quoted, so "\\n" (the end of a name, for a model trained with --separator "\\n") and " " are visible.\n' +
    'example: rnnkit complete "Mar" -k 3',
  run: runComplete,
};

export const GENERATE: Command = {
  name: 'generate',
  usage: 'rnnkit generate [--prefix <text>] [--model <file>] [--length <n>] [--temperature <t>] [--top-k <n>] [--top-p <p>] [--seed <n>] [--json]',
  summary: 'Continues a prefix by sampling from a language model; prints the prefix and the continuation.',
  maxPositionals: 0,
  options: {
    prefix: option('<text>', 'the text to continue (may be empty for a model trained with --separator)'),
    model: option('<file>', `a language model (default: models/${DEFAULT_MODELS.generate} in the package)`),
    length: option('<n>', 'tokens to generate (default 200)'),
    temperature: option('<t>', 'above 0; lower is more conservative (default 1)'),
    'top-k': option('<n>', 'sample only among the n most likely tokens'),
    'top-p': option('<p>', 'sample only among the most likely tokens whose probabilities add up to p, in (0, 1]'),
    seed: option('<n>', 'random seed, for a repeatable result (default: a random one, printed with --json)'),
  },
  notes: 'example: rnnkit generate --prefix "Call me" --length 300 --temperature 0.8 --seed 1',
  run: runGenerate,
};

export const CLASSIFY: Command = {
  name: 'classify',
  usage: 'rnnkit classify [<text>... | -] --model <file> [--json]',
  summary: 'Predicts the label of each text: the arguments, or each line of stdin ("-", or no text with piped stdin).',
  maxPositionals: Infinity,
  options: {
    model: option('<file>', 'a classifier (rnnkit train classify); required'),
  },
  notes: 'Prints one "label<TAB>probability" line per input, in order. A numeric classifier reads lines of numbers.',
  run: runClassify,
};

export const FORECAST: Command = {
  name: 'forecast',
  usage: 'rnnkit forecast --model <file> --data <file|-> [--steps <n>] [--column <name|n>] [--json]',
  summary: 'Continues a numeric series: reads its history and prints the next values, one per line.',
  maxPositionals: 0,
  options: {
    model: option('<file>', 'a forecaster (rnnkit train forecast); required'),
    data: option('<file|->', 'the history, one number per line ("-" or omitted with piped stdin: stdin)'),
    column: option('<name|n>', 'read this CSV/TSV column (header name, or position from 1)'),
    steps: option('<n>', "values to forecast (default: the model's horizon)"),
  },
  run: runForecast,
};

async function runComplete(a: Args): Promise<number> {
  const prefix = a.positional(0, 'prefix', true);
  const k = a.int('top', 1) ?? 5;
  const path = modelPath(a.str('model'), 'complete');
  const lm = await loadModelOf(path, 'language-model');
  if (prefix === '' && !lm.config.separator) {
    throw new UsageError('<prefix>: this model has no separator, so the prefix must not be empty', 'complete');
  }
  const top = lm.predictNext(prefix, k);
  if (a.flag('json')) {
    outJson({ prefix, model: path, predictions: top });
  } else {
    const width = Math.max(...top.map((t) => showToken(t.token).length));
    out(top.map((t) => `${showToken(t.token).padEnd(width)}  ${t.probability.toFixed(4)}`).join('\n'));
  }
  return 0;
}

async function runGenerate(a: Args): Promise<number> {
  const prefix = a.str('prefix') ?? '';
  const length = a.int('length', 0) ?? 200;
  const temperature = a.num('temperature', { min: 0, minExclusive: true }) ?? 1;
  const topK = a.int('top-k', 1);
  const topP = a.num('top-p', { min: 0, max: 1, minExclusive: true });
  const seed = a.int('seed', 0) ?? Math.floor(Math.random() * 2 ** 31);
  const path = modelPath(a.str('model'), 'generate');
  const lm = await loadModelOf(path, 'language-model');
  // A model without a separator has no "start of document" state; a new line is the next best start.
  let start = prefix;
  if (start === '' && !lm.config.separator) {
    if (!lm.vocabulary.has('\n')) throw new UsageError('--prefix: this model has no separator, so it needs a prefix to start from', 'generate');
    start = '\n';
  }
  const continuation = length === 0 ? '' : lm.generate(start, {
    length, temperature, seed, ...(topK !== undefined ? { topK } : {}), ...(topP !== undefined ? { topP } : {}),
  });
  if (a.flag('json')) {
    outJson({ prefix, continuation, text: prefix + continuation, model: path, length, temperature, topK: topK ?? null, topP: topP ?? null, seed });
  } else {
    out(prefix + continuation);
  }
  return 0;
}

/** A line of numbers (commas, tabs or spaces between them) as a numeric classifier's input. */
function numericInput(line: string, features: number, where: string): SequenceInput {
  const v = line.split(/[\s,;]+/).filter(Boolean).map(Number);
  if (v.length === 0 || v.some((x) => !Number.isFinite(x))) throw new RnnkitError('E_ARGUMENT', `${where}: expected numbers, found ${JSON.stringify(line.slice(0, 40))}`);
  if (features === 1) return v;
  if (v.length % features !== 0) throw new RnnkitError('E_ARGUMENT', `${where}: expected a multiple of ${features} numbers (steps of ${features} features), found ${v.length}`);
  return Array.from({ length: v.length / features }, (_, t) => v.slice(t * features, (t + 1) * features));
}

async function runClassify(a: Args): Promise<number> {
  const path = a.required('model', 'a classifier file');
  const args = a.positionals;
  if (args.includes('-') && args.length > 1) throw new UsageError('"-" (stdin) cannot be mixed with texts', 'classify');
  if (args.length === 0 && !stdinIsPiped()) throw new UsageError('missing <text> (or pipe lines on stdin)', 'classify');
  const clf = await loadModelOf(path, 'sequence-classifier');
  let texts: string[];
  let where: string;
  if (args.length === 0 || args[0] === '-') {
    const input = await readInput('-', '<text>', 'classify');
    texts = lines(input.text).map((l) => l.text);
    where = 'stdin line';
  } else {
    texts = args;
    where = 'argument';
  }
  const inputs = clf.config.input === 'numeric'
    ? texts.map((t, i) => numericInput(t, clf.config.features, `${where} ${i + 1}`))
    : texts;
  const predictions = clf.predictBatch(inputs).map((p, i) => ({
    input: texts[i]!, label: p.label, probability: p.probabilities[p.label]!, probabilities: p.probabilities,
  }));
  if (a.flag('json')) {
    outJson({ model: path, labels: clf.labels, predictions });
  } else if (predictions.length) {
    out(predictions.map((p) => `${p.label}\t${p.probability.toFixed(4)}`).join('\n'));
  }
  return 0;
}

async function runForecast(a: Args): Promise<number> {
  const path = a.required('model', 'a forecaster file');
  const stepsArg = a.int('steps', 1);
  const column = a.str('column');
  const dataPath = a.str('data');
  if (dataPath === undefined && !stdinIsPiped()) throw new UsageError('missing --data <file|-> (or pipe the history on stdin)', 'forecast');
  const reg = await loadModelOf(path, 'sequence-regressor');
  const history = parseSeries(await readInput(dataPath, '--data <file|->', 'forecast'), column);
  const steps = stepsArg ?? reg.config.horizon;
  const values = reg.forecast(history, steps);
  if (a.flag('json')) {
    outJson({ model: path, history: history.length, steps, forecast: values });
  } else {
    out(values.map((v) => fmt7(v)).join('\n'));
  }
  return 0;
}

/** float32 carries about 7 significant digits; print no more. */
function fmt7(v: number): string {
  return String(Number(v.toPrecision(7)));
}
