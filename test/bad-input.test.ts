// Inputs of the wrong kind are named for what they are, not for what they turn into downstream.
import { describe, expect, it } from 'vitest';
import { LanguageModel } from '../src/models/language-model.js';
import { SequenceRegressor } from '../src/models/sequence-regressor.js';
import { LSTM } from '../src/nn/recurrent.js';
import { tensor } from '../src/tensor.js';
import { errorOf } from './helpers.js';

describe('SequenceRegressor inputs', () => {
  it('a string where a series belongs is E_DTYPE saying "a string", not a NaN', async () => {
    const reg = new SequenceRegressor({ window: 3, hiddenSize: 4, seed: 1 });
    await reg.fit(Array.from({ length: 20 }, (_, i) => i % 5), { maxSteps: 1, worker: false });
    const e = errorOf(() => reg.predict('some text' as never));
    expect(e.code).toBe('E_DTYPE');
    expect(e.message).toBe('window: expected an array of numbers, found a string');
    const f = errorOf(() => reg.forecast([1, 2, '3'] as never, 1));
    expect(f.code).toBe('E_DTYPE');
    expect(f.message).toMatch(/element 2 is "3"; expected a number/);
    reg.dispose();
  });
});

describe('RecurrentBase.backward', () => {
  const lstm = new LSTM({ inputSize: 2, hiddenSize: 3, seed: 1 });
  lstm.forward(tensor(new Float32Array(2 * 1 * 2).fill(0.5), [2, 1, 2]));

  it('with no gradient at all is E_ARGUMENT (it used to return zeros)', () => {
    for (const g of [undefined, {}, { dOutput: undefined }]) {
      const e = errorOf(() => lstm.backward(g as never));
      expect(e.code).toBe('E_ARGUMENT');
      expect(e.message).toMatch(/at least one gradient, found none/);
    }
  });

  it('with a misspelled key is E_ARGUMENT naming it', () => {
    const e = errorOf(() => lstm.backward({ doutput: tensor(new Float32Array(6), [2, 1, 3]) } as never));
    expect(e.code).toBe('E_ARGUMENT');
    expect(e.message).toMatch(/unknown key doutput/);
  });
});

describe('LanguageModel.evaluate', () => {
  it('on a model never fitted is E_STATE, and does not build one from the evaluation text', () => {
    const lm = new LanguageModel({ hiddenSize: 8, embeddingDim: 4 });
    const e = errorOf(() => lm.evaluate('some text to score'));
    expect(e.code).toBe('E_STATE');
    expect(lm.isTrained).toBe(false);
  });
});

describe('a backend option that is not a backend', () => {
  it.each([[{}], [null], [42]])('%j is E_ARGUMENT naming the option, not a TypeError later', (b) => {
    const e = errorOf(() => new LSTM({ inputSize: 2, hiddenSize: 3, backend: b as never }));
    expect(e.code).toBe('E_ARGUMENT');
    expect(e.message).toMatch(/^backend: expected 'native' or 'wasm' or 'cuda' or a loaded Backend/);
  });
});
