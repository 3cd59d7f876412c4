// What every layer shares: named parameters with gradients in backend buffers, and PyTorch-style state dicts.
import type { Backend, Buf } from '../backend/types.js';
import { checkFinite, RnnkitError } from '../errors.js';
import { numel, shapeStr, tensor, type Tensor } from '../tensor.js';
import { OwnedBuffers } from './owned-buffers.js';

/**
 * A named tensor of a layer with its gradient, both in backend buffers. It keeps its buffers for as long as it is
 * referenced (an optimizer over a dropped layer's parameters still works) until its layer's dispose().
 */
export interface Parameter {
  readonly name: string;
  readonly shape: readonly number[];
  readonly value: Buf;
  readonly grad: Buf;
  /** The backend owning value and grad: what optimizers and clipGradNorm run on. */
  readonly backend: Backend;
}

export interface Module {
  readonly backend: Backend;
  /** Parameters in state-dict order. */
  parameters(): readonly Parameter[];
  stateDict(): Record<string, Tensor>;
  loadStateDict(dict: Record<string, Tensor>): void;
  grads(): Record<string, Tensor>;
  zeroGrad(): void;
  /** Returns every backend buffer now; any later call is E_STATE. A second dispose() does nothing. */
  dispose(): void;
}

/** The buffers of each parameter, freed by freeParameters() or when the parameter is collected. */
const parameterBuffers = new WeakMap<Parameter, OwnedBuffers>();

/** A zero-filled parameter and gradient of `shape` on `backend`. */
export function newParameter(backend: Backend, name: string, shape: readonly number[]): Parameter {
  const n = numel(shape);
  const p: Parameter = { name, shape: [...shape], value: backend.alloc(n), grad: backend.alloc(n), backend };
  // Watched is the parameter itself, not its layer: a caller may keep parameters after dropping the layer.
  parameterBuffers.set(p, new OwnedBuffers(backend, p, [p.value, p.grad]));
  return p;
}

export function stateDictOf(params: readonly Parameter[], prefix = ''): Record<string, Tensor> {
  const out: Record<string, Tensor> = {};
  for (const p of params) out[prefix + p.name] = tensor(p.backend.read(p.value), p.shape);
  return out;
}

export function gradsOf(params: readonly Parameter[], prefix = ''): Record<string, Tensor> {
  const out: Record<string, Tensor> = {};
  for (const p of params) out[prefix + p.name] = tensor(p.backend.read(p.grad), p.shape);
  return out;
}

/**
 * Validates a whole state dict against `params` (every name present with its exact shape and finite values, no
 * other name) before writing anything, so a bad dict leaves the parameters untouched.
 */
export function loadStateDictInto(params: readonly Parameter[], dict: Record<string, Tensor>, prefix = ''): void {
  validateStateDict(params, dict, prefix);
  for (const p of params) p.backend.write(p.value, dict[prefix + p.name]!.data);
}

/** The checks of loadStateDictInto, without loading. */
export function validateStateDict(params: readonly Parameter[], dict: Record<string, Tensor>, prefix = ''): void {
  if (dict === null || typeof dict !== 'object') throw new RnnkitError('E_STATE_DICT', 'state dict: expected an object');
  const names = new Set(params.map((p) => prefix + p.name));
  const missing = [...names].filter((n) => !(n in dict));
  const extra = Object.keys(dict).filter((k) => !names.has(k));
  if (missing.length || extra.length) {
    const parts = [];
    if (missing.length) parts.push(`missing ${missing.join(', ')}`);
    if (extra.length) parts.push(`unexpected ${extra.join(', ')}`);
    throw new RnnkitError('E_STATE_DICT', `state dict: ${parts.join('; ')}`);
  }
  for (const p of params) {
    const name = prefix + p.name;
    const t = dict[name] as Tensor | undefined;
    const fail = (expected: string, found: string) =>
      new RnnkitError('E_STATE_DICT', `state dict ${name}: expected ${expected}, found ${found}`);
    if (t === null || typeof t !== 'object' || !Array.isArray(t.shape)) {
      throw fail(`a tensor of shape ${shapeStr(p.shape)}`, t === null ? 'null' : typeof t === 'object' ? 'no shape' : typeof t);
    }
    if (!(t.data instanceof Float32Array)) throw fail('float32 data (a Float32Array)', dataKind(t.data));
    if (t.shape.length !== p.shape.length || !t.shape.every((d, i) => d === p.shape[i])) {
      throw fail(`shape ${shapeStr(p.shape)}`, `shape ${shapeStr(t.shape)}`);
    }
    if (t.data.length !== numel(p.shape)) throw fail(`${numel(p.shape)} elements for shape ${shapeStr(p.shape)}`, String(t.data.length));
    checkFinite(`state dict ${name}`, t.data);
  }
}

