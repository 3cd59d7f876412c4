// Pieces the task models share: building a recurrent layer by cell kind, and state dicts of several modules
// named "<module>.<parameter>" like a PyTorch nn.Module with those attributes.
import { CELL_KINDS, type CellKind } from '../backend/types.js';
import { RnnkitError } from '../errors.js';
import { validateStateDict, type Module } from '../nn/module.js';
import type { RecurrentBase } from '../nn/recurrent.js';
import type { Tensor } from '../tensor.js';

/** The cell kinds a task model accepts: all of them (src/backend/cells.ts). */
export { CELL_KINDS };

export function prefixed(modules: Record<string, Module>): Record<string, Tensor> {
  const out: Record<string, Tensor> = {};
  for (const [name, m] of Object.entries(modules)) {
    for (const [k, t] of Object.entries(m.stateDict())) out[`${name}.${k}`] = t;
  }
  return out;
}

/** Validates the whole dict against every module first, so a bad dict changes nothing. */
export function splitPrefixed(modules: Record<string, Module>, dict: Record<string, Tensor>): void {
  if (dict === null || typeof dict !== 'object') throw new RnnkitError('E_STATE_DICT', 'state dict: expected an object');
  const parts: Record<string, Record<string, Tensor>> = {};
  for (const name of Object.keys(modules)) parts[name] = {};
  const unknown: string[] = [];
  for (const [k, t] of Object.entries(dict)) {
    const dot = k.indexOf('.');
    const part = dot > 0 ? parts[k.slice(0, dot)] : undefined;
    if (part) part[k.slice(dot + 1)] = t; else unknown.push(k);
  }
  if (unknown.length) throw new RnnkitError('E_STATE_DICT', `state dict: unexpected ${unknown.join(', ')}`);
  for (const [name, m] of Object.entries(modules)) {
    const withPrefix = Object.fromEntries(Object.entries(parts[name]!).map(([k, t]) => [`${name}.${k}`, t]));
    validateStateDict(m.parameters(), withPrefix, `${name}.`);
  }
  for (const [name, m] of Object.entries(modules)) m.loadStateDict(parts[name]!);
}

/** The last layer's final hidden state(s): [B, D*H], directions side by side (forward, then reverse). */
export function lastHidden(rnn: RecurrentBase, hN: Tensor): Tensor {
  const D = rnn.numDirections, H = rnn.hiddenSize, L = rnn.numLayers;
  const B = hN.shape[1]!;
  const out = new Float32Array(B * D * H);
  for (let d = 0; d < D; d++) {
    const k = (L - 1) * D + d;
    for (let b = 0; b < B; b++) out.set(hN.data.subarray((k * B + b) * H, (k * B + b + 1) * H), (b * D + d) * H);
  }
  return { data: out, shape: [B, D * H] };
}

/** The dhN that routes a gradient on lastHidden() back into the layer's final states. */
export function lastHiddenGrad(rnn: RecurrentBase, dFeatures: Tensor): Tensor {
  const D = rnn.numDirections, H = rnn.hiddenSize, L = rnn.numLayers;
  const B = dFeatures.shape[0]!;
  const dhN = new Float32Array(L * D * B * H);
  for (let d = 0; d < D; d++) {
    const k = (L - 1) * D + d;
    for (let b = 0; b < B; b++) dhN.set(dFeatures.data.subarray((b * D + d) * H, (b * D + d + 1) * H), (k * B + b) * H);
  }
  return { data: dhN, shape: [L * D, B, H] };
}

/** A seeded Fisher-Yates permutation of 0..n-1. */
export function permutation(n: number, next: () => number): Int32Array {
  const p = Int32Array.from({ length: n }, (_, i) => i);
  for (let i = n - 1; i > 0; i--) {
    const j = Math.floor(next() * (i + 1));
    const t = p[i]!; p[i] = p[j]!; p[j] = t;
  }
  return p;
}
