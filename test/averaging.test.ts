// fit's weight averaging (TrainOptions.averaging): the model ends with, and validation measures, the debiased
// exponential moving average of the parameters over the steps, â_t = Σ_i (1 - d) d^(t-i) θ_i / (1 - d^t),
// while the steps themselves update θ as plain training does. θ_1..θ_K come from plain fits of 1..K steps (a
// constant schedule and a seeded batch order make each a prefix of the longer run); â is computed from them here
// in float64 and compared with what fit with averaging left in the model.
import { describe, expect, it } from 'vitest';
import { LanguageModel } from '../src/models/language-model.js';
import type { Tensor } from '../src/tensor.js';
import { BACKENDS, expectFitOptionRefused } from './helpers.js';

const NAMES = ['Anna', 'Jo', 'Johanna', 'Mary-Ann', 'Xena', 'Sara', 'Sarah', 'Marta', 'Tim', 'Bartholomew', 'Ida', 'Otto'];
// Dropout 0.3 between the two layers: the mask is seeded per step, so averaging must leave it alone too.
const CONFIG = { tokenizer: 'char', hiddenSize: 10, embeddingDim: 5, numLayers: 2, dropout: 0.3, separator: '\n', seed: 5 } as const;
const FIT = { batchSize: 3, seqLen: 16, lr: 0.05, schedule: 'constant', worker: false, progressIntervalMs: 0 } as const;
const K = 5, DECAY = 0.6;

type State = Record<string, Tensor>;
const copyState = (s: State): State => Object.fromEntries(Object.entries(s).map(([k, t]) => [k, { data: Float32Array.from(t.data), shape: t.shape }]));

/** The debiased EMA of states[0..t-1] (θ_1..θ_t), in float64. */
function ema(states: State[], t: number, d: number): Record<string, Float64Array> {
  const out: Record<string, Float64Array> = {};
  for (const key of Object.keys(states[0]!)) {
    const a = new Float64Array(states[0]![key]!.data.length);
    for (let i = 0; i < t; i++) {
      const th = states[i]![key]!.data;
      for (let j = 0; j < a.length; j++) a[j] = d * a[j]! + (1 - d) * th[j]!;
    }
    const s = 1 / (1 - d ** t);
    for (let j = 0; j < a.length; j++) a[j]! *= s;
    out[key] = a;
  }
  return out;
}

/** Largest |x - y| over every parameter. */
function maxDiff(state: State, ref: Record<string, Float64Array | Float32Array>): number {
  let m = 0;
  for (const [key, t] of Object.entries(state)) {
    const r = ref[key]!;
    for (let j = 0; j < r.length; j++) m = Math.max(m, Math.abs(t.data[j]! - r[j]!));
  }
  return m;
}

