// The global gradient norm of every training step, before and after clipping, as fit's result and progress
// report it: the exploding-gradient diagnostic of issue 14, section 3.
import { describe, expect, it } from 'vitest';
import { LanguageModel } from '../src/models/language-model.js';
import { Linear } from '../src/nn/linear.js';
import { tensor } from '../src/tensor.js';
import { mseLoss } from '../src/train/losses.js';
import { clipGradNorm } from '../src/train/optim.js';
import { runTraining, type Progress } from '../src/train/trainer.js';
import { BACKENDS, randomData } from './helpers.js';

describe.each(BACKENDS)('gradient norms per training step on the %s backend', (backend) => {
  it('are the norms clipGradNorm returns (before clipping) and the clipped norms after', async () => {
    const layer = new Linear({ inFeatures: 3, outFeatures: 2, seed: 1, backend });
    // Targets of growing size: the gradient norm crosses the clip threshold of 1 part way through.
    const expected: number[] = [];
    const seen: Progress[] = [];
    const result = await runTraining({
      backend: layer.backend,
      parameters: () => layer.parameters(),
      stepsPerEpoch: () => 6,
      startEpoch: () => {},
      trainStep: (i) => {
        const y = layer.forward(tensor(randomData(12, 10 + i), [4, 3]));
        const target = Array.from(randomData(8, 20 + i), (v) => v * 0.05 * (i + 1) ** 2);
        const l = mseLoss(y, target);
        layer.backward(l.grad);
        // The norm of the gradients as they stand before the loop clips them, computed here on our own
        let ss = 0;
        for (const p of layer.parameters()) for (const g of p.grad.view()) ss += g * g;
        expected.push(Math.sqrt(ss));
        // and clipGradNorm's own answer (a bound it never reaches: nothing is scaled)
        expect(clipGradNorm(layer.parameters(), 1e30)).toBeCloseTo(Math.sqrt(ss), 5);
        return { loss: l.loss, count: 4 };
      },
      validate: () => null,
      snapshot: () => layer.stateDict(),
      restore: (s) => layer.loadStateDict(s),
    }, { epochs: 1, clip: 1, optimizer: 'sgd', lr: 1e-3, progressIntervalMs: 0, onProgress: (p) => seen.push(p), divergence: false });
    expect(result.gradNorms.map((g) => g.step)).toEqual([1, 2, 3, 4, 5, 6]);
    expect(expected.some((n) => n > 1) && expected.some((n) => n < 1)).toBe(true);
    result.gradNorms.forEach((g, i) => {
      expect(g.norm).toBeCloseTo(expected[i]!, 5);
      expect(g.clippedNorm).toBeCloseTo(Math.min(expected[i]!, 1), 5);
    });
    expect(seen.at(-1)!.gradNorm).toBe(result.gradNorms.at(-1)!.norm);
    layer.dispose();
  });

  it('a language model reports them from fit: the same first step with and without clipping', async () => {
    const make = () => new LanguageModel({ cell: 'rnn_tanh', hiddenSize: 8, embeddingDim: 4, seed: 3, backend });
    const text = 'the cat sat on the mat. '.repeat(8);
    const opts = { seqLen: 8, batchSize: 2, worker: false, validationSplit: 0, maxSteps: 3 } as const;
    const a = make(), b = make();
    const clipped = await a.fit(text, { ...opts, clip: 0.01 });
    const free = await b.fit(text, { ...opts, clip: 0 });
    expect(clipped.gradNorms).toHaveLength(3);
    expect(clipped.gradNorms[0]!.norm).toBeGreaterThan(0.01);
    expect(clipped.gradNorms[0]!.norm).toBeCloseTo(free.gradNorms[0]!.norm, 5);
    expect(clipped.gradNorms[0]!.clippedNorm).toBeCloseTo(0.01, 6);
    for (const g of free.gradNorms) expect(g.clippedNorm).toBe(g.norm);
    a.dispose(); b.dispose();
  });

  it('come back from a fit in the worker thread too, one per step, with each progress report carrying the latest', async () => {
    const lm = new LanguageModel({ cell: 'gru', hiddenSize: 8, embeddingDim: 4, seed: 3, backend });
    const seen: Progress[] = [];
    const r = await lm.fit('the cat sat on the mat. '.repeat(8), {
      seqLen: 8, batchSize: 2, validationSplit: 0, maxSteps: 4, worker: true, progressIntervalMs: 0, onProgress: (p) => seen.push(p),
    });
    expect(r.gradNorms.map((g) => g.step)).toEqual([1, 2, 3, 4]);
    expect(r.gradNorms.every((g) => g.norm > 0 && g.clippedNorm === g.norm)).toBe(true); // far under the default clip of 5
    expect(seen.at(-1)!.gradNorm).toBe(r.gradNorms.at(-1)!.norm);
    lm.dispose();
  });
});
