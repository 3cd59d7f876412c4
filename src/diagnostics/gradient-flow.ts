// Gradient flow through time: ‖∂L/∂h_t‖ (and ‖∂L/∂c_t‖ for LSTM) for a loss at the LAST step, by distance to
// that step, for every layer: the lecture's picture of a late loss reaching back to early states. (A loss summed
// over all steps would mix in each step's own nearby loss, so its gradient at t hardly depends on the distance.)
//
// Definitions. S_t is the state of every layer after t inputs (S_0 the initial state), T the sequence length, and
// the loss reads the top layer's output at the last step, so S_T's top h is what the decoder sees. The remaining
// computation from S_t on is a function tail_t(S_t) = L; the gradient at distance k = T - t (1..T) is ∇tail_t,
// each layer's h (and c) a separate input of it, as when a perturbed state is fed into the rest of the sequence.
//
// How (exact, O(T) kernel calls): tail_t(S) = tail_{t+1}(step(S, x_t)), so ∇tail_t = J_stepᵀ ∇tail_{t+1}: one
// stacked T=1 forward from S_t and one backward with dhN = ∇tail_{t+1} give dh0 = ∇tail_t. That is the real
// backward pass (the backend's cell kernels), run one step per call so every intermediate gradient is seen;
// nothing of the cells is re-implemented here. ∇tail_0 equals the dh0 of one backward over the whole sequence.
import { CELL_TABLE } from '../backend/types.js';
import { RnnkitError, shapeError } from '../errors.js';
import type { RecurrentBase } from '../nn/recurrent.js';
import { shapeStr, tensor, type Tensor } from '../tensor.js';
import { CrossEntropyLoss } from '../train/losses.js';
import { diagnosticCopy, disposeParts, languageModelParts, sequenceDims, type LanguageModelLike } from './layers.js';

/** Gradients w.r.t. the states, by distance: dh[k - 1] is ∇ w.r.t. the h of every layer at distance k, [L, B, H]. */
export interface StateGradients {
  dh: Float32Array[];
  /** LSTM only: the same for c. */
  dc: Float32Array[] | null;
}

/** One layer's gradient flow. Arrays are indexed by distance - 1 (distance 1..T). */
export interface LayerFlow {
  layer: number;
  /** ‖∂L/∂h‖ (L2 over the batch and hidden units) at distance 1..T. */
  h: number[];
  /** LSTM only: ‖∂L/∂c‖ at distance 1..T. */
  c?: number[];
  /** Per-step decay: exp of the least-squares slope of log ‖∂L/∂h‖ against distance (null with under 2 usable points). */
  gamma: number | null;
  /** The same fit for ‖∂L/∂c‖ (LSTM only). */
  gammaC?: number | null;
  /** The first distance at which ‖∂L/∂h‖ falls under 1e-3 of its value at distance 1; null when it never does within T. */
  vanishDistance: number | null;
}

export interface GradientFlow {
  kind: RecurrentBase['kind'];
  /** Steps (the largest distance) and sequences. */
  T: number;
  B: number;
  /** The loss the gradients are of (mean cross-entropy of the last step's prediction), when gradientFlow computed one. */
  loss: number | null;
  layers: LayerFlow[];
}

/** The share of the distance-1 norm under which a gradient counts as vanished. */
export const VANISH_RATIO = 1e-3;

const norm = (a: Float32Array, from: number, to: number): number => {
  let s = 0;
  for (let i = from; i < to; i++) s += a[i]! * a[i]!;
  return Math.sqrt(s);
};

/**
 * ∇ of L w.r.t. the states of every layer at every distance (see the file's header), for a loss whose gradient
 * w.r.t. the top layer's last output is `dLast` [B, H]. x is [T, B, inputSize] (sequence-major), the initial
 * state zeros unless given. The layer itself is not changed: a dropout-free copy runs.
 */
export function stateGradients(rnn: RecurrentBase, x: Tensor, dLast: Tensor, state: { h0?: Tensor; c0?: Tensor } = {}): StateGradients {
  const net = diagnosticCopy(rnn);
  try {
    const I = net.inputSize, H = net.hiddenSize, L = net.numLayers;
    const [T, B] = sequenceDims(x, I);
    if (!dLast || dLast.data.length !== B * H) throw shapeError('dLast', `shape [${B}, ${H}]`, dLast ? `shape ${shapeStr(dLast.shape)}` : String(dLast));
    const cell = CELL_TABLE[net.kind].hasCellState;
    const sshape = [L, B, H];
    const step = (t: number) => tensor(x.data.subarray(t * B * I, (t + 1) * B * I), [1, B, I]);
    // S_0 .. S_{T-1}: the states each step starts from.
    const hs: Tensor[] = [], cs: Tensor[] = [];
    let h = state.h0 ?? tensor(new Float32Array(L * B * H), sshape);
    let c = cell ? state.c0 ?? tensor(new Float32Array(L * B * H), sshape) : undefined;
    net.eval();
    for (let t = 0; t < T; t++) {
      hs.push(h); if (c) cs.push(c);
      const r = net.forward(step(t), c ? { h0: h, c0: c } : { h0: h });
      h = r.hN; c = r.cN;
    }
    // ∇ w.r.t. S_T: the loss reads only the top layer's h.
    let gh: Float32Array = new Float32Array(L * B * H);
    gh.set(dLast.data, (L - 1) * B * H);
    let gc: Float32Array | null = cell ? new Float32Array(L * B * H) : null;
    const dh: Float32Array[] = new Array<Float32Array>(T), dc: Float32Array[] | null = cell ? new Array<Float32Array>(T) : null;
    net.train();
    for (let t = T - 1; t >= 0; t--) {
      net.forward(step(t), cell ? { h0: hs[t]!, c0: cs[t]! } : { h0: hs[t]! });
      const g = net.backward(gc ? { dhN: tensor(gh, sshape), dcN: tensor(gc, sshape) } : { dhN: tensor(gh, sshape) });
      gh = g.dh0.data; gc = g.dc0?.data ?? null;
      dh[T - 1 - t] = gh;
      if (dc && gc) dc[T - 1 - t] = gc;
    }
    return { dh, dc };
  } finally {
    net.dispose();
  }
}

