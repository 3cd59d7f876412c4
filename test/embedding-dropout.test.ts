// The language model's fit option embeddingDropout: dropout on the embedding's output (the first recurrent
// layer's input, which the recurrent dropout between layers never reaches), a fresh seeded mask per training
// step, none in validation or inference.
import { describe, expect, it } from 'vitest';
import { LanguageModel, LMItemSteps, type LanguageModelParts } from '../src/models/language-model.js';
import { CrossEntropyLoss } from '../src/train/losses.js';
import { BACKENDS, expectFitOptionRefused } from './helpers.js';

const NAMES = ['Anna', 'Jo', 'Johanna', 'Mary-Ann', 'Xena', 'Sara', 'Sarah', 'Marta', 'Tim', 'Bartholomew', 'Ida', 'Otto'];
const CONFIG = { tokenizer: 'char', hiddenSize: 8, embeddingDim: 6, separator: '\n', seed: 4 } as const;
const FIT = { batchSize: 3, seqLen: 16, lr: 0.05, schedule: 'constant', worker: false, progressIntervalMs: 0 } as const;

describe.each(BACKENDS)('embedding dropout on the %s backend', (backend) => {
  it('the gradient of a step with the mask is the finite difference of that step\'s loss (the same mask forward and back)', async () => {
    const lm = new LanguageModel({ ...CONFIG, backend });
    await lm.fit(NAMES, { ...FIT, maxSteps: 1, validationSplit: 0 });
    const parts = (lm as unknown as { built(): LanguageModelParts }).built();
    const ce = new CrossEntropyLoss(lm.backend);
    const items = NAMES.map((n) => lm.vocabulary.encode(['\n', ...n, '\n']));
    // One batch of every item: one step, its mask drawn from the seed, so the same for every call.
    const stepLoss = (p: number) => {
      const s = new LMItemSteps(parts, ce, items, [], 64, items.length, 1, p);
      s.startEpoch(0);
      return s.trainStep(0).loss;
    };
    const P = 0.4;
    const params = lm.parameters();
    expect(stepLoss(P)).toBe(stepLoss(P)); // seeded
    expect(Math.abs(stepLoss(P) - stepLoss(0))).toBeGreaterThan(1e-3); // the mask changes the loss
    // The gradient of one step (a step adds to the gradients).
    for (const q of params) lm.backend.fill(q.grad.length, q.grad, 0);
    stepLoss(P);
    const emb = params.find((q) => q.name === 'weight' && q.shape[1] === CONFIG.embeddingDim)!;
    const grad = lm.backend.read(emb.grad);
    const value = lm.backend.read(emb.value);
    const eps = 1e-2;
    let checked = 0, zeroed = 0;
    // Every element of the rows of 'a' and 'n' (frequent letters): some of their uses are dropped, some kept.
    for (const ch of ['a', 'n']) {
      const row = lm.vocabulary.id(ch);
      for (let d = 0; d < CONFIG.embeddingDim; d++) {
        const i = row * CONFIG.embeddingDim + d;
        const at = (v: number) => {
          const w = Float32Array.from(value); w[i] = v;
          lm.backend.write(emb.value, w);
          return stepLoss(P);
        };
        const fd = (at(value[i]! + eps) - at(value[i]! - eps)) / (2 * eps);
        expect(Math.abs(fd - grad[i]!), `${ch}[${d}]: finite difference ${fd}, backward ${grad[i]}`).toBeLessThan(2e-4 + 1e-2 * Math.abs(fd));
        checked++;
        if (grad[i] === 0) zeroed++;
      }
    }
    lm.backend.write(emb.value, value);
    expect(checked).toBe(2 * CONFIG.embeddingDim);
    expect(zeroed).toBeLessThan(checked); // not a vacuous comparison of zeros
    ce.dispose();
    lm.dispose();
  });

  it('fit: 0 is plain training bit for bit; a probability trains differently, the same for the same seed, and validation runs without it', async () => {
    const run = async (embeddingDropout?: number) => {
      const lm = new LanguageModel({ ...CONFIG, backend });
      const r = await lm.fit(NAMES, { ...FIT, maxSteps: 6, evalEvery: 2, validationSplit: 0.25, ...(embeddingDropout === undefined ? {} : { embeddingDropout }) });
      const out = { r, state: Object.fromEntries(Object.entries(lm.stateDict()).map(([k, t]) => [k, Float32Array.from(t.data)])), evalLoss: lm.evaluate(NAMES.slice(9), { seqLen: 16, batchSize: 3 }).loss };
      lm.dispose();
      return out;
    };
    const plain = await run(), zero = await run(0), a = await run(0.3), b = await run(0.3);
    expect(zero.r.valHistory).toEqual(plain.r.valHistory);
    expect(zero.state).toEqual(plain.state);
    expect(a.state).toEqual(b.state);
    expect(a.r.history).toEqual(b.r.history);
    expect(a.r.history.map((h) => h.loss)).not.toEqual(plain.r.history.map((h) => h.loss));
    // The kept validation loss is the held-out loss of the final model measured without a mask.
    expect(a.r.bestValLoss).toBeCloseTo(a.evalLoss, 5);
  });

  it('stream mode (a running text) drops too, seeded', async () => {
    const text = NAMES.join(' ').repeat(4);
    const run = async (embeddingDropout: number) => {
      const lm = new LanguageModel({ tokenizer: 'char', hiddenSize: 8, embeddingDim: 6, seed: 4, backend });
      const r = await lm.fit(text, { ...FIT, maxSteps: 4, validationSplit: 0, embeddingDropout });
      lm.dispose();
      return r.history.map((h) => h.loss);
    };
    const plain = await run(0), a = await run(0.3);
    expect(await run(0.3)).toEqual(a);
    // The first step's loss already differs: the same parameters, the input masked.
    expect(Math.abs(a[0]! - plain[0]!)).toBeGreaterThan(1e-4);
  });

  it('a probability outside [0, 1) is E_ARGUMENT', async () => {
    await expectFitOptionRefused('embeddingDropout', [1, -0.1, NaN, '0.2'], (embeddingDropout) => {
      const lm = new LanguageModel({ ...CONFIG, backend });
      return { run: lm.fit(NAMES, { ...FIT, maxSteps: 1, embeddingDropout } as never), dispose: () => lm.dispose() };
    });
  });
});

describe('embedding dropout in the training worker', () => {
  it('trains as on this thread', async () => {
    const states = [];
    for (const worker of [false, true]) {
      const lm = new LanguageModel({ ...CONFIG });
      await lm.fit(NAMES, { ...FIT, worker, maxSteps: 4, validationSplit: 0.25, embeddingDropout: 0.3 });
      states.push(Object.fromEntries(Object.entries(lm.stateDict()).map(([k, t]) => [k, Float32Array.from(t.data)])));
      lm.dispose();
    }
    expect(states[1]).toEqual(states[0]);
  });
});