describe.each(BACKENDS)('weight averaging on the %s backend', (backend) => {
  /** θ_1..θ_k: plain fits of 1..k steps from the same seeded start. */
  async function plainStates(data: readonly string[], k: number, lr: number): Promise<State[]> {
    const out: State[] = [];
    for (let t = 1; t <= k; t++) {
      const lm = new LanguageModel({ ...CONFIG, backend });
      await lm.fit(data, { ...FIT, lr, maxSteps: t, validationSplit: 0 });
      out.push(copyState(lm.stateDict()));
      lm.dispose();
    }
    return out;
  }
  const arrays = (s: State) => Object.fromEntries(Object.entries(s).map(([k, t]) => [k, t.data]));

  it('the model ends with the debiased moving average of the parameters after each step, computed by hand', async () => {
    const theta = await plainStates(NAMES, K, FIT.lr);
    const lm = new LanguageModel({ ...CONFIG, backend });
    await lm.fit(NAMES, { ...FIT, maxSteps: K, validationSplit: 0, averaging: { decay: DECAY } });
    const got = lm.stateDict();
    const want = ema(theta, K, DECAY);
    expect(maxDiff(got, want)).toBeLessThan(2e-6);
    // Not a no-op: the average is far from the last step's parameters (the steps move them by about lr).
    expect(maxDiff(got, arrays(theta[K - 1]!))).toBeGreaterThan(1e-2);
    lm.dispose();
  });

  it('validation measures the average, each improving validation checkpoints it, and the model ends with the best one', async () => {
    // The names twice, the second half held out: the training half and the vocabulary (ordered by count) are
    // those of a fit on TRAIN alone, so plain fits on TRAIN give θ_t. lr 0.2, 3 steps: the third validation is
    // worse than the second, so the model must go back to step 2's average.
    const TRAIN = NAMES.slice(0, 6), lr = 0.2, steps = 3;
    const theta = await plainStates(TRAIN, steps, lr);
    const lm = new LanguageModel({ ...CONFIG, backend });
    const checkpoints: { step: number; state: State }[] = [];
    const r = await lm.fit([...TRAIN, ...TRAIN], {
      ...FIT, lr, maxSteps: steps, validationSplit: 0.5, evalEvery: 1, averaging: { decay: DECAY },
      onCheckpoint: (state, info) => { checkpoints.push({ step: info.step, state: copyState(state) }); },
    });
    expect(r.valHistory.map((v) => v.step)).toEqual([1, 2, 3]);
    // Each validation's loss is the held-out loss of â at that step, measured here on a model holding â.
    const probe = new LanguageModel({ ...CONFIG, backend });
    await probe.fit(TRAIN, { ...FIT, maxSteps: 1, validationSplit: 0 });
    const lossOf = (state: State) => { probe.loadStateDict(state); return probe.evaluate(TRAIN, { seqLen: 16, batchSize: 3 }).loss; };
    const asState = (a: Record<string, Float64Array>): State => Object.fromEntries(Object.entries(a).map(([k, x]) => [k, { data: Float32Array.from(x), shape: theta[0]![k]!.shape }]));
    for (const v of r.valHistory) expect(v.loss).toBeCloseTo(lossOf(asState(ema(theta, v.step, DECAY))), 5);
    // ... which is not the loss of θ at the same step.
    expect(Math.abs(r.valHistory.at(-1)!.loss - lossOf(theta[steps - 1]!))).toBeGreaterThan(1e-3);
    probe.dispose();
    // A checkpoint at every validation that improved (steps 1 and 2), each that step's â; the model ends with
    // the best (step 2's), not the last.
    expect(r.valHistory[2]!.loss).toBeGreaterThan(r.valHistory[1]!.loss);
    expect(r.bestValLoss).toBe(r.valHistory[1]!.loss);
    expect(checkpoints.map((c) => c.step)).toEqual([1, 2]);
    for (const c of checkpoints) expect(maxDiff(c.state, ema(theta, c.step, DECAY))).toBeLessThan(2e-6);
    expect(maxDiff(lm.stateDict(), ema(theta, 2, DECAY))).toBeLessThan(2e-6);
    lm.dispose();
  });

  it('a checkpoint callback that throws leaves the model at the trained parameters, as without averaging', async () => {
    // Validation holds â in the model while onCheckpoint runs; when the callback throws, fit rejects with its
    // error and the model must hold θ again (what a fit without averaging leaves), not that validation's â.
    const runs: { state: State; seen: State }[] = [];
    for (const averaging of [{ decay: DECAY }, undefined]) {
      const lm = new LanguageModel({ ...CONFIG, backend });
      let seen: State = {};
      const fit = lm.fit([...NAMES, ...NAMES], {
        ...FIT, maxSteps: 3, validationSplit: 0.5, evalEvery: 1, ...(averaging ? { averaging } : {}),
        onCheckpoint: (state, info) => {
          if (info.step < 2) return;
          seen = copyState(state);
          throw new Error('disk full');
        },
      });
      await expect(fit).rejects.toThrow('disk full');
      runs.push({ state: copyState(lm.stateDict()), seen });
      lm.dispose();
    }
    const [avg, plain] = runs;
    for (const [k, t] of Object.entries(plain!.state)) expect(avg!.state[k]!.data, k).toEqual(t.data);
    // the callback was handed â, which is not θ
    expect(maxDiff(avg!.seen, arrays(avg!.state))).toBeGreaterThan(1e-3);
  });

  it('decay 0 is plain training, bit for bit', async () => {
    const plain = new LanguageModel({ ...CONFIG, backend });
    const rp = await plain.fit(NAMES, { ...FIT, maxSteps: K, validationSplit: 0.3 });
    const zero = new LanguageModel({ ...CONFIG, backend });
    const rz = await zero.fit(NAMES, { ...FIT, maxSteps: K, validationSplit: 0.3, averaging: { decay: 0 } });
    expect(rz.valHistory).toEqual(rp.valHistory);
    for (const [k, t] of Object.entries(plain.stateDict())) expect(zero.stateDict()[k]!.data).toEqual(t.data);
    plain.dispose(); zero.dispose();
  });

  it('bad averaging options are E_ARGUMENT, naming the option', async () => {
    const bad: unknown[] = [{ decay: 1 }, { decay: -0.1 }, { decay: NaN }, { decay: '0.9' }, {}, { decay: 0.9, start: 3 }, null, 0.999];
    await expectFitOptionRefused('averaging', bad, (averaging) => {
      const lm = new LanguageModel({ ...CONFIG, backend });
      return { run: lm.fit(NAMES, { ...FIT, maxSteps: 2, averaging } as never), dispose: () => lm.dispose() };
    });
  });
});

describe('weight averaging in the training worker', () => {
  it('gives the same parameters and validations as on this thread', async () => {
    const runs = [];
    for (const worker of [false, true]) {
      const lm = new LanguageModel({ ...CONFIG });
      const r = await lm.fit(NAMES, { ...FIT, worker, maxSteps: K, validationSplit: 0.3, averaging: { decay: DECAY } });
      runs.push({ r, state: copyState(lm.stateDict()) });
      lm.dispose();
    }
    expect(runs[1]!.r.valHistory).toEqual(runs[0]!.r.valHistory);
    const ref = Object.fromEntries(Object.entries(runs[0]!.state).map(([k, t]) => [k, t.data]));
    expect(maxDiff(runs[1]!.state, ref)).toBe(0);
  });

  it('a bad decay is E_ARGUMENT from the worker too, naming the option', async () => {
    await expectFitOptionRefused('averaging', [{ decay: 1 }], (averaging) => {
      const lm = new LanguageModel({ ...CONFIG });
      return { run: lm.fit(NAMES, { ...FIT, worker: true, maxSteps: 2, averaging } as never), dispose: () => lm.dispose() };
    });
  });
});