/** exp(least-squares slope of log y against k = 1..n), over the finite positive values; null under 2 of them. */
export function fitDecay(y: readonly number[]): number | null {
  let n = 0, sk = 0, sy = 0, skk = 0, sky = 0;
  y.forEach((v, i) => {
    if (!(v > 0) || !Number.isFinite(v)) return;
    const k = i + 1, l = Math.log(v);
    n++; sk += k; sy += l; skk += k * k; sky += k * l;
  });
  const den = n * skk - sk * sk;
  if (n < 2 || den === 0) return null;
  return Math.exp((n * sky - sk * sy) / den);
}

/** The first distance (1-based) whose value is under ratio x the value at distance 1, or null. */
export function vanishDistance(y: readonly number[], ratio = VANISH_RATIO): number | null {
  const ref = y[0];
  if (!(ref! > 0)) return null;
  const i = y.findIndex((v) => v < ratio * ref!);
  return i < 0 ? null : i + 1;
}

/** Norms, γ and the vanishing distance per layer, from stateGradients. */
export function summarizeFlow(rnn: RecurrentBase, g: StateGradients, B: number, loss: number | null): GradientFlow {
  const H = rnn.hiddenSize, L = rnn.numLayers, T = g.dh.length;
  const layers: LayerFlow[] = [];
  for (let l = 0; l < L; l++) {
    const at = (a: Float32Array) => norm(a, l * B * H, (l + 1) * B * H);
    const h = g.dh.map(at);
    const flow: LayerFlow = { layer: l, h, gamma: fitDecay(h), vanishDistance: vanishDistance(h) };
    if (g.dc) {
      flow.c = g.dc.map(at);
      flow.gammaC = fitDecay(flow.c);
    }
    layers.push(flow);
  }
  return { kind: rnn.kind, T, B, loss, layers };
}

/**
 * The gradient flow of a language model on equal-length token sequences: each sequence's first T tokens are the
 * input, its last token the target of the loss at the last step (mean cross-entropy over the batch). Costs
 * about 3T one-step kernel calls on a batch of all the sequences (no more than one training step's work x 3).
 */
export function gradientFlow(model: LanguageModelLike, sequences: readonly ArrayLike<number>[]): GradientFlow {
  if (!Array.isArray(sequences) || sequences.length === 0) {
    throw new RnnkitError('E_ARGUMENT', 'sequences: expected a non-empty array of token-id sequences');
  }
  const n = sequences[0]!.length;
  if (!(n >= 2)) throw new RnnkitError('E_ARGUMENT', `sequences[0]: expected at least 2 tokens (inputs and a target), found ${n}`);
  sequences.forEach((s, b) => {
    if (!s || s.length !== n) throw new RnnkitError('E_ARGUMENT', `sequences[${b}]: expected ${n} tokens like sequences[0], found ${s ? s.length : String(s)}`);
  });
  const T = n - 1, B = sequences.length;
  const ids = new Int32Array(T * B), targets = new Int32Array(B);
  sequences.forEach((s, b) => {
    for (let t = 0; t < T; t++) ids[t * B + b] = s[t]!;
    targets[b] = s[T]!;
  });
  const parts = languageModelParts(model);
  const ce = new CrossEntropyLoss(model.backend);
  try {
    const { embedding, rnn, decoder } = parts;
    const V = decoder.outFeatures;
    targets.forEach((id, b) => {
      if (!(id >= 0 && id < V) || id !== sequences[b]![T]) {
        throw new RnnkitError('E_ARGUMENT', `sequences[${b}][${T}]: expected a token id in [0, ${V}), found ${String(sequences[b]![T])}`);
      }
    });
    const x = embedding.forward({ data: ids, shape: [T, B] });
    // The top layer's last output, from one inference pass over the whole sequence.
    rnn.eval();
    const out = rnn.forward(x).output;
    const H = rnn.hiddenSize;
    const last = tensor(out.data.slice((T - 1) * B * H), [B, H]);
    const r = ce.compute(decoder.forward(last), targets);
    const dLast = decoder.backward(r.grad);
    return summarizeFlow(rnn, stateGradients(rnn, x, tensor(dLast.data, [B, H])), B, r.loss);
  } finally {
    ce.dispose();
    disposeParts(parts);
  }
}
