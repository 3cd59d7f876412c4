// Everything the gradient diagnostics say about one language model on one batch, in one object: the gradient
// flow by distance with γ and the 1e-3 distance, the one-step Jacobian norms along the batch, and the spectral
// radius of each W_hh gate block. `rnnkit gradients` prints it; a report can draw it.
import { CELL_TABLE } from '../backend/types.js';
import { RnnkitError } from '../errors.js';
import { gradientFlow, type GradientFlow, type LayerFlow } from './gradient-flow.js';
import { stateJacobianNorms } from './jacobian.js';
import { disposeParts, languageModelParts, type LanguageModelLike } from './layers.js';
import { recurrentSpectralRadii } from './spectral.js';

export interface LayerReport extends LayerFlow {
  /** ‖∂S_t/∂S_t-1‖₂ per step (mean over the batch); S is h, (h, c) for LSTM. */
  jacobian: number[];
  /** The mean of `jacobian` over the steps. */
  jacobianMean: number;
  /** LSTM only: ‖∂h_t/∂h_t-1‖₂ with c held (the h block), per step (mean over the batch). */
  jacobianH?: number[];
  /** ρ of each gate block of W_hh, by gate name (src/backend/cells.ts). */
  spectralRadius: Record<string, number>;
}

export interface GradientReport extends Omit<GradientFlow, 'layers'> {
  layers: LayerReport[];
}

export interface GradientReportOptions {
  /** Power iterations per step for the Jacobian norms (default 20; 0 leaves them out). */
  jacobianIterations?: number;
}

/** The first `count` non-overlapping windows of T + 1 ids (T inputs and the target after them); fewer when ids are short. */
export function windows(ids: ArrayLike<number>, T: number, count: number): number[][] {
  if (!Number.isSafeInteger(T) || T < 1) throw new RnnkitError('E_ARGUMENT', `length: expected a positive integer, found ${String(T)}`);
  if (!Number.isSafeInteger(count) || count < 1) throw new RnnkitError('E_ARGUMENT', `batch: expected a positive integer, found ${String(count)}`);
  const out: number[][] = [];
  for (let s = 0; out.length < count && s + T + 1 <= ids.length; s += T + 1) out.push(Array.from({ length: T + 1 }, (_, i) => ids[s + i]!));
  return out;
}

export function gradientReport(model: LanguageModelLike, sequences: readonly ArrayLike<number>[], opts: GradientReportOptions = {}): GradientReport {
  const flow = gradientFlow(model, sequences);
  const iters = opts.jacobianIterations ?? 20;
  const parts = languageModelParts(model);
  try {
    const T = flow.T, B = flow.B;
    const ids = new Int32Array(T * B);
    sequences.forEach((s, b) => { for (let t = 0; t < T; t++) ids[t * B + b] = s[t]!; });
    const x = parts.embedding.forward({ data: ids, shape: [T, B] });
    const jac = iters > 0 ? stateJacobianNorms(parts.rnn, x, {}, { iterations: iters }) : null;
    const jacH = iters > 0 && CELL_TABLE[parts.rnn.kind].hasCellState ? stateJacobianNorms(parts.rnn, x, {}, { iterations: iters, block: 'h' }) : null;
    const radii = recurrentSpectralRadii(parts.rnn);
    const layers = flow.layers.map((f, l): LayerReport => {
      const jacobian = jac ? jac[l]!.mean : [];
      return {
        ...f,
        jacobian,
        jacobianMean: jacobian.length ? jacobian.reduce((a, b) => a + b, 0) / jacobian.length : NaN,
        ...(jacH ? { jacobianH: jacH[l]!.mean } : {}),
        spectralRadius: Object.fromEntries(radii.filter((r) => r.layer === l).map((r) => [r.gate, r.radius])),
      };
    });
    return { ...flow, layers };
  } finally {
    disposeParts(parts);
  }
}
