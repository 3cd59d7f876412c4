// What the task models share: their named sub-modules (embedding, rnn, decoder or head) give the parameters, a
// state dict named like a PyTorch nn.Module with those attributes, the model file and disposal.
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

/** Parameters of stacked recurrent layers: G gates, input I, hidden H, L layers, D directions. */
export function recurrentParameterCount(G: number, I: number, H: number, L: number, D: number): number {
  let n = 0;
  for (let l = 0; l < L; l++) n += D * G * H * ((l === 0 ? I : D * H) + H + 2);
  return n;
}

/**
 * A model file's configuration must describe exactly the parameters the file holds, checked before anything is
 * built: a hostile or corrupt configuration (say hiddenSize 1e9) is then an E_MODEL_FILE error, never a huge
 * allocation. The sizes it names must be positive safe integers.
 */
export function checkFileConfig(what: string, sizes: Record<string, unknown>, expected: () => number, tensors: Record<string, Tensor>): void {
  for (const [k, v] of Object.entries(sizes)) {
    if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < 1) {
      throw new RnnkitError('E_MODEL_FILE', `${what}: config ${k} must be a positive integer, found ${JSON.stringify(v)}`);
    }
  }
  const held = Object.values(tensors).reduce((n, t) => n + t.data.length, 0);
  const want = expected();
  if (!Number.isSafeInteger(want)) {
    throw new RnnkitError('E_MODEL_FILE', `${what}: the configuration is incomplete or names an unknown cell kind`);
  }
  if (want !== held) {
    throw new RnnkitError('E_MODEL_FILE', `${what}: the configuration describes ${want} parameters, the file holds ${held}`);
  }
}
