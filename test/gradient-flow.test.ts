// gradientFlow and stateGradients against finite differences: ∂L/∂h_t (and ∂L/∂c_t) at every distance must match
// central differences of the float32 forward with a perturbed state fed into the rest of the sequence.
import { describe, expect, it } from 'vitest';
import { CELL_KINDS, CELL_TABLE } from '../src/backend/types.js';
import { fitDecay, gradientFlow, stateGradients, vanishDistance } from '../src/diagnostics/gradient-flow.js';
import { disposeParts, languageModelParts } from '../src/diagnostics/layers.js';
import { LanguageModel } from '../src/models/language-model.js';
import { tensor, type Tensor } from '../src/tensor.js';
import { CrossEntropyLoss } from '../src/train/losses.js';
import { BACKENDS, expectClose, makeLayer, dot, randomData } from './helpers.js';

const T = 5, B = 2, I = 3, H = 4, L = 2;
const EPS = 1e-2;

/** ‖a - b‖ / ‖b‖ */
function relErr(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let d = 0, n = 0;
  for (let i = 0; i < b.length; i++) { d += (a[i]! - b[i]!) ** 2; n += b[i]! ** 2; }
  return Math.sqrt(d / n);
}

describe.each(BACKENDS)('gradient flow on the %s backend', (backend) => {
  it.each(CELL_KINDS)('%s, 2 layers: ∂L/∂state at every distance matches central differences of the tail', (kind) => {
    const rnn = makeLayer(kind, { inputSize: I, hiddenSize: H, numLayers: L, backend, seed: 3, dropout: 0.5 });
    const cell = CELL_TABLE[kind].hasCellState;
    const x = tensor(randomData(T * B * I, 1), [T, B, I]);
    const R = randomData(B * H, 2); // L = Σ h_top,T ⊙ R, so dLast = R
    const S = [L, B, H];
    const g = stateGradients(rnn, x, tensor(R, [B, H]));
    expect(g.dh).toHaveLength(T);
    expect(g.dc === null).toBe(!cell);
    rnn.eval();
    // The states S_t every step starts from, and the loss of the tail from a given S_t.
    const hs: Tensor[] = [], cs: Tensor[] = [];
    let h = tensor(new Float32Array(L * B * H), S), c = cell ? tensor(new Float32Array(L * B * H), S) : undefined;
    for (let t = 0; t < T; t++) {
      hs.push(h); if (c) cs.push(c);
      const r = rnn.forward(tensor(x.data.slice(t * B * I, (t + 1) * B * I), [1, B, I]), c ? { h0: h, c0: c } : { h0: h });
      h = r.hN; c = r.cN;
    }
    const tail = (t: number, h0: Float32Array, c0?: Float32Array) => {
      const xs = tensor(x.data.slice(t * B * I), [T - t, B, I]);
      const o = rnn.forward(xs, c0 ? { h0: tensor(h0, S), c0: tensor(c0, S) } : { h0: tensor(h0, S) }).output;
      return dot(o.data.subarray((T - t - 1) * B * H), R);
    };
    const fd = (t: number, which: 'h' | 'c') => {
      const out = new Float32Array(L * B * H);
      for (let i = 0; i < out.length; i++) {
        const hp = hs[t]!.data.slice(), cp = cell ? cs[t]!.data.slice() : undefined;
        const target = which === 'h' ? hp : cp!;
        const v = target[i]!;
        target[i] = v + EPS; const up = tail(t, hp, cp);
        target[i] = v - EPS; const down = tail(t, hp, cp);
        out[i] = (up - down) / (2 * EPS);
      }
      return out;
    };
    for (let k = 1; k <= T; k++) {
      const t = T - k;
      expect(relErr(g.dh[k - 1]!, fd(t, 'h')), `dh at distance ${k}`).toBeLessThan(1e-2);
      if (cell) expect(relErr(g.dc![k - 1]!, fd(t, 'c')), `dc at distance ${k}`).toBeLessThan(1e-2);
    }
    rnn.dispose();
  });

  it.each(CELL_KINDS)('%s: the gradient at distance T is the dh0 (and dc0) of one backward over the whole sequence', (kind) => {
    const rnn = makeLayer(kind, { inputSize: I, hiddenSize: H, numLayers: L, backend, seed: 5 });
    const x = tensor(randomData(T * B * I, 6), [T, B, I]);
    const R = randomData(B * H, 7);
    const g = stateGradients(rnn, x, tensor(R, [B, H]));
    rnn.train();
    rnn.forward(x);
    const dOut = new Float32Array(T * B * H);
    dOut.set(R, (T - 1) * B * H);
    const full = rnn.backward({ dOutput: tensor(dOut, [T, B, H]) });
    expectClose('dh0', g.dh[T - 1]!, full.dh0.data, 1e-4, 1e-6);
    if (full.dc0) expectClose('dc0', g.dc![T - 1]!, full.dc0.data, 1e-4, 1e-6);
    rnn.dispose();
  });

  it('gradientFlow of a language model: the norms are those of the cross-entropy gradient w.r.t. the initial state', async () => {
    const lm = new LanguageModel({ cell: 'lstm', embeddingDim: 3, hiddenSize: 4, numLayers: 2, backend, seed: 2 });
    await lm.fit('abcabdabcabdabcabd', { maxSteps: 2, seqLen: 4, batchSize: 2, worker: false, validationSplit: 0 });
    const seqs = [[0, 1, 2, 0, 1, 3], [1, 2, 0, 1, 3, 0]];
    const flow = gradientFlow(lm, seqs);
    expect(flow).toMatchObject({ kind: 'lstm', T: 5, B: 2 });
    expect(flow.layers).toHaveLength(2);
    // Finite differences of the model's loss with respect to each layer's initial h.
    const p = languageModelParts(lm);
    const ce = new CrossEntropyLoss(lm.backend);
    const ids = Int32Array.from({ length: 10 }, (_, i) => seqs[i % 2]![Math.floor(i / 2)]!);
    const x = p.embedding.forward({ data: ids, shape: [5, 2] });
    p.rnn.eval();
    const loss = (h0: Float32Array) => {
      const o = p.rnn.forward(x, { h0: tensor(h0, [2, 2, 4]) }).output;
      return ce.compute(p.decoder.forward(tensor(o.data.slice(4 * 2 * 4), [2, 4])), [seqs[0]![5]!, seqs[1]![5]!], { grad: false }).loss;
    };
    const h0 = new Float32Array(16);
    expect(flow.loss).toBeCloseTo(loss(h0), 5);
    const grad = new Float32Array(16);
    for (let i = 0; i < 16; i++) {
      h0[i] = EPS; const up = loss(h0);
      h0[i] = -EPS; const down = loss(h0);
      h0[i] = 0;
      grad[i] = (up - down) / (2 * EPS);
    }
    for (let l = 0; l < 2; l++) {
      const n = Math.hypot(...grad.subarray(l * 8, (l + 1) * 8));
      expect(Math.abs(flow.layers[l]!.h[4]! - n) / n, `layer ${l}`).toBeLessThan(1e-2);
    }
    ce.dispose(); disposeParts(p); lm.dispose();
  });
});

