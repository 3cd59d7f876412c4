// `rnnkit evaluate`: how well a model does on data; the task is read from the model file.
import { RnnkitError } from '../errors.js';
import { option, UsageError, type Args, type Command } from './args.js';
import { parseLabelled, parseSeries, splitDocuments } from './data.js';
import { fmt, out, outJson, readInput, stdinIsPiped } from './io.js';
import { loadAnyModel } from './models.js';

export const EVALUATE: Command = {
  name: 'evaluate',
  usage: 'rnnkit evaluate --model <file> --data <file|-> [--column <name|n>] [--json]',
  summary: 'Evaluates a model on data in the format it was trained on; the task comes from the model file.',
  maxPositionals: 0,
  options: {
    model: option('<file>', 'any rnnkit model; required'),
    data: option('<file|->', 'the data ("-" or omitted with piped stdin: stdin)'),
    column: option('<name|n>', 'forecasters: read this CSV/TSV column'),
  },
  notes: 'Language models: mean cross-entropy per token (nats) and perplexity on a text.\n' +
    'Classifiers: accuracy and loss on labelled examples (JSONL, TSV or CSV, as for training).\n' +
    'Forecasters: MAE and RMSE of one-step-ahead forecasts over a series.',
  run: runEvaluate,
};

async function runEvaluate(a: Args): Promise<number> {
  const path = a.required('model', 'a model file');
  const dataPath = a.str('data');
  const column = a.str('column');
  if (dataPath === undefined && !stdinIsPiped()) throw new UsageError('missing --data <file|-> (or pipe the data on stdin)', 'evaluate');
  const m = await loadAnyModel(path);
  const input = await readInput(dataPath, '--data <file|->', 'evaluate');
  const json = a.flag('json');
  switch (m.task) {
    case 'language-model': {
      const sep = m.model.config.separator;
      const r = m.model.evaluate(sep ? splitDocuments(input.text, sep) : input.text);
      if (!(r.tokens > 0)) throw new RnnkitError('E_ARGUMENT', `${input.name}: too short to evaluate (at least 2 tokens are needed)`);
      if (json) outJson({ task: m.task, model: path, ...r });
      else out(`loss ${fmt(r.loss)} nats/token  perplexity ${fmt(r.perplexity)}  (${r.tokens} tokens)`);
      return 0;
    }
    case 'sequence-classifier': {
      const r = m.model.evaluate(parseLabelled(input));
      const correct = Math.round(r.accuracy * r.count);
      if (json) outJson({ task: m.task, model: path, ...r, correct });
      else out(`accuracy ${fmt(r.accuracy)} (${correct}/${r.count})  loss ${fmt(r.loss)}`);
      return 0;
    }
    case 'sequence-regressor': {
      const r = m.model.evaluate(parseSeries(input, column));
      if (json) outJson({ task: m.task, model: path, ...r });
      else out(`MAE ${fmt(r.mae)}  RMSE ${fmt(r.rmse)}  (${r.count} one-step forecasts)`);
      return 0;
    }
  }
}
