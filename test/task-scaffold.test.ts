// What the task models share through their one scaffold: the fit options every task takes are checked the same
// way for each (the regressor once took any validationSplit), before a worker starts or the model is built.
import { describe, expect, it } from 'vitest';
import { RnnkitError } from '../src/errors.js';
import { LanguageModel } from '../src/models/language-model.js';
import { SequenceClassifier } from '../src/models/sequence-classifier.js';
import { SequenceRegressor } from '../src/models/sequence-regressor.js';
import type { TrainResult } from '../src/train/trainer.js';
import { BACKENDS } from './helpers.js';

interface Fittable {
  fit(data: unknown, opts: object): Promise<TrainResult>;
  dispose(): void;
}

const TASKS: Record<string, { make: () => Fittable; data: unknown }> = {
  'language model': {
    make: () => new LanguageModel({ hiddenSize: 4, embeddingDim: 2, backend: BACKENDS[0] }) as never,
    data: 'abcabcabc '.repeat(20),
  },
  'sequence classifier': {
    make: () => new SequenceClassifier({ hiddenSize: 4, embeddingDim: 2, backend: BACKENDS[0] }) as never,
    data: Array.from({ length: 12 }, (_, i) => ({ input: i % 2 ? 'a b' : 'b a', label: i % 2 ? 'x' : 'y' })),
  },
  'sequence regressor': {
    make: () => new SequenceRegressor({ window: 3, hiddenSize: 4, backend: BACKENDS[0] }) as never,
    data: Array.from({ length: 30 }, (_, i) => Math.sin(i)),
  },
};

async function fitError(t: { make: () => Fittable; data: unknown }, opts: object): Promise<RnnkitError> {
  const m = t.make();
  try {
    const e = await m.fit(t.data, { maxSteps: 1, ...opts }).then(() => null, (e: unknown) => e);
    expect(e, `fit(${JSON.stringify(opts)}) should fail`).toBeInstanceOf(RnnkitError);
    return e as RnnkitError;
  } finally {
    m.dispose();
  }
}

describe.each(Object.keys(TASKS))('the %s', (name) => {
  const t = TASKS[name]!;
  it.each([1, 1.5, -0.1, NaN, Infinity])('refuses validationSplit %s with E_ARGUMENT naming it, on this thread and in a worker', async (split) => {
    for (const worker of [false, true]) {
      const e = await fitError(t, { validationSplit: split, worker });
      expect(e.code).toBe('E_ARGUMENT');
      expect(e.message).toBe(`validationSplit: expected a number in [0, 1), found ${split}`);
    }
  });

  it.each([0, -1, 1.5, NaN])('refuses batchSize %s with E_ARGUMENT naming it', async (batchSize) => {
    const e = await fitError(t, { batchSize, worker: false });
    expect(e.code).toBe('E_ARGUMENT');
    expect(e.message).toBe(`batchSize: expected a positive integer, found ${batchSize}`);
  });

  it('takes validationSplit 0 and the default alike', async () => {
    for (const validationSplit of [0, undefined]) {
      const m = TASKS[name]!.make();
      const r = await m.fit(t.data, { maxSteps: 1, worker: false, validationSplit });
      expect(r.steps).toBe(1);
      m.dispose();
    }
  });
});
