// The data-movement operations of the Backend interface (src/backend/types.ts, MoveOps) against direct JavaScript
// computations, on every backend, with odd shapes, offsets and strides; dropout's mask against the layer's
// generator and across backends; and the layers' promise that they read a buffer only to return a result.
import { describe, expect, it } from 'vitest';
import { loadBackend, type Backend, type Buf } from '../src/backend/index.js';
import { Embedding } from '../src/nn/embedding.js';
import { Linear } from '../src/nn/linear.js';
import { Random } from '../src/nn/random.js';
import { GRU, LSTM } from '../src/nn/recurrent.js';
import { Adam } from '../src/train/optim.js';
import { tensor } from '../src/tensor.js';
import { BACKENDS, errorOf } from './helpers.js';

/** n floats that differ from one another and from zero (so a missed or misplaced element shows). */
const ramp = (n: number, s = 1) => Float32Array.from({ length: n }, (_, i) => s * (i + 1) + 0.25 * Math.sin(i));

/** A buffer of `be` holding data. */
function bufOf(be: Backend, data: Float32Array): Buf {
  const b = be.alloc(data.length);
  be.write(b, data);
  return b;
}

describe.each(BACKENDS)('data movement on the %s backend', (backend) => {
  const be = loadBackend(backend);

  it('write and read move host data in and out at an offset', () => {
    const b = be.alloc(13);
    be.write(b, ramp(5), 7);
    const all = be.read(b);
    expect(Array.from(all)).toEqual([0, 0, 0, 0, 0, 0, 0, ...ramp(5), 0]);
    expect(Array.from(be.read(b, 8, 3))).toEqual(Array.from(ramp(5).subarray(1, 4)));
    expect(be.read(b, 13).length).toBe(0);
    all[7] = 99; // a copy, not a view
    expect(be.read(b, 7, 1)[0]).toBe(ramp(1)[0]);
    expect(errorOf(() => be.write(b, ramp(5), 9)).code).toBe('E_SHAPE');
    expect(errorOf(() => be.read(b, 10, 4)).code).toBe('E_SHAPE');
    expect(errorOf(() => be.read(b, -1)).code).toBe('E_ARGUMENT');
    expect(errorOf(() => be.write(b, [1, 2] as unknown as Float32Array)).code).toBe('E_DTYPE');
    be.free(b);
  });

  it('fill sets n floats from an offset and nothing else', () => {
    const b = bufOf(be, ramp(23));
    be.fill(13, b, -2.5, 3);
    const want = ramp(23);
    want.fill(-2.5, 3, 16);
    expect(Array.from(be.read(b))).toEqual(Array.from(want));
    be.fill(0, b, 7, 23); // empty at the end: allowed, changes nothing
    expect(Array.from(be.read(b))).toEqual(Array.from(want));
    expect(errorOf(() => be.fill(21, b, 0, 3)).code).toBe('E_SHAPE');
    expect(errorOf(() => be.fill(1.5, b, 0)).code).toBe('E_ARGUMENT');
    be.free(b);
  });

  it('copy moves a strided block between offsets and strides, leaving the rest of dst alone', () => {
    for (const [rows, cols, so, ss, dOff, ds] of [[5, 3, 2, 7, 1, 4], [1, 11, 0, 11, 5, 11], [4, 1, 3, 3, 0, 2], [3, 6, 0, 6, 0, 6], [0, 4, 0, 4, 0, 4]]) {
      const srcData = ramp(so + Math.max(rows - 1, 0) * ss + cols + 2);
      const dstData = ramp(dOff + Math.max(rows - 1, 0) * ds + cols + 3, -1);
      const src = bufOf(be, srcData), dst = bufOf(be, dstData);
      be.copy(rows, cols, src, so, ss, dst, dOff, ds);
      const want = dstData.slice();
      for (let r = 0; r < rows; r++) for (let c = 0; c < cols; c++) want[dOff + r * ds + c] = srcData[so + r * ss + c]!;
      expect(Array.from(be.read(dst)), `copy ${[rows, cols, so, ss, dOff, ds].join(',')}`).toEqual(Array.from(want));
      expect(Array.from(be.read(src))).toEqual(Array.from(srcData));
      be.free(src);
      be.free(dst);
    }
    const a = be.alloc(10), b = be.alloc(10);
    expect(errorOf(() => be.copy(3, 4, a, 0, 4, b, 0, 4)).code).toBe('E_SHAPE'); // reaches float 12 of 10
    expect(errorOf(() => be.copy(1, 2, a, 0, 2, a, 4, 2)).code).toBe('E_ARGUMENT'); // one buffer
    expect(errorOf(() => be.copy(1, 2, a, -1, 2, b, 0, 2)).code).toBe('E_ARGUMENT');
    be.free(a);
    be.free(b);
  });

  it('transpose01 turns [A, B, C] into [B, A, C] and back', () => {
    for (const [A, B, C] of [[3, 5, 7], [7, 1, 3], [1, 4, 2], [5, 3, 1]]) {
      const data = ramp(A! * B! * C!);
      const src = bufOf(be, data), dst = be.alloc(A! * B! * C!), back = be.alloc(A! * B! * C!);
      be.transpose01(A!, B!, C!, src, dst);
      const want = new Float32Array(data.length);
      for (let a = 0; a < A!; a++) for (let b = 0; b < B!; b++) for (let c = 0; c < C!; c++) want[(b * A! + a) * C! + c] = data[(a * B! + b) * C! + c]!;
      expect(Array.from(be.read(dst)), `[${A}, ${B}, ${C}]`).toEqual(Array.from(want));
      be.transpose01(B!, A!, C!, dst, back);
      expect(Array.from(be.read(back))).toEqual(Array.from(data));
      for (const x of [src, dst, back]) be.free(x);
    }
    const s = be.alloc(6), d = be.alloc(5);
    expect(errorOf(() => be.transpose01(2, 3, 1, s, d)).code).toBe('E_SHAPE');
    expect(errorOf(() => be.transpose01(2, 3, 1, s, s)).code).toBe('E_ARGUMENT');
    be.free(s);
    be.free(d);
  });

  it('interleave puts two directions side by side per row; deinterleave takes them apart', () => {
    for (const [R, H] of [[7, 5], [1, 3], [6, 1], [4, 16]]) {
      const f = ramp(R! * H!), r = ramp(R! * H!, -3);
      const fb = bufOf(be, f), rb = bufOf(be, r), out = be.alloc(2 * R! * H!);
      be.interleave(R!, H!, fb, rb, out);
      const want = new Float32Array(2 * R! * H!);
      for (let i = 0; i < R!; i++) {
        want.set(f.subarray(i * H!, (i + 1) * H!), 2 * i * H!);
        want.set(r.subarray(i * H!, (i + 1) * H!), (2 * i + 1) * H!);
      }
      expect(Array.from(be.read(out)), `R ${R}, H ${H}`).toEqual(Array.from(want));
      const f2 = be.alloc(R! * H!), r2 = be.alloc(R! * H!);
      be.deinterleave(R!, H!, out, f2, r2);
      expect(Array.from(be.read(f2))).toEqual(Array.from(f));
      expect(Array.from(be.read(r2))).toEqual(Array.from(r));
      for (const x of [fb, rb, out, f2, r2]) be.free(x);
    }
    const a = be.alloc(6), b = be.alloc(6), o = be.alloc(11);
    expect(errorOf(() => be.interleave(2, 3, a, b, o)).code).toBe('E_SHAPE');
    expect(errorOf(() => be.interleave(2, 3, a, a, o)).code).toBe('E_ARGUMENT');
    for (const x of [a, b, o]) be.free(x);
  });

  it('dropout keeps exactly the elements whose Random.next() is at least p, scaled by 1 / (1 - p)', () => {
    // (a p so close to 1 that ceil(p 2^32) is 2^32: every element dropped; 70001: over the native threads' share)
    for (const [n, p, seedOf] of [[1001, 0.3, 7], [37, 0.5, 123456], [5, 0.9, 1], [64, 0, 3], [33, 0.9999999999, 5],
      [70001, 0.25, 99]] as const) {
      const rng = new Random(seedOf), twin = new Random(seedOf);
      const seed = rng.skip(n);
      const x = ramp(n, -0.5);
      const keep = Math.fround(1 / (1 - p));
      const want = x.map((v) => v * (twin.next() < p ? 0 : keep));
      expect(rng.next()).toBe(twin.next()); // skip(n) leaves the generator where n calls of next() would
      const xb = bufOf(be, x), yb = be.alloc(n);
      be.dropout(n, p, seed, xb, yb);
      expect(Array.from(be.read(yb)), `n ${n}, p ${p}`).toEqual(Array.from(want));
      be.dropout(n, p, seed, xb, xb); // in place: the same
      expect(Array.from(be.read(xb))).toEqual(Array.from(want));
      be.free(xb);
      be.free(yb);
    }
  });

  it('dropout backward (the same call on the gradient) passes gradient only where the forward kept the input', () => {
    const n = 777, p = 0.4, seed = 0xfffffff0;
    const x = bufOf(be, ramp(n)), y = be.alloc(n), g = bufOf(be, ramp(n, 2)), dx = be.alloc(n);
    be.dropout(n, p, seed, x, y);
    be.dropout(n, p, seed, g, dx);
    const ys = be.read(y), xs = ramp(n), gs = ramp(n, 2), dxs = be.read(dx);
    let dropped = 0;
    for (let i = 0; i < n; i++) {
      const m = Math.fround(ys[i]! / xs[i]!); // the forward's mask: 0 or 1 / (1 - p)
      if (m === 0) dropped++;
      expect(dxs[i]).toBe(Math.fround(gs[i]! * (m === 0 ? 0 : Math.fround(1 / (1 - p)))));
    }
    expect(dropped / n).toBeGreaterThan(p - 0.06);
    expect(dropped / n).toBeLessThan(p + 0.06);
    for (const b of [x, y, g, dx]) be.free(b);
  });

  it('dropout refuses a probability outside [0, 1) and a seed outside [0, 2^32)', () => {
    const a = be.alloc(4), b = be.alloc(4);
    expect(errorOf(() => be.dropout(4, 1, 0, a, b)).code).toBe('E_ARGUMENT');
    expect(errorOf(() => be.dropout(4, 0.5, 2 ** 32, a, b)).code).toBe('E_ARGUMENT');
    expect(errorOf(() => be.dropout(4, 0.5, 1.5, a, b)).code).toBe('E_ARGUMENT');
    expect(errorOf(() => be.dropout(5, 0.5, 1, a, b)).code).toBe('E_SHAPE');
    be.free(a);
    be.free(b);
  });

  it('Linear still takes number-array data, rounded to float32, as copying into a view did', () => {
    const lin = new Linear({ inFeatures: 3, outFeatures: 2, backend, seed: 4 });
    const y = lin.forward(tensor(Float32Array.of(0.1, 2, -3), [1, 3]));
    expect(Array.from(lin.forward({ data: [0.1, 2, -3] as unknown as Float32Array, shape: [1, 3] }).data)).toEqual(Array.from(y.data));
    lin.dispose();
  });

  it('a layer, its optimizer and its state dict never take a view of a buffer', () => {
    // Every buffer allocated through a wrapper whose view() counts: the layers must move data with the ops above
    // and read() results, which a device backend can do without a host copy of every intermediate.
    let views = 0;
    const counted = new Proxy(be, {
      get(t, k) {
        if (k === 'alloc') {
          return (n: number) => {
            const b = t.alloc(n);
            const view = b.view.bind(b);
            Object.defineProperty(b, 'view', { value: () => { views++; return view(); } });
            return b;
          };
        }
        const v = Reflect.get(t, k, t) as unknown;
        return typeof v === 'function' ? (v as (...a: unknown[]) => unknown).bind(t) : v;
      },
    });
    const T = 4, B = 3, V = 9, E = 5, H = 6;
    const emb = new Embedding({ numEmbeddings: V, embeddingDim: E, backend: counted, seed: 1 });
    const rnn = new LSTM({ inputSize: E, hiddenSize: H, numLayers: 2, bidirectional: true, batchFirst: true, dropout: 0.3, backend: counted, seed: 2 });
    const head = new Linear({ inFeatures: 2 * H, outFeatures: V, backend: counted, seed: 3 });
    const params = [...emb.parameters(), ...rnn.parameters(), ...head.parameters()];
    const opt = new Adam(params, { lr: 1e-2 });
    const ids = { data: Array.from({ length: B * T }, (_, i) => (i * 5) % V), shape: [B, T] };
    const x = emb.forward(ids);
    const { output } = rnn.forward(x);
    const logits = head.forward(output);
    const dOut = head.backward(tensor(logits.data.map((v) => 0.1 * v), logits.shape));
    const { dInput } = rnn.backward({ dOutput: dOut, dhN: tensor(ramp(4 * B * H), [4, B, H]) });
    emb.backward(dInput);
    opt.step();
    opt.zeroGrad();
    rnn.loadStateDict(rnn.stateDict());
    rnn.grads();
    rnn.eval().forward(x, { h0: tensor(ramp(4 * B * H, 0.01), [4, B, H]), c0: tensor(ramp(4 * B * H, -0.01), [4, B, H]) });
    expect(views).toBe(0);
    for (const m of [emb, rnn, head, opt]) m.dispose();
  });
});

