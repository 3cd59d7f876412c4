// The layers the diagnostics run: a dropout-free copy of a recurrent layer (its training-mode forward is what
// backward needs, and a diagnostic must not draw dropout masks), and a language model's parts rebuilt from its
// state dict. The diagnostics floor sits below models/ (DESIGN.md), so a model is taken by its public shape.
import type { Backend, CellKind } from '../backend/types.js';
import { RnnkitError, shapeError } from '../errors.js';
import { Embedding } from '../nn/embedding.js';
import { Linear } from '../nn/linear.js';
import { makeRecurrent, type RecurrentBase } from '../nn/recurrent.js';
import { shapeStr, type Tensor } from '../tensor.js';

/** What the diagnostics read from a language model: LanguageModel fits it. */
export interface LanguageModelLike {
  readonly config: { readonly cell: CellKind; readonly embeddingDim: number; readonly hiddenSize: number; readonly numLayers: number };
  readonly backend: Backend;
  stateDict(): Record<string, Tensor>;
}

/** A language model's embedding -> recurrent layers -> decoder, as plain nn layers. */
export interface FlowParts {
  embedding: Embedding;
  rnn: RecurrentBase;
  decoder: Linear;
}

/** [T, B] of a sequence-major input x [T, B, I] with T, B >= 1, or E_SHAPE naming x. */
export function sequenceDims(x: Tensor, I: number): [number, number] {
  if (!x || x.shape.length !== 3 || x.shape[2] !== I || x.shape[0]! < 1 || x.shape[1]! < 1) {
    throw shapeError('x', `shape [T, B, ${I}] with T, B >= 1`, x ? `shape ${shapeStr(x.shape)}` : String(x));
  }
  return [x.shape[0]!, x.shape[1]!];
}

/**
 * A unidirectional copy of `rnn` with its weights, no dropout and sequence-major layout. The caller disposes it.
 * Bidirectional layers have no "distance to the loss" in one direction, so they are refused.
 */
export function diagnosticCopy(rnn: RecurrentBase): RecurrentBase {
  if (rnn.bidirectional) {
    throw new RnnkitError('E_ARGUMENT', 'rnn: expected a unidirectional layer; gradient flow by distance is not defined for a bidirectional one');
  }
  const copy = makeRecurrent(rnn.kind, { inputSize: rnn.inputSize, hiddenSize: rnn.hiddenSize, numLayers: rnn.numLayers, dropout: 0, backend: rnn.backend });
  copy.loadStateDict(rnn.stateDict());
  return copy;
}

/** The parts of a language model, rebuilt from its state dict on its backend. The caller disposes them. */
export function languageModelParts(model: LanguageModelLike): FlowParts {
  if (model === null || typeof model !== 'object' || typeof model.stateDict !== 'function' || !model.config) {
    throw new RnnkitError('E_ARGUMENT', 'model: expected a trained LanguageModel (config, backend, stateDict())');
  }
  const dict = model.stateDict();
  const { cell, embeddingDim: E, hiddenSize: H, numLayers: L } = model.config;
  const table = dict['embedding.weight'], dw = dict['decoder.weight'];
  if (!table || !dw) throw new RnnkitError('E_ARGUMENT', 'model: expected embedding.weight and decoder.weight in its state dict (a language model)');
  const V = table.shape[0]!;
  const embedding = new Embedding({ numEmbeddings: V, embeddingDim: E, backend: model.backend });
  const rnn = makeRecurrent(cell, { inputSize: E, hiddenSize: H, numLayers: L, dropout: 0, backend: model.backend });
  const decoder = new Linear({ inFeatures: H, outFeatures: dw.shape[0]!, backend: model.backend });
  const part = (prefix: string) => Object.fromEntries(
    Object.entries(dict).filter(([k]) => k.startsWith(prefix)).map(([k, t]) => [k.slice(prefix.length), t]));
  try {
    embedding.loadStateDict(part('embedding.'));
    rnn.loadStateDict(part('rnn.'));
    decoder.loadStateDict(part('decoder.'));
  } catch (e) {
    embedding.dispose(); rnn.dispose(); decoder.dispose();
    throw e;
  }
  return { embedding, rnn, decoder };
}

export function disposeParts(p: FlowParts): void {
  p.embedding.dispose(); p.rnn.dispose(); p.decoder.dispose();
}
