// What the task models share: their named sub-modules (embedding, rnn, decoder or head) give the parameters, a
// state dict named like a PyTorch nn.Module with those attributes, the model file and disposal.
import { resolveBackend, type BackendName } from '../backend/index.js';
import type { Backend } from '../backend/types.js';
import { RnnkitError } from '../errors.js';
import { encodeModel, saveModel, type ModelFileContents } from '../io/model-file.js';
import type { Module, Parameter } from '../nn/module.js';
import type { Tensor } from '../tensor.js';
import { prefixed, splitPrefixed } from './parts.js';

export abstract class TaskModel {
  abstract readonly backend: Backend;
  /** "language model", ...: names the model in errors. */
  protected abstract readonly what: string;
  /** The named sub-modules, or null before fit() or load(). */
  protected abstract namedModules(): Record<string, Module> | null;
  /** Task, metadata and tensors of the model file. */
  protected abstract contents(): ModelFileContents;
  /** Drops the sub-modules after dispose(). */
  protected abstract forget(): void;

  protected modules(): Record<string, Module> {
    const m = this.namedModules();
    if (!m) throw new RnnkitError('E_STATE', `${this.what}: fit() or load() it first`);
    return m;
  }

  parameters(): Parameter[] {
    return Object.values(this.modules()).flatMap((m) => [...m.parameters()]);
  }

  stateDict(): Record<string, Tensor> {
    return prefixed(this.modules());
  }

  /** Validates the whole dict first, so a bad one changes nothing. */
  loadStateDict(dict: Record<string, Tensor>): void {
    splitPrefixed(this.modules(), dict);
  }

  toBytes(): Uint8Array {
    return encodeModel(this.contents());
  }

  /** Writes the model file atomically (temporary file, fsync, rename). */
  async save(path: string): Promise<void> {
    await saveModel(path, this.contents());
  }

  /** Returns every backend buffer; the model must be fitted or loaded again before use. */
  dispose(): void {
    const m = this.namedModules();
    if (!m) return;
    for (const x of Object.values(m)) x.dispose();
    this.forget();
  }
}

/**
 * Parameters of stacked recurrent layers: G gates, input I, hidden H, L layers, D directions. Layer 0 reads I
 * inputs, each later layer the D*H outputs below it; every layer has D directions of G*H rows over its inputs,
 * H recurrent inputs and two biases. A closed form, O(1) in L, so a hostile numLayers cannot make it loop.
 */
export function recurrentParameterCount(G: number, I: number, H: number, L: number, D: number): number {
  return D * G * H * ((I + H + 2) + (L - 1) * (D * H + H + 2));
}

/**
 * A model file's configuration must describe exactly the parameters the file holds, checked before anything is
 * built: a hostile or corrupt configuration (say hiddenSize 1e9, numLayers 2^53 - 1) is then an E_MODEL_FILE
 * error in O(1), never a huge allocation or a long loop. `sizes` (already positive integers, see the task's
 * schema) are those the parameter count grows with, each a factor of some tensor, so none can exceed the
 * parameters held; with that bound the count is exact whenever it could equal what the file holds.
 */
export function checkFileConfig(what: string, sizes: Record<string, number>, expected: () => number, tensors: Record<string, Tensor>): void {
  const held = Object.values(tensors).reduce((n, t) => n + t.data.length, 0);
  for (const [k, v] of Object.entries(sizes)) {
    if (v > held) throw new RnnkitError('E_MODEL_FILE', `${what}: config ${k} is ${v}, more than the ${held} parameters the file holds`);
  }
  const want = expected();
  if (want !== held) {
    throw new RnnkitError('E_MODEL_FILE', `${what}: the configuration describes ${want} parameters, the file holds ${held}`);
  }
}

/** The backend a load asks for. Resolved outside the file's checks: a backend that cannot load is E_BACKEND, a bad option E_ARGUMENT, neither the file's fault. */
export function loadOptionsBackend(opts: unknown): Backend {
  if (opts === undefined) return resolveBackend(undefined);
  if (opts === null || typeof opts !== 'object') throw new RnnkitError('E_ARGUMENT', `load options: expected an object, found ${opts === null ? 'null' : typeof opts}`);
  return resolveBackend((opts as { backend?: Backend | BackendName }).backend);
}
