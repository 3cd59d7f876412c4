// `rnnkit train <lm|classify|forecast>`: reads the data, fits a model with progress on stderr, saves it.
// Ctrl-C stops training through an AbortSignal and saves the parameters reached so far (exit code 130); a
// second Ctrl-C quits at once.
import { CELL_KINDS } from '../backend/types.js';
import { RnnkitError } from '../errors.js';
import { CLASS_OF_WORD, TASK_WORDS, type TaskWord } from '../models/tasks.js';
import type { OptimizerName } from '../train/optim.js';
import type { Progress, TrainOptions, TrainResult } from '../train/trainer.js';
// s(), b(): the option helpers every command uses (args.ts), by short names in these long tables
import { flag as b, option as s, runCommand, unescape, UsageError, type Args, type CommandSpec, type OptionSpecs } from './args.js';
import { parseLabelled, parseSeries, splitDocuments } from './data.js';
import { checkWritable, fmt, note, out, outJson, readInput } from './io.js';
import { duration, progressReporter } from './progress.js';

export const EXIT_INTERRUPTED = 130;

const OPTIMIZERS: readonly OptimizerName[] = ['adam', 'adamw', 'sgd'];
const TOKENIZERS = ['char', 'word'] as const;
const SEQUENCE_MODES = ['auto', 'items', 'stream'] as const;
const TASKS = TASK_WORDS;
type Task = TaskWord;

const IO_OPTIONS: OptionSpecs = {
  data: s('<file|->', 'training data; "-" or omitted with piped stdin reads stdin'),
  out: s('<file>', 'where to save the model (.safetensors); required'),
};

const modelSpecs = (hidden: number): OptionSpecs => ({
  cell: s('<kind>', `recurrent cell: ${CELL_KINDS.join(', ')} (default lstm)`),
  hidden: s('<n>', `hidden units per layer (default ${hidden})`),
  layers: s('<n>', 'stacked recurrent layers (default 1)'),
  dropout: s('<p>', 'dropout between stacked layers, in [0, 1) (default 0)'),
});

const FIT_OPTIONS: OptionSpecs = {
  batch: s('<n>', 'batch size (default 32)'),
  epochs: s('<n>', 'passes over the data (default 1)'),
  'max-steps': s('<n>', 'stop after this many steps'),
  lr: s('<x>', 'learning rate (default 0.002)'),
  optimizer: s('<name>', `${OPTIMIZERS.join(', ')} (default adam)`),
  'weight-decay': s('<x>', 'weight decay (adamw, sgd)'),
  momentum: s('<x>', 'momentum (sgd)'),
  clip: s('<x>', 'clip gradients to this global L2 norm; 0 turns clipping off (default 5)'),
  schedule: s('<name>', 'learning-rate schedule: constant or cosine (default constant)'),
  val: s('<fraction>', 'fraction of the data held out for validation, in [0, 1) (default 0.1)'),
  'eval-every': s('<n>', 'validate every n steps (default: once per epoch)'),
  patience: s('<n>', 'stop when validation has not improved for n validations (default: never)'),
  seed: s('<n>', 'seed for initialisation, batch order and dropout (default 0)'),
  quiet: b('no progress output'),
};