describe('dropout masks across backends', () => {
  it.runIf(BACKENDS.length > 1)('every backend draws the identical mask for the same seed', () => {
    const n = 4099, x = ramp(n);
    const results = BACKENDS.map((name) => {
      const be = loadBackend(name);
      return [0.1, 0.5, 0.77].map((p) => {
        const xb = bufOf(be, x), yb = be.alloc(n);
        be.dropout(n, p, 0x9e3779b9, xb, yb);
        const y = be.read(yb);
        be.free(xb);
        be.free(yb);
        return new Uint8Array(y.buffer).join(',');
      });
    });
    for (let i = 1; i < results.length; i++) expect(results[i], BACKENDS[i]).toEqual(results[0]);
  });

  it.runIf(BACKENDS.length > 1)('a 2-layer bidirectional batch-first GRU with dropout trains alike on every backend', () => {
    const T = 5, B = 3, I = 4, H = 7;
    const x = tensor(ramp(B * T * I, 0.05), [B, T, I]);
    const run = (backend: string, dropout: number) => {
      const g = new GRU({ inputSize: I, hiddenSize: H, numLayers: 2, bidirectional: true, batchFirst: true, dropout, seed: 11, backend });
      const { output, hN } = g.forward(x);
      const { dInput, dh0 } = g.backward({ dOutput: tensor(ramp(output.data.length, 0.01), output.shape) });
      g.dispose();
      return { output, hN, dInput, dh0 };
    };
    const [a, ...rest] = BACKENDS.map((b) => run(b, 0.5));
    for (const r of rest) {
      for (const k of ['output', 'hN', 'dInput', 'dh0'] as const) {
        r[k].data.forEach((v, i) => expect(Math.abs(v - a![k].data[i]!), `${k}[${i}]`).toBeLessThanOrEqual(1e-5 * Math.max(1, Math.abs(v))));
      }
    }
    // and the mask mattered: without dropout the output differs
    const none = run(BACKENDS[0]!, 0);
    expect(none.output.data.some((v, i) => Math.abs(v - a!.output.data[i]!) > 1e-3)).toBe(true);
  });
});
