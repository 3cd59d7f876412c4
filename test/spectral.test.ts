// The spectral radius by power iteration against eigenvalues computed directly (characteristic polynomials of
// 2x2 and 3x3 matrices), and the one-step Jacobian norm against the largest singular value of a Jacobian built
// column by column from finite differences.
import { describe, expect, it } from 'vitest';
import { CELL_KINDS, CELL_TABLE } from '../src/backend/types.js';
import { stateJacobianNorms } from '../src/diagnostics/jacobian.js';
import { recurrentSpectralRadii, spectralRadius } from '../src/diagnostics/spectral.js';
import { tensor } from '../src/tensor.js';
import { BACKENDS, makeLayer, randomData } from './helpers.js';

/** max |λ| of a 2x2 matrix from λ² - tr λ + det = 0. */
function radius2(m: number[]): number {
  const tr = m[0]! + m[3]!, det = m[0]! * m[3]! - m[1]! * m[2]!;
  const disc = tr * tr - 4 * det;
  if (disc < 0) return Math.sqrt(det); // |λ|² = λ λ̄ = det
  return Math.max(Math.abs((tr + Math.sqrt(disc)) / 2), Math.abs((tr - Math.sqrt(disc)) / 2));
}

/** max |λ| of a 3x3 matrix: a real root of the characteristic cubic by bisection, then the quadratic left. */
function radius3(m: number[]): number {
  const a = (i: number, j: number) => m[i * 3 + j]!;
  const tr = a(0, 0) + a(1, 1) + a(2, 2);
  const c2 = a(0, 0) * a(1, 1) - a(0, 1) * a(1, 0) + a(0, 0) * a(2, 2) - a(0, 2) * a(2, 0) + a(1, 1) * a(2, 2) - a(1, 2) * a(2, 1);
  const det = a(0, 0) * (a(1, 1) * a(2, 2) - a(1, 2) * a(2, 1)) - a(0, 1) * (a(1, 0) * a(2, 2) - a(1, 2) * a(2, 0)) + a(0, 2) * (a(1, 0) * a(2, 1) - a(1, 1) * a(2, 0));
  const p = (x: number) => x ** 3 - tr * x ** 2 + c2 * x - det;
  let lo = -100, hi = 100; // p(-100) < 0 < p(100) for these small entries
  for (let i = 0; i < 200; i++) { const mid = (lo + hi) / 2; if (p(mid) < 0) lo = mid; else hi = mid; }
  const r = (lo + hi) / 2;
  // p(x) = (x - r)(x² + bx + c)
  const b = r - tr, c = c2 + r * b;
  const disc = b * b - 4 * c;
  const rest = disc < 0 ? Math.sqrt(c) : Math.max(Math.abs((-b + Math.sqrt(disc)) / 2), Math.abs((-b - Math.sqrt(disc)) / 2));
  return Math.max(Math.abs(r), rest);
}

describe('spectralRadius', () => {
  it('matches known eigenvalues: diagonal, a rotation (complex pair), a triangular and a nilpotent matrix', () => {
    expect(spectralRadius([0.5, 0, 0, -0.9], 2)).toBeCloseTo(0.9, 3);
    const th = 0.7;
    expect(spectralRadius([0.8 * Math.cos(th), -0.8 * Math.sin(th), 0.8 * Math.sin(th), 0.8 * Math.cos(th)], 2)).toBeCloseTo(0.8, 3);
    expect(spectralRadius([2, 5, 7, 0, -3, 1, 0, 0, 0.5], 3)).toBeCloseTo(3, 3);
    expect(spectralRadius([0, 1, 0, 0], 2)).toBe(0);
  });

  it('matches the characteristic polynomial on random 2x2 and 3x3 matrices', () => {
    for (let s = 1; s <= 20; s++) {
      const m2 = Array.from(randomData(4, s)), m3 = Array.from(randomData(9, 100 + s));
      expect(Math.abs(spectralRadius(m2, 2) - radius2(m2)) / radius2(m2), `2x2 seed ${s}`).toBeLessThan(1e-2);
      expect(Math.abs(spectralRadius(m3, 3) - radius3(m3)) / radius3(m3), `3x3 seed ${s}`).toBeLessThan(1e-2);
    }
  });

  it('refuses a matrix that is not n x n', () => {
    expect(() => spectralRadius([1, 2, 3], 2)).toThrow(expect.objectContaining({ code: 'E_SHAPE' }));
  });
});