const TASK_SPECS: Record<Task, CommandSpec> = {
  lm: {
    name: 'train lm',
    usage: 'rnnkit train lm --data <file|-> --out <model.safetensors> [options]',
    summary: 'Trains a language model (next character or word) on a text.',
    maxPositionals: 0,
    options: {
      ...IO_OPTIONS,
      tokenizer: s('<kind>', 'char or word (default char)'),
      separator: s('<text>', 'split the data into documents on this separator (escapes: \\n \\t); e.g. "\\n" for a list of names'),
      sequences: s('<mode>', 'items (each document its own sequence from a zero state), stream (one running text), or auto (default: items when there is a separator)'),
      embedding: s('<n>', 'embedding size (default 64)'),
      'max-vocab': s('<n>', 'largest word vocabulary (default 10000)'),
      ...modelSpecs(256),
      'seq-len': s('<n>', 'steps of truncated backpropagation through time (default 64)'),
      ...FIT_OPTIONS,
    },
    notes: 'The data is plain UTF-8 text.\n' +
      'example: rnnkit train lm --data names.txt --separator "\\n" --out names.safetensors --epochs 20',
  },
  classify: {
    name: 'train classify',
    usage: 'rnnkit train classify --data <file|-> --out <model.safetensors> [options]',
    summary: 'Trains a text classifier on labelled examples.',
    maxPositionals: 0,
    options: {
      ...IO_OPTIONS,
      tokenizer: s('<kind>', 'char or word (default word)'),
      embedding: s('<n>', 'embedding size (default 64)'),
      'max-vocab': s('<n>', 'largest vocabulary (default 20000)'),
      'max-length': s('<n>', 'tokens of each text read, from its start (default 200)'),
      bidirectional: b('read the text in both directions'),
      ...modelSpecs(128),
      ...FIT_OPTIONS,
    },
    notes: 'Data: JSON Lines {"input": "...", "label": "..."}, or label<TAB>text lines, or CSV label,text rows\n' +
      '(a first row with the label "label" is a header).',
  },
  forecast: {
    name: 'train forecast',
    usage: 'rnnkit train forecast --data <file|-> --out <model.safetensors> [options]',
    summary: 'Trains a forecaster on a numeric series: a window of past values -> the next `horizon` values.',
    maxPositionals: 0,
    options: {
      ...IO_OPTIONS,
      column: s('<name|n>', 'read this CSV/TSV column (header name, or position from 1)'),
      window: s('<n>', 'past values the model reads (default 28)'),
      horizon: s('<n>', 'future values it predicts at once (default 1)'),
      ...modelSpecs(64),
      ...FIT_OPTIONS,
    },
    notes: 'Data: one number per line, or a CSV/TSV column with --column.',
  },
};

export const TRAIN_HELP = `usage: rnnkit train <task> --data <file|-> --out <model.safetensors> [options]

Trains a model and saves it. Tasks:
  lm        a language model on a text (then: rnnkit complete, rnnkit generate)
  classify  a classifier on labelled texts (then: rnnkit classify)
  forecast  a forecaster on a numeric series (then: rnnkit forecast)

Progress goes to stderr; Ctrl-C stops and saves the parameters reached so far (exit code 130).
"rnnkit train <task> --help" lists the task's options.`;

/** An object without its undefined entries, so that library defaults apply. */
function defined<T extends object>(o: T): T {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as T;
}

function modelOptions(a: Args) {
  return defined({
    cell: a.choice('cell', CELL_KINDS),
    hiddenSize: a.int('hidden', 1),
    numLayers: a.int('layers', 1),
    dropout: a.num('dropout', { min: 0, max: 1, maxExclusive: true }),
    seed: a.int('seed', 0),
  });
}

function fitOptions(a: Args) {
  return defined({
    batchSize: a.int('batch', 1),
    epochs: a.int('epochs', 1),
    maxSteps: a.int('max-steps', 1),
    lr: a.num('lr', { min: 0, minExclusive: true }),
    optimizer: a.choice('optimizer', OPTIMIZERS),
    weightDecay: a.num('weight-decay', { min: 0 }),
    momentum: a.num('momentum', { min: 0, max: 1, maxExclusive: true }),
    clip: a.num('clip', { min: 0 }),
    schedule: a.choice('schedule', ['constant', 'cosine'] as const),
    validationSplit: a.num('val', { min: 0, max: 1, maxExclusive: true }),
    evalEvery: a.int('eval-every', 1),
    patience: a.int('patience', 0),
    seed: a.int('seed', 0),
  });
}

