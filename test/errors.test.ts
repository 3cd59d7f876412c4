// Bad input is a clear error with a stable code naming the argument: never a crash, a hang or a wrong answer.
import { describe, expect, it } from 'vitest';
import { loadBackend } from '../src/backend/index.js';
import { checkFinite, RnnkitError, useFiniteScan } from '../src/errors.js';
import { GRU, LSTM, RNN } from '../src/nn/recurrent.js';
import { tensor } from '../src/tensor.js';
import { BACKENDS } from './helpers.js';

function expectError(fn: () => unknown, code: string, mentions: RegExp): void {
  let err: unknown;
  try { fn(); } catch (e) { err = e; }
  expect(err, 'expected an error').toBeInstanceOf(RnnkitError);
  expect((err as RnnkitError).code).toBe(code);
  expect((err as RnnkitError).message).toMatch(mentions);
}

describe('checkFinite', () => {
  it('names the first NaN or infinite element, wherever it is (also in the tail after whole groups of four)', () => {
    for (const n of [1, 4, 7, 1001]) {
      for (const at of [0, Math.floor(n / 2), n - 1]) {
        for (const bad of [NaN, Infinity, -Infinity]) {
          const data = Float32Array.from({ length: n }, (_, i) => Math.sin(i) * 3e38);
          data[at] = bad;
          if (at + 1 < n) data[n - 1] = NaN; // a later bad element does not hide the first
          expectError(() => checkFinite('x', data), 'E_NONFINITE', new RegExp(`x: element ${at} is ${bad}`));
        }
      }
    }
  });
  // From 8192 elements the check runs in the native addon once the native backend has loaded (blocks of 4096)
  it.each(BACKENDS.includes('native') ? ['native scan', 'JavaScript scan'] : ['JavaScript scan'])(
    'large arrays, %s: the first bad element at block edges and the end, finite extremes accepted',
    (how) => {
      if (how === 'native scan') loadBackend('native');
      else useFiniteScan(null);
      for (const n of [8192, 8193, 20000]) {
        const clean = Float32Array.from({ length: n }, (_, i) => (i % 3 === 0 ? 3.4028234e38 : i % 3 === 1 ? -0 : -1e-45));
        expect(() => checkFinite('big', clean)).not.toThrow();
        for (const at of [0, 4095, 4096, 8191, n - 1]) {
          for (const bad of [NaN, Infinity, -Infinity]) {
            const data = clean.slice();
            data[at] = bad;
            if (at + 5000 < n) data[at + 5000] = NaN; // a later bad element, in another block, does not hide it
            expectError(() => checkFinite('big', data), 'E_NONFINITE', new RegExp(`big: element ${at} is ${bad}`));
          }
        }
      }
    },
  );
  it('accepts finite numbers, the largest and -0 included', () => {
    expect(() => checkFinite('x', Float32Array.of(-0, 3.4028234e38, -3.4028234e38, 1e-45, 0, 1, 2))).not.toThrow();
    expect(() => checkFinite('x', new Float32Array(0))).not.toThrow();
  });
});

describe('options', () => {
  it('rejects sizes that are not positive integers', () => {
    expectError(() => new LSTM({ inputSize: 3, hiddenSize: 0 }), 'E_ARGUMENT', /hiddenSize/);
    expectError(() => new GRU({ inputSize: 2.5, hiddenSize: 4 }), 'E_ARGUMENT', /inputSize/);
    expectError(() => new LSTM({ inputSize: 3, hiddenSize: 4, numLayers: -1 }), 'E_ARGUMENT', /numLayers/);
  });
  it('rejects a dropout outside [0, 1)', () => {
    expectError(() => new LSTM({ inputSize: 3, hiddenSize: 4, dropout: 1 }), 'E_ARGUMENT', /dropout/);
  });
  it('rejects an unknown nonlinearity', () => {
    expectError(() => new RNN({ inputSize: 3, hiddenSize: 4, nonlinearity: 'sigmoid' as 'tanh' }), 'E_ARGUMENT', /nonlinearity/);
  });
  it('rejects an unknown backend name with E_BACKEND naming the registered ones', () => {
    expectError(() => new RNN({ inputSize: 3, hiddenSize: 4, backend: 'abacus' }), 'E_BACKEND', /backend.*native, wasm.*"abacus"/);
  });
  it('tensor() rejects data that does not fill the shape', () => {
    expectError(() => tensor(new Float32Array(5), [2, 3]), 'E_SHAPE', /6 elements/);
  });
});