/** "a Float64Array", "an array", "null": what a tensor's data is, for an error message. */
function dataKind(data: unknown): string {
  if (data === null) return 'null';
  if (Array.isArray(data)) return 'an array';
  if (ArrayBuffer.isView(data)) return `a ${data.constructor.name}`;
  return typeof data === 'object' ? 'an object' : typeof data;
}

/** Frees the parameters' buffers now (they are not freed again when the parameters are collected). */
export function freeParameters(params: readonly Parameter[]): void {
  for (const p of params) parameterBuffers.get(p)?.dispose();
}

/** A resizable scratch buffer owned by a layer (inputs kept for backward, outputs, gradients). */
export class Scratch {
  private buf: Buf | null = null;
  private readonly owned: OwnedBuffers;
  constructor(private readonly backend: Backend) {
    this.owned = new OwnedBuffers(backend, this);
  }
  get(n: number): Buf {
    if (!this.buf || this.buf.length < n) {
      if (this.buf) this.owned.free(this.buf);
      this.buf = this.owned.alloc(Math.max(n, 1));
    }
    return this.buf;
  }
  /**
   * The buffer filled with `data` (a prefix when the buffer is larger). Data that is not a Float32Array (an array
   * of numbers) is rounded to float32, as copying it into a view did.
   */
  from(data: Float32Array): Buf {
    const b = this.get(data.length);
    this.backend.write(b, data instanceof Float32Array ? data : Float32Array.from(data as ArrayLike<number>));
    return b;
  }
  /** Frees the buffer now; a later get() allocates again. */
  dispose(): void {
    this.owned.freeAll();
    this.buf = null;
  }
}

/** The Module methods every layer shares, over its list of parameters and scratch buffers. */
export abstract class ParameterModule implements Module {
  protected readonly params: Parameter[] = [];
  private readonly scratches: Scratch[] = [];
  private disposed = false;
  /** Names the layer in errors: "LSTM", "Linear", ... */
  protected abstract readonly what: string;
  constructor(readonly backend: Backend) {}

  /** Every public method starts here: a disposed layer's buffers are gone. */
  protected live(): void {
    if (this.disposed) throw new RnnkitError('E_STATE', `${this.what}: used after dispose()`);
  }

  protected scratch(): Scratch {
    const s = new Scratch(this.backend);
    this.scratches.push(s);
    return s;
  }

  /** The parameters in state-dict order, live (an optimizer updates them in place): `new Adam(layer.parameters())`. */
  parameters(): readonly Parameter[] { this.live(); return this.params; }
  /** A copy of every parameter by PyTorch's name. */
  stateDict(): Record<string, Tensor> { this.live(); return stateDictOf(this.params); }
  /** Every name present with its exact shape and finite values, no other name; a bad dict changes nothing. */
  loadStateDict(dict: Record<string, Tensor>): void { this.live(); loadStateDictInto(this.params, dict); }
  /** A copy of every accumulated gradient, named like stateDict(). */
  grads(): Record<string, Tensor> { this.live(); return gradsOf(this.params); }
  /** Sets every gradient to zero (backward() accumulates). */
  zeroGrad(): void { this.live(); for (const p of this.params) p.backend.fill(p.grad.length, p.grad, 0); }

  /**
   * Returns every backend buffer the layer holds, now; any later call is E_STATE, a second dispose() does
   * nothing. Without it, WASM buffers go back when the garbage collector collects the layer (and, for each
   * parameter, the parameter): dispose() makes that prompt.
   */
  dispose(): void {
    if (this.disposed) return;
    this.disposed = true;
    freeParameters(this.params);
    this.params.length = 0;
    for (const s of this.scratches) s.dispose();
  }

  /** dispose(), for `using layer = new LSTM(...)`. */
  [Symbol.dispose](): void {
    this.dispose();
  }
}