type FitOptions = TrainOptions & { batchSize?: number; validationSplit?: number; seqLen?: number };

interface Trainable {
  fit(opts: FitOptions): Promise<TrainResult>;
  save(path: string): Promise<void>;
  /** Whether the model exists yet (fit builds it from the data), so an interrupted run has something to save. */
  isBuilt(): boolean;
}

interface Prepared {
  trainable: Trainable;
  describe: string;
  /** What itemsPerSecond counts. */
  unit: string;
  backend: string;
}

/**
 * Validates the task's options (usage errors come before any reading or training) and returns the step that
 * reads the data and builds the model.
 */
function planTask(task: Task, a: Args): () => Promise<Prepared> {
  const model = modelOptions(a);
  const dataPath = a.str('data');
  const command = `train ${task}`;
  if (task === 'lm') {
    const tokenizer = a.choice('tokenizer', TOKENIZERS);
    const sepArg = a.str('separator');
    const separator = sepArg === undefined ? undefined : unescape(sepArg);
    if (separator === '') throw new UsageError('--separator: expected a non-empty separator', command);
    const sequences = a.choice('sequences', SEQUENCE_MODES);
    const opts = defined({ ...model, tokenizer, separator, sequences, embeddingDim: a.int('embedding', 1), maxVocab: a.int('max-vocab', 2) });
    const seqLen = a.int('seq-len', 1);
    return async () => {
      const input = await readInput(dataPath, '--data <file|->', command);
      const data = separator === undefined ? input.text : splitDocuments(input.text, separator);
      if (data.length === 0) throw new RnnkitError('E_ARGUMENT', `${input.name}: no text to train on`);
      const lm = new CLASS_OF_WORD.lm(opts);
      const size = typeof data === 'string' ? `${data.length} characters` : `${data.length} documents`;
      return {
        trainable: { fit: (o) => lm.fit(data, defined({ ...o, seqLen })), save: (p) => lm.save(p), isBuilt: () => lm.isTrained },
        describe: `a language model on ${input.name} (${size})`, unit: 'tokens', backend: lm.backend.name,
      };
    };
  }
  if (task === 'classify') {
    const opts = defined({
      ...model, tokenizer: a.choice('tokenizer', TOKENIZERS), embeddingDim: a.int('embedding', 1),
      maxVocab: a.int('max-vocab', 3), maxLength: a.int('max-length', 1),
      bidirectional: a.flag('bidirectional') ? true : undefined,
    });
    return async () => {
      const input = await readInput(dataPath, '--data <file|->', command);
      const examples = parseLabelled(input);
      const labels = new Set(examples.map((e) => e.label));
      const clf = new CLASS_OF_WORD.classify(opts);
      let started = false;
      return {
        trainable: { fit: (o) => { started = true; return clf.fit(examples, o); }, save: (p) => clf.save(p), isBuilt: () => started },
        describe: `a classifier on ${input.name} (${examples.length} examples, ${labels.size} labels)`,
        unit: 'examples', backend: clf.backend.name,
      };
    };
  }
  const opts = defined({ ...model, window: a.int('window', 1), horizon: a.int('horizon', 1) });
  const column = a.str('column');
  return async () => {
    const input = await readInput(dataPath, '--data <file|->', command);
    const series = parseSeries(input, column);
    const reg = new CLASS_OF_WORD.forecast(opts);
    let started = false;
    return {
      trainable: { fit: (o) => { started = true; return reg.fit(series, o); }, save: (p) => reg.save(p), isBuilt: () => started },
      describe: `a forecaster on ${input.name} (${series.length} values)`, unit: 'windows', backend: reg.backend.name,
    };
  };
}

