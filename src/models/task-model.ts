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
