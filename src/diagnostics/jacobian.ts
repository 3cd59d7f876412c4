// ‖∂S_t/∂S_{t-1}‖₂ along a sequence: the largest singular value of one layer's one-step state Jacobian (its
// input held fixed), for every step and sequence. S is h, and (h, c) for LSTM: the map the gradient crosses at
// each step. A product of such factors under 1 is a vanishing gradient.
//
// Power iteration on JᵀJ: Jᵀu is exact (a T=1 backward of the kernels with dhN = u gives dh0 = Jᵀu), Jv is a
// central difference of two T=1 forwards (the kernels have no forward-mode derivative). The batch's Jacobian is
// block-diagonal over sequences, so each sequence's vector is normalised on its own and gets its own norm.
import { CELL_TABLE } from '../backend/types.js';
import { RnnkitError } from '../errors.js';
import type { RecurrentBase } from '../nn/recurrent.js';
import { Random } from '../nn/random.js';
import { tensor, type Tensor } from '../tensor.js';
import { diagnosticCopy, sequenceDims } from './layers.js';

export interface JacobianOptions {
  /** Power iterations per step (default 30). */
  iterations?: number;
  /** Finite-difference step for Jv, in state units (default 1e-3). */
  eps?: number;
  seed?: number;
  /**
   * 'state' (default): the Jacobian of the whole state, (h, c) for LSTM. 'h': ∂h_t/∂h_{t-1} with c_{t-1} held,
   * the h block alone (the same as 'state' for cells without c).
   */
  block?: 'state' | 'h';
}

export interface LayerJacobianNorms {
  layer: number;
  /** norms[t][b]: ‖∂S_{t+1}/∂S_t‖₂ of sequence b at step t (0-based: the step reading x_t). */
  norms: number[][];
  /** Mean over the batch, per step. */
  mean: number[];
}

/**
 * The one-step Jacobian norms of every layer along x [T, B, inputSize] (sequence-major), from the zero state or
 * `state`. Costs about 4 x iterations one-step kernel calls per step and layer.
 */
export function stateJacobianNorms(rnn: RecurrentBase, x: Tensor, state: { h0?: Tensor; c0?: Tensor } = {}, opts: JacobianOptions = {}): LayerJacobianNorms[] {
  const iters = opts.iterations ?? 30, eps = opts.eps ?? 1e-3;
  if (!Number.isSafeInteger(iters) || iters < 1) throw new RnnkitError('E_ARGUMENT', `iterations: expected a positive integer, found ${String(iters)}`);
  if (!(eps > 0)) throw new RnnkitError('E_ARGUMENT', `eps: expected a positive number, found ${String(eps)}`);
  const net = diagnosticCopy(rnn);
  try {
    const I = net.inputSize, H = net.hiddenSize, L = net.numLayers;
    const [T, B] = sequenceDims(x, I);
    const hasC = CELL_TABLE[net.kind].hasCellState;
    // whether the c block is part of the map measured (c itself is always carried when the cell has it)
    const withC = hasC && (opts.block ?? 'state') === 'state';
    const S = [L, B, H], n = L * B * H;
    const rng = new Random(opts.seed ?? 1);
    let h = state.h0 ?? tensor(new Float32Array(n), S);
    let c = hasC ? state.c0 ?? tensor(new Float32Array(n), S) : undefined;
    const result: LayerJacobianNorms[] = Array.from({ length: L }, (_, layer) => ({ layer, norms: [], mean: [] }));
    for (let t = 0; t < T; t++) {
      const xt = tensor(x.data.subarray(t * B * I, (t + 1) * B * I), [1, B, I]);
      const run = (hh: Float32Array, cc: Float32Array | undefined) => net.forward(xt, cc ? { h0: tensor(hh, S), c0: tensor(cc, S) } : { h0: tensor(hh, S) });
      for (let l = 0; l < L; l++) {
        const off = l * B * H;
        // v: [B, H] (and [B, H] for c), one unit vector per sequence
        const vh = new Float64Array(B * H), vc = withC ? new Float64Array(B * H) : null;
        for (let i = 0; i < B * H; i++) { vh[i] = rng.next() * 2 - 1; if (vc) vc[i] = rng.next() * 2 - 1; }
        const normalise = (ah: Float64Array, ac: Float64Array | null) => {
          const norms = new Array<number>(B);
          for (let b = 0; b < B; b++) {
            let s = 0;
            for (let j = b * H; j < (b + 1) * H; j++) s += ah[j]! ** 2 + (ac ? ac[j]! ** 2 : 0);
            const r = Math.sqrt(s);
            norms[b] = r;
            for (let j = b * H; j < (b + 1) * H; j++) { ah[j]! /= r || 1; if (ac) ac[j]! /= r || 1; }
          }
          return norms;
        };
        normalise(vh, vc);
        // Jv by central differences, for layer l's block only
        const jvp = () => {
          const hp = h.data.slice(), hm = h.data.slice();
          const cp = c?.data.slice(), cm = c?.data.slice();
          for (let i = 0; i < B * H; i++) {
            hp[off + i]! += eps * vh[i]!; hm[off + i]! -= eps * vh[i]!;
            if (cp && cm && vc) { cp[off + i]! += eps * vc[i]!; cm[off + i]! -= eps * vc[i]!; }
          }
          const up = run(hp, cp), down = run(hm, cm);
          const jh = new Float64Array(B * H), jc = withC ? new Float64Array(B * H) : null;
          for (let i = 0; i < B * H; i++) {
            jh[i] = (up.hN.data[off + i]! - down.hN.data[off + i]!) / (2 * eps);
            if (jc) jc[i] = (up.cN!.data[off + i]! - down.cN!.data[off + i]!) / (2 * eps);
          }
          return { jh, jc };
        };
        // Jᵀu from the kernels' backward
        const vjp = (uh: Float64Array, uc: Float64Array | null) => {
          net.train();
          run(h.data, c?.data);
          const dh = new Float32Array(n), dc = new Float32Array(n);
          for (let i = 0; i < B * H; i++) { dh[off + i] = uh[i]!; if (uc) dc[off + i] = uc[i]!; }
          const g = net.backward(hasC ? { dhN: tensor(dh, S), dcN: tensor(dc, S) } : { dhN: tensor(dh, S) });
          net.eval();
          return {
            gh: Float64Array.from(g.dh0.data.subarray(off, off + B * H)),
            gc: withC && g.dc0 ? Float64Array.from(g.dc0.data.subarray(off, off + B * H)) : null,
          };
        };
        net.eval();
        let sigma: number[] = new Array<number>(B).fill(0);
        for (let k = 0; k < iters; k++) {
          const { jh, jc } = jvp();
          const { gh, gc } = vjp(jh, jc);
          // ‖JᵀJv‖ -> σ² for a unit v at convergence
          sigma = normalise(gh, gc).map(Math.sqrt);
          vh.set(gh); if (vc && gc) vc.set(gc);
        }
        result[l]!.norms.push(sigma);
        result[l]!.mean.push(sigma.reduce((a, b) => a + b, 0) / B);
      }
      net.eval();
      const r = run(h.data, c?.data);
      h = r.hN; c = r.cN;
    }
    return result;
  } finally {
    net.dispose();
  }
}