describe.each(BACKENDS)('bad input on the %s backend', (backend) => {
  const lstm = () => new LSTM({ inputSize: 3, hiddenSize: 4, numLayers: 2, backend });
  const x = () => tensor(new Float32Array(2 * 1 * 3).fill(0.5), [2, 1, 3]);

  it('names the input when its rank or feature size is wrong', () => {
    const m = lstm();
    expectError(() => m.forward(tensor(new Float32Array(6), [2, 3])), 'E_SHAPE', /input.*\[2, 3\]/);
    expectError(() => m.forward(tensor(new Float32Array(8), [2, 1, 4])), 'E_SHAPE', /input/);
  });
  it('names the input when its data is shorter than its shape says', () => {
    const m = lstm();
    expectError(() => m.forward({ data: new Float32Array(5), shape: [2, 1, 3] }), 'E_SHAPE', /input.*6 elements/);
  });
  it('rejects data that is not float32', () => {
    const m = lstm();
    expectError(() => m.forward({ data: new Float64Array(6) as unknown as Float32Array, shape: [2, 1, 3] }), 'E_DTYPE', /input/);
  });
  it('rejects NaN and Infinity in the input and states', () => {
    const m = lstm();
    const bad = x(); bad.data[4] = NaN;
    expectError(() => m.forward(bad), 'E_NONFINITE', /input: element 4/);
    const h0 = tensor(new Float32Array(2 * 1 * 4), [2, 1, 4]); h0.data[1] = Infinity;
    expectError(() => m.forward(x(), { h0 }), 'E_NONFINITE', /h0/);
  });
  it('names h0 and c0 when their shape is wrong', () => {
    const m = lstm();
    expectError(() => m.forward(x(), { h0: tensor(new Float32Array(4), [1, 1, 4]) }), 'E_SHAPE', /h0.*\[2, 1, 4\]/);
    expectError(() => m.forward(x(), { c0: tensor(new Float32Array(16), [2, 2, 4]) }), 'E_SHAPE', /c0/);
    const gru = new GRU({ inputSize: 3, hiddenSize: 4, backend });
    expectError(() => gru.forward(x(), { c0: tensor(new Float32Array(4), [1, 1, 4]) }), 'E_ARGUMENT', /c0/);
  });
  it('rejects backward before a training forward, and after an inference forward', () => {
    const m = lstm();
    expectError(() => m.backward({}), 'E_STATE', /forward/);
    m.eval().forward(x());
    expectError(() => m.backward({}), 'E_STATE', /training/);
  });
  it('names dOutput when its shape is wrong', () => {
    const m = lstm();
    m.forward(x());
    expectError(() => m.backward({ dOutput: tensor(new Float32Array(4), [1, 1, 4]) }), 'E_SHAPE', /dOutput/);
  });

  describe('state dicts', () => {
    it('names a missing key', () => {
      const m = lstm(); const sd = m.stateDict(); delete sd.bias_hh_l1;
      expectError(() => m.loadStateDict(sd), 'E_STATE_DICT', /missing bias_hh_l1/);
    });
    it('names an unexpected key', () => {
      const m = lstm(); const sd = { ...m.stateDict(), weight_ih_l2: tensor(new Float32Array(1), [1]) };
      expectError(() => m.loadStateDict(sd), 'E_STATE_DICT', /unexpected weight_ih_l2/);
    });
    it('names a mis-shaped key with expected and found shapes', () => {
      const m = lstm(); const sd = m.stateDict();
      sd.weight_hh_l0 = tensor(new Float32Array(16 * 3), [16, 3]);
      expectError(() => m.loadStateDict(sd), 'E_STATE_DICT', /weight_hh_l0: expected shape \[16, 4\], found shape \[16, 3\]/);
    });
    it('names the dtype of data that is not float32, and a length that does not fill the shape', () => {
      const m = lstm(); const sd = m.stateDict();
      sd.weight_hh_l0 = { data: new Float64Array(16 * 4) as unknown as Float32Array, shape: [16, 4] };
      expectError(() => m.loadStateDict(sd), 'E_STATE_DICT', /weight_hh_l0: expected float32 data \(a Float32Array\), found a Float64Array/);
      sd.weight_hh_l0 = { data: new Float32Array(5), shape: [16, 4] };
      expectError(() => m.loadStateDict(sd), 'E_STATE_DICT', /weight_hh_l0: expected 64 elements for shape \[16, 4\], found 5/);
      sd.weight_hh_l0 = { data: [1, 2] as unknown as Float32Array, shape: [1, 2] };
      expectError(() => m.loadStateDict(sd), 'E_STATE_DICT', /weight_hh_l0: expected float32 data \(a Float32Array\), found an array/);
    });
    it('rejects NaN in a weight and leaves the layer unchanged', () => {
      const m = lstm(); const before = m.stateDict(); const sd = m.stateDict();
      sd.weight_ih_l1!.data[3] = NaN;
      expectError(() => m.loadStateDict(sd), 'E_NONFINITE', /weight_ih_l1/);
      expect(m.stateDict()).toEqual(before);
    });
    it('round-trips stateDict through loadStateDict', () => {
      const a = lstm(); const b = new LSTM({ inputSize: 3, hiddenSize: 4, numLayers: 2, backend, seed: 99 });
      b.loadStateDict(a.stateDict());
      expect(b.eval().forward(x()).output.data).toEqual(a.eval().forward(x()).output.data);
    });
  });

  describe('kernel calls', () => {
    it('reject a buffer shorter than the sizes say before any memory is touched', () => {
      const be = loadBackend(backend);
      const T = 3, B = 2, I = 4, H = 5;
      const a = (n: number) => be.alloc(n);
      const args = {
        kind: 'gru' as const, T, B, I, H, reverse: false,
        x: a(T * B * I - 1), h0: a(B * H), c0: null, wih: a(15 * I), whh: a(15 * H), bih: a(15), bhh: a(15),
        y: a(T * B * H), hT: a(B * H), cT: null, ws: null,
      };
      expectError(() => be.cellForward(args), 'E_SHAPE', /buffer x: expected at least 24 floats, found 23/);
    });
  });
});

describe.skipIf(!BACKENDS.includes('native'))('the native addon itself', () => {
  it('checks Float32Array lengths in C++ too, so a direct call cannot read out of bounds', async () => {
    const { createRequire } = await import('node:module');
    const require = createRequire(import.meta.url);
    const addon = require('node-gyp-build')(new URL('..', import.meta.url).pathname);
    const f = (n: number) => new Float32Array(n);
    let err: { code?: string; message?: string } = {};
    try {
      addon.cellForward(2, 3, 2, 4, 5, 0, f(24), f(10), f(10), f(80), f(100), f(20), f(20), f(30), f(10), f(9), null);
    } catch (e) { err = e as typeof err; }
    expect(err.code).toBe('E_SHAPE');
    expect(err.message).toMatch(/cT: expected at least 10 floats, found 9/);
    try { addon.sgemm(0, 0, 2, 2, 2, 1, f(4), 2, new Float64Array(4), 2, 0, f(4), 2); } catch (e) { err = e as typeof err; }
    expect(err.code).toBe('E_DTYPE');
  });
});
