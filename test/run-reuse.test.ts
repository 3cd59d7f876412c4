// A recurrent layer keeps its buffers between calls (src/nn/recurrent.ts, getRun): a call of the same batch and mode
// whose T fits reuses them, a longer one allocates again with room to spare, and the backward's temporaries live
// with them. Reuse must never show: every call gives the bits of a twin layer that allocates anew for every call
// (an eval-mode call between its training calls makes it drop its buffers; it draws no dropout mask, so both keep
// the same dropout stream), with dropout, two layers and both directions.
import { describe, expect, it } from 'vitest';
import { GRU, LSTM, tensor, type Tensor } from '../src/index.js';
import { BACKENDS } from './helpers.js';
import { watchedBackend } from './watched-backend.js';

const I = 5, H = 7, B = 3;
const data = (n: number, s: number) => Float32Array.from({ length: n }, (_, i) => Math.sin(i * 0.37 + s) * 0.8);

type Layer = LSTM | GRU;
function make(kind: 'lstm' | 'gru', backend: ReturnType<typeof watchedBackend>['be']): Layer {
  const opts = { inputSize: I, hiddenSize: H, numLayers: 2, bidirectional: true, dropout: 0.4, seed: 3, backend };
  return kind === 'lstm' ? new LSTM(opts) : new GRU(opts);
}

/** forward + backward at T on `layer`: every output and gradient, as arrays. */
function step(layer: Layer, T: number): Float32Array[] {
  const x = tensor(data(T * B * I, T), [T, B, I]);
  const f = layer.forward(x);
  const dOut = tensor(data(T * B * 2 * H, 100 + T), [T, B, 2 * H]);
  const b = layer.backward({ dOutput: dOut, dhN: tensor(data(4 * B * H, 7), [4, B, H]) });
  const grads = Object.values(layer.grads()).map((g: Tensor) => g.data);
  layer.zeroGrad();
  return [f.output.data, f.hN.data, ...(f.cN ? [f.cN.data] : []), b.dInput.data, b.dh0.data, ...grads];
}

describe.each(BACKENDS.filter((b) => b !== 'cuda'))('recurrent buffers reused across lengths on %s', (backend) => {
  it.each(['lstm', 'gru'] as const)('%s: each call gives the bits of a twin that allocates anew; T within the kept room allocates nothing', (kind) => {
    const watched = watchedBackend(backend);
    const kept = make(kind, watched.be);
    const twin = make(kind, watchedBackend(backend).be);
    const lengths = [6, 3, 6, 1, 9, 4, 11, 11, 2];
    const allocsAt: number[] = [];
    for (const T of lengths) {
      const before = watched.allocs.length;
      const got = step(kept, T);
      allocsAt.push(watched.allocs.length - before);
      twin.eval().forward(tensor(data(B * I, 0), [1, B, I]));
      twin.train();
      const want = step(twin, T);
      expect(got.length).toBe(want.length);
      got.forEach((a, i) => expect(Array.from(a), `T ${T}, result ${i}`).toEqual(Array.from(want[i]!)));
    }
    twin.dispose();
    // 6 allocates (forward and the backward's temporaries), 3, 6, 1 and 4 fit in it; 9 grows it (room for 9),
    // 11 grows it again (room for 11), and 11 and 2 then fit
    expect(allocsAt.map((n) => n > 0)).toEqual([true, false, false, false, true, false, true, false, false]);
    kept.dispose();
  });
});

describe.each(BACKENDS.filter((b) => b !== 'cuda'))('a large kept room on %s', (backend) => {
  it('is given up for a call under an eighth of it, and grows again by a quarter', () => {
    const watched = watchedBackend(backend);
    const lstm = new LSTM({ inputSize: 4, hiddenSize: 64, seed: 1, backend: watched.be }).eval();
    const Bq = 16;
    const allocated = (T: number) => {
      const before = watched.allocs.length;
      const { output } = lstm.forward(tensor(data(T * Bq * 4, T), [T, Bq, 4]));
      expect(output.shape).toEqual([T, Bq, 64]);
      return watched.allocs.length > before;
    };
    // 2000 x 16 x 64 outputs: over the 2^20 floats a room may hold for a much shorter call; 100 gives it up, 120
    // grows it to 125 (a quarter more), 110 fits
    expect([2000, 100, 120, 110].map(allocated)).toEqual([true, true, true, false]);
    lstm.dispose();
  });
});