describe('decay fit', () => {
  it('γ of a geometric sequence is its ratio, and the vanishing distance is where it falls under 1e-3 of distance 1', () => {
    const y = Array.from({ length: 30 }, (_, i) => 3 * 0.6 ** (i + 1));
    expect(fitDecay(y)).toBeCloseTo(0.6, 10);
    // 0.6^(k-1) < 1e-3 first at k - 1 = 14
    expect(vanishDistance(y)).toBe(15);
    expect(vanishDistance(y.slice(0, 10))).toBeNull();
  });

  it('zeros (float underflow) are left out of the fit, and under two usable points there is no γ', () => {
    expect(fitDecay([0.5, 0.25, 0, 0.0625])).toBeCloseTo(0.5, 10);
    expect(fitDecay([1])).toBeNull();
    expect(fitDecay([0, 0, 0])).toBeNull();
  });

  it('gradientFlow refuses sequences of unequal length and out-of-vocabulary targets', async () => {
    const lm = new LanguageModel({ cell: 'gru', embeddingDim: 2, hiddenSize: 3, seed: 1 });
    await lm.fit('abababab', { maxSteps: 1, seqLen: 3, batchSize: 1, worker: false, validationSplit: 0 });
    expect(() => gradientFlow(lm, [[0, 1, 0], [1, 0]])).toThrow(expect.objectContaining({ code: 'E_ARGUMENT' }));
    expect(() => gradientFlow(lm, [[0, 1, 99]])).toThrow(/sequences\[0\]\[2\].*\[0, \d+\)/);
    expect(() => gradientFlow(lm, [])).toThrow(expect.objectContaining({ code: 'E_ARGUMENT' }));
    lm.dispose();
  });
});
