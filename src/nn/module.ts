// What every layer shares: named parameters with gradients in backend buffers, and PyTorch-style state dicts.
import type { Backend, Buf } from '../backend/types.js';
import { checkFinite, RnnkitError } from '../errors.js';
import { numel, shapeStr, tensor, type Tensor } from '../tensor.js';

export interface Parameter {
  readonly name: string;
  readonly shape: readonly number[];
  readonly value: Buf;
  readonly grad: Buf;
}

export interface Module {
  readonly backend: Backend;
  /** Parameters in state-dict order. */
  parameters(): readonly Parameter[];
  stateDict(): Record<string, Tensor>;
  loadStateDict(dict: Record<string, Tensor>): void;
  grads(): Record<string, Tensor>;
  zeroGrad(): void;
  dispose(): void;
}

export function newParameter(backend: Backend, name: string, shape: readonly number[]): Parameter {
  const n = numel(shape);
  return { name, shape: [...shape], value: backend.alloc(n), grad: backend.alloc(n) };
}

export function stateDictOf(params: readonly Parameter[], prefix = ''): Record<string, Tensor> {
  const out: Record<string, Tensor> = {};
  for (const p of params) out[prefix + p.name] = tensor(p.value.view().slice(), p.shape);
  return out;
}

export function gradsOf(params: readonly Parameter[], prefix = ''): Record<string, Tensor> {
  const out: Record<string, Tensor> = {};
  for (const p of params) out[prefix + p.name] = tensor(p.grad.view().slice(), p.shape);
  return out;
}

/**
 * Validates a whole state dict against `params` (every name present with its exact shape and finite values, no
 * other name) before writing anything, so a bad dict leaves the parameters untouched.
 */
export function loadStateDictInto(params: readonly Parameter[], dict: Record<string, Tensor>, prefix = ''): void {
  validateStateDict(params, dict, prefix);
  for (const p of params) p.value.view().set(dict[prefix + p.name]!.data);
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

export function freeParameters(backend: Backend, params: readonly Parameter[]): void {
  for (const p of params) {
    backend.free(p.value);
    backend.free(p.grad);
  }
}

/** A resizable scratch buffer owned by a layer (inputs kept for backward, outputs, gradients). */
export class Scratch {
  private buf: Buf | null = null;
  constructor(private readonly backend: Backend) {}
  get(n: number): Buf {
    if (!this.buf || this.buf.length < n) {
      if (this.buf) this.backend.free(this.buf);
      this.buf = this.backend.alloc(Math.max(n, 1));
    }
    return this.buf;
  }
  /** The buffer filled with `data` (a prefix when the buffer is larger). */
  from(data: Float32Array): Buf {
    const b = this.get(data.length);
    b.view().set(data);
    return b;
  }
  dispose(): void {
    if (this.buf) this.backend.free(this.buf);
    this.buf = null;
  }
}

/** The Module methods every layer shares, over its list of parameters and scratch buffers. */
export abstract class ParameterModule implements Module {
  protected readonly params: Parameter[] = [];
  private readonly scratches: Scratch[] = [];
  constructor(readonly backend: Backend) {}

  protected scratch(): Scratch {
    const s = new Scratch(this.backend);
    this.scratches.push(s);
    return s;
  }

  parameters(): readonly Parameter[] { return this.params; }
  stateDict(): Record<string, Tensor> { return stateDictOf(this.params); }
  loadStateDict(dict: Record<string, Tensor>): void { loadStateDictInto(this.params, dict); }
  grads(): Record<string, Tensor> { return gradsOf(this.params); }
  zeroGrad(): void { for (const p of this.params) p.grad.view().fill(0); }

  /** Returns every backend buffer the layer holds. The layer must not be used afterwards. */
  dispose(): void {
    freeParameters(this.backend, this.params);
    this.params.length = 0;
    for (const s of this.scratches) s.dispose();
  }
}