export async function runTrain(argv: string[]): Promise<number> {
  const [task, ...rest] = argv;
  if (task === undefined || task === '--help' || task === '-h' || task === 'help') {
    if (task === undefined) throw new UsageError('missing <task>: lm, classify or forecast', 'train');
    out(TRAIN_HELP);
    return 0;
  }
  if (!(TASKS as readonly string[]).includes(task)) {
    throw new UsageError(task.startsWith('-')
      ? `missing <task> before ${task}: rnnkit train <lm|classify|forecast> [options]`
      : `unknown task "${task}": expected lm, classify or forecast`, 'train');
  }
  return runCommand({ ...TASK_SPECS[task as Task], run: (a) => trainTask(task as Task, a) }, rest);
}

/** One task's training run, its options parsed (runCommand has answered --help). */
async function trainTask(task: Task, a: Args): Promise<number> {
  const json = a.flag('json');
  const outPath = a.required('out', 'where to save the model');
  const fitOpts = fitOptions(a);
  const load = planTask(task as Task, a);
  await checkWritable(outPath);
  const { trainable, describe, unit, backend } = await load();

  const controller = new AbortController();
  let interrupts = 0;
  const onSigint = () => {
    interrupts++;
    if (interrupts > 1) {
      process.stderr.write('\nrnnkit: interrupted again; quitting without saving\n');
      process.exit(EXIT_INTERRUPTED);
    }
    controller.abort(new Error('interrupted (SIGINT)'));
    process.stderr.write('\nrnnkit: interrupted; stopping after this step and saving (Ctrl-C again quits at once)\n');
  };
  process.on('SIGINT', onSigint);

  const reporter = progressReporter({ quiet: a.flag('quiet'), unit });
  let last: Progress | undefined;
  const t0 = performance.now();
  if (!a.flag('quiet')) note(`training ${describe} on the ${backend} backend; Ctrl-C stops and saves`);
  try {
    const result = await trainable.fit({
      ...fitOpts,
      signal: controller.signal,
      onProgress: (p) => { last = p; reporter.update(p); },
    });
    reporter.stop();
    await trainable.save(outPath);
    const loss = result.history.at(-1)?.loss;
    const valLoss = result.valHistory.at(-1)?.loss;
    if (json) {
      outJson({
        task, path: outPath, interrupted: false, steps: result.steps, epochs: result.epochs, seconds: result.seconds,
        loss: loss ?? null, valLoss: valLoss ?? null, bestValLoss: result.bestValLoss ?? null,
        stoppedEarly: result.stoppedEarly, backend, history: result.history, valHistory: result.valHistory,
      });
    } else {
      const first = result.history[0]?.loss;
      const trend = first !== undefined && result.history.length > 1 ? `${fmt(first)} -> ${fmt(loss)}` : fmt(loss);
      const losses = `loss ${trend}${valLoss !== undefined ? `, validation ${fmt(valLoss)}` : ''}`;
      out(`saved ${outPath} (${result.steps} steps, ${result.epochs} epoch${result.epochs === 1 ? '' : 's'}, ` +
        `${duration(result.seconds)}; ${losses}${result.stoppedEarly ? '; stopped early' : ''})`);
    }
    return 0;
  } catch (e) {
    reporter.stop();
    if (!(e instanceof RnnkitError && e.code === 'E_ABORTED')) throw e;
    const seconds = (performance.now() - t0) / 1000;
    const step = Number(/at step (\d+)/.exec(e.message)?.[1] ?? last?.step ?? 0);
    let saved = false;
    if (trainable.isBuilt() && step > 0) {
      await trainable.save(outPath);
      saved = true;
      note(`training interrupted at step ${step}; saved the parameters reached so far to ${outPath}`);
    } else {
      note('training interrupted before the first step; nothing saved');
    }
    if (json) {
      outJson({
        task, path: saved ? outPath : null, interrupted: true, steps: step, seconds,
        loss: last?.loss ?? null, valLoss: last?.valLoss ?? null, backend,
      });
    }
    return EXIT_INTERRUPTED;
  } finally {
    process.off('SIGINT', onSigint);
  }
}
