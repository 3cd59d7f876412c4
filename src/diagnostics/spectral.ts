// The spectral radius of the recurrent weights: ρ(W_hh) < 1 for a tanh RNN means the linear part of the
// recurrence shrinks every direction, the textbook cause of vanishing gradients (ρ > 1: they may explode). For
// LSTM and GRU each gate's [H, H] block of W_hh is reported on its own, named from the cell table.
import { CELL_TABLE } from '../backend/types.js';
import { RnnkitError } from '../errors.js';
import type { RecurrentBase } from '../nn/recurrent.js';
import { Random } from '../nn/random.js';

export interface SpectralOptions {
  /** Matrix-vector products (default 2000). */
  iterations?: number;
  seed?: number;
}

/**
 * ρ(A) = max |λ| of a square n x n matrix (row-major), by power iteration in float64: log ‖A^k v‖ grows like
 * k log ρ plus a bounded term, so the mean growth over the second half of the iterations is ρ with an error of
 * order 1/iterations in the log, also when the dominant eigenvalues are a complex pair (plain ratio estimates
 * oscillate there). A nilpotent matrix gives 0.
 */
export function spectralRadius(a: ArrayLike<number>, n: number, opts: SpectralOptions = {}): number {
  if (!Number.isSafeInteger(n) || n < 1 || a.length !== n * n) {
    throw new RnnkitError('E_SHAPE', `matrix: expected ${n} x ${n} = ${n * n} elements, found ${a.length}`);
  }
  const iters = opts.iterations ?? 2000;
  if (!Number.isSafeInteger(iters) || iters < 2) throw new RnnkitError('E_ARGUMENT', `iterations: expected an integer >= 2, found ${String(iters)}`);
  const rng = new Random(opts.seed ?? 1);
  let v = new Float64Array(n), w = new Float64Array(n);
  for (let i = 0; i < n; i++) v[i] = rng.next() * 2 - 1;
  let logSum = 0, counted = 0;
  const half = Math.floor(iters / 2);
  for (let k = 0; k < iters; k++) {
    let s = 0;
    for (let i = 0; i < n; i++) {
      let acc = 0;
      for (let j = 0; j < n; j++) acc += a[i * n + j]! * v[j]!;
      w[i] = acc; s += acc * acc;
    }
    const g = Math.sqrt(s);
    if (!(g > 0)) return 0;
    if (!Number.isFinite(g)) throw new RnnkitError('E_NONFINITE', 'matrix: power iteration overflowed (non-finite entries?)');
    for (let i = 0; i < n; i++) w[i]! /= g;
    [v, w] = [w, v];
    if (k >= half) { logSum += Math.log(g); counted++; }
  }
  return Math.exp(logSum / counted);
}

export interface GateRadius {
  layer: number;
  /** The gate's name in the cell table ('h' for the plain RNN; i, f, g, o for LSTM; r, z, n for GRU). */
  gate: string;
  radius: number;
}

/** ρ of each gate block of each layer's W_hh (forward direction; `_reverse` too when bidirectional, as `direction` 1). */
export function recurrentSpectralRadii(rnn: RecurrentBase, opts: SpectralOptions = {}): (GateRadius & { direction: number })[] {
  const H = rnn.hiddenSize, gates = CELL_TABLE[rnn.kind].gates;
  const dict = rnn.stateDict();
  const out: (GateRadius & { direction: number })[] = [];
  for (let l = 0; l < rnn.numLayers; l++) {
    for (let d = 0; d < rnn.numDirections; d++) {
      const w = dict[`weight_hh_l${l}${d ? '_reverse' : ''}`]!.data; // [G*H, H]
      gates.forEach((gate, g) => {
        out.push({ layer: l, direction: d, gate, radius: spectralRadius(w.subarray(g * H * H, (g + 1) * H * H), H, opts) });
      });
    }
  }
  return out;
}