describe.each(BACKENDS)('recurrent diagnostics on the %s backend', (backend) => {
  it.each(CELL_KINDS)('%s: one radius per layer and gate block of W_hh, named from the cell table', (kind) => {
    const rnn = makeLayer(kind, { inputSize: 2, hiddenSize: 3, numLayers: 2, backend, seed: 4 });
    const radii = recurrentSpectralRadii(rnn);
    const gates = CELL_TABLE[kind].gates;
    expect(radii.map((r) => `${r.layer}${r.gate}`)).toEqual([0, 1].flatMap((l) => gates.map((g) => `${l}${g}`)));
    const w = rnn.stateDict()['weight_hh_l1']!.data;
    const g = gates.length - 1;
    expect(radii.at(-1)!.radius).toBeCloseTo(radius3(Array.from(w.subarray(g * 9, (g + 1) * 9))), 2);
    rnn.dispose();
  });

  it.each(CELL_KINDS)('%s: ‖∂S_t/∂S_t-1‖ is the largest singular value of a finite-difference Jacobian', (kind) => {
    const H = 3, I = 2, B = 2, T = 3;
    const rnn = makeLayer(kind, { inputSize: I, hiddenSize: H, backend, seed: 9 });
    // larger weights than the default init, so the Jacobian is far from 0
    const dict = rnn.stateDict();
    rnn.loadStateDict(Object.fromEntries(Object.entries(dict).map(([k, t]) => [k, tensor(t.data.map((v) => v * 3), t.shape)])));
    const cell = CELL_TABLE[kind].hasCellState;
    const x = tensor(randomData(T * B * I, 2), [T, B, I]);
    const [layer] = stateJacobianNorms(rnn, x, {}, { iterations: 60 });
    expect(layer!.norms).toHaveLength(T);
    // The reference: the explicit Jacobian of step t for sequence b, column by column, then σ_max from JᵀJ.
    rnn.eval();
    let h = new Float32Array(B * H), c = new Float32Array(B * H);
    const n = cell ? 2 * H : H, eps = 1e-2;
    for (let t = 0; t < T; t++) {
      const xt = tensor(x.data.slice(t * B * I, (t + 1) * B * I), [1, B, I]);
      const f = (hh: Float32Array, cc: Float32Array) => {
        const r = rnn.forward(xt, cell ? { h0: tensor(hh, [1, B, H]), c0: tensor(cc, [1, B, H]) } : { h0: tensor(hh, [1, B, H]) });
        return { h: r.hN.data, c: r.cN?.data };
      };
      for (let b = 0; b < B; b++) {
        const J = Array.from({ length: n }, () => new Float64Array(n)); // J[row][col]
        for (let j = 0; j < n; j++) {
          const hp = h.slice(), hm = h.slice(), cp = c.slice(), cm = c.slice();
          if (j < H) { hp[b * H + j]! += eps; hm[b * H + j]! -= eps; } else { cp[b * H + j - H]! += eps; cm[b * H + j - H]! -= eps; }
          const up = f(hp, cp), down = f(hm, cm);
          for (let i = 0; i < n; i++) {
            J[i]![j] = i < H ? (up.h[b * H + i]! - down.h[b * H + i]!) / (2 * eps) : (up.c![b * H + i - H]! - down.c![b * H + i - H]!) / (2 * eps);
          }
        }
        const JtJ: number[] = [];
        for (let i = 0; i < n; i++) for (let j = 0; j < n; j++) { let s = 0; for (let k = 0; k < n; k++) s += J[k]![i]! * J[k]![j]!; JtJ.push(s); }
        const sigma = Math.sqrt(spectralRadius(JtJ, n, { iterations: 4000 }));
        // (a ReLU unit off for every direction gives J = 0: the absolute term)
        expect(Math.abs(layer!.norms[t]![b]! - sigma), `step ${t} sequence ${b}: σ ${sigma}`).toBeLessThan(1e-2 * sigma + 1e-4);
      }
      const r = f(h, c);
      h = r.h.slice(); if (r.c) c = r.c.slice();
    }
    rnn.dispose();
  });

  it('lstm, block h: ‖∂h_t/∂h_t-1‖ with c held is the largest singular value of the h block of a finite-difference Jacobian', () => {
    const H = 3, I = 2, B = 2, T = 3;
    const rnn = makeLayer('lstm', { inputSize: I, hiddenSize: H, backend, seed: 11 });
    rnn.loadStateDict(Object.fromEntries(Object.entries(rnn.stateDict()).map(([k, t]) => [k, tensor(t.data.map((v) => v * 3), t.shape)])));
    const x = tensor(randomData(T * B * I, 3), [T, B, I]);
    const [full] = stateJacobianNorms(rnn, x, {}, { iterations: 60 });
    const [hOnly] = stateJacobianNorms(rnn, x, {}, { iterations: 60, block: 'h' });
    rnn.eval();
    let h = new Float32Array(B * H), c = new Float32Array(B * H);
    const eps = 1e-2;
    for (let t = 0; t < T; t++) {
      const xt = tensor(x.data.slice(t * B * I, (t + 1) * B * I), [1, B, I]);
      const f = (hh: Float32Array) => rnn.forward(xt, { h0: tensor(hh, [1, B, H]), c0: tensor(c, [1, B, H]) });
      for (let b = 0; b < B; b++) {
        const J = Array.from({ length: H }, () => new Float64Array(H));
        for (let j = 0; j < H; j++) {
          const hp = h.slice(), hm = h.slice();
          hp[b * H + j]! += eps; hm[b * H + j]! -= eps;
          const up = f(hp).hN.data, down = f(hm).hN.data;
          for (let i = 0; i < H; i++) J[i]![j] = (up[b * H + i]! - down[b * H + i]!) / (2 * eps);
        }
        const JtJ: number[] = [];
        for (let i = 0; i < H; i++) for (let j = 0; j < H; j++) { let s = 0; for (let k = 0; k < H; k++) s += J[k]![i]! * J[k]![j]!; JtJ.push(s); }
        const sigma = Math.sqrt(spectralRadius(JtJ, H, { iterations: 4000 }));
        expect(Math.abs(hOnly!.norms[t]![b]! - sigma), `step ${t} sequence ${b}: σ ${sigma}`).toBeLessThan(1e-2 * sigma + 1e-4);
        // a block of a matrix has a norm no larger than the whole
        expect(hOnly!.norms[t]![b]!).toBeLessThanOrEqual(full!.norms[t]![b]! * (1 + 1e-3));
      }
      const r = rnn.forward(xt, { h0: tensor(h, [1, B, H]), c0: tensor(c, [1, B, H]) });
      h = r.hN.data.slice(); c = r.cN!.data.slice();
    }
    rnn.dispose();
  });
});
