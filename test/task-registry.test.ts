// The registry of tasks (src/models/tasks.ts) is what maps a model file's task and a command's word to a class:
// the CLI's loaders and the training worker read it, so each task's file, word and name are written once.
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { loadAnyModel, loadModelOf } from '../src/cli/models.js';
import { RnnkitError } from '../src/errors.js';
import { decodeModel, encodeModel } from '../src/io/model-file.js';
import { LanguageModel } from '../src/models/language-model.js';
import { SequenceClassifier } from '../src/models/sequence-classifier.js';
import { SequenceRegressor } from '../src/models/sequence-regressor.js';
import { BACKENDS } from './helpers.js';

const dir = mkdtempSync(join(tmpdir(), 'rnnkit-tasks-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const backend = BACKENDS[0];

async function files(): Promise<Record<string, string>> {
  const lm = new LanguageModel({ hiddenSize: 4, embeddingDim: 2, backend });
  await lm.fit('abcabcabc '.repeat(10), { seqLen: 4, batchSize: 2, maxSteps: 1, worker: false, validationSplit: 0 });
  const clf = new SequenceClassifier({ hiddenSize: 4, embeddingDim: 2, backend });
  await clf.fit([{ input: 'a b', label: 'x' }, { input: 'b a', label: 'y' }], { batchSize: 2, maxSteps: 1, worker: false, validationSplit: 0 });
  const reg = new SequenceRegressor({ window: 3, hiddenSize: 4, backend });
  await reg.fit(Array.from({ length: 12 }, (_, i) => Math.sin(i)), { batchSize: 2, maxSteps: 1, worker: false, validationSplit: 0 });
  const out: Record<string, string> = {};
  for (const [name, m] of Object.entries({ lm, clf, reg })) {
    out[name] = join(dir, `${name}.safetensors`);
    await m.save(out[name]);
    m.dispose();
  }
  return out;
}

describe('the registry of tasks', () => {
  it('loads a file of each task as its class, and names both tasks when the command wants another', async () => {
    const f = await files();
    expect((await loadAnyModel(f.lm!)).model).toBeInstanceOf(LanguageModel);
    expect((await loadAnyModel(f.clf!)).model).toBeInstanceOf(SequenceClassifier);
    expect((await loadAnyModel(f.reg!)).model).toBeInstanceOf(SequenceRegressor);
    expect(await loadModelOf(f.reg!, 'sequence-regressor')).toBeInstanceOf(SequenceRegressor);
    const cases = [
      [f.lm!, 'sequence-classifier', 'expected a classifier (rnnkit train classify), found a language model (rnnkit train lm)'],
      [f.clf!, 'sequence-regressor', 'expected a forecaster (rnnkit train forecast), found a classifier (rnnkit train classify)'],
      [f.reg!, 'language-model', 'expected a language model (rnnkit train lm), found a forecaster (rnnkit train forecast)'],
    ] as const;
    for (const [path, task, message] of cases) {
      const e = await loadModelOf(path, task).then(() => null, (err: unknown) => err);
      expect(e).toBeInstanceOf(RnnkitError);
      expect((e as RnnkitError).code).toBe('E_MODEL_FILE');
      expect((e as RnnkitError).message).toBe(`${path}: ${message}`);
    }
  });

  it('refuses a file of a task it does not know, naming the file and the task', async () => {
    const f = await files();
    const good = decodeModel(new Uint8Array(readFileSync(f.lm!)));
    const path = join(dir, 'unknown.safetensors');
    writeFileSync(path, encodeModel({ ...good, task: 'sequence-to-sequence' as never }));
    const e = await loadAnyModel(path).then(() => null, (err: unknown) => err);
    expect((e as RnnkitError).code).toBe('E_MODEL_FILE');
    expect((e as RnnkitError).message).toBe(`${path}: unknown task "sequence-to-sequence"`);
  });
});
