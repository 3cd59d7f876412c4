// Optimizers (PyTorch's SGD, Adam, AdamW formulas), gradient clipping by global norm, learning-rate schedules.
// The per-element work runs in the backend (adamStep, sgdStep, sumSquares, scale); this file keeps the state.
import type { Backend, Buf } from '../backend/types.js';
import { RnnkitError } from '../errors.js';
import type { Parameter } from '../nn/module.js';
import { OwnedBuffers } from '../nn/owned-buffers.js';

/** What every optimizer offers; create one with `new Adam(params, opts)` (or `AdamW`, `SGD`). */
export interface Optimizer {
  /** Base learning rate; schedules multiply it. */
  lr: number;
  /** Applies one update from the accumulated gradients (does not zero them). */
  step(): void;
  /** Zeroes the gradients of the parameters it updates. */
  zeroGrad(): void;
  readonly steps: number;
  /**
   * Returns the optimizer's state buffers (Adam's m and v, SGD's momentum) to the backend now; any later call is
   * E_STATE, a second dispose() does nothing. Without it they go back when the optimizer is garbage-collected.
   * The parameters are not touched: they belong to their layers.
   */
  dispose(): void;
  /** dispose(), for `using opt = new Adam(...)`. */
  [Symbol.dispose](): void;
}

function checkLr(lr: number): number {
  if (typeof lr !== 'number' || !(lr > 0) || !Number.isFinite(lr)) throw new RnnkitError('E_ARGUMENT', `lr: expected a positive number, found ${String(lr)}`);
  return lr;
}

const isBackend = (x: unknown): x is Backend =>
  x !== null && typeof x === 'object' && typeof (x as Backend).alloc === 'function' && typeof (x as Backend).free === 'function';

/** The (backend, opts) of the `(params, opts)` and `(params, backend, opts)` forms. */
function splitArgs<O>(backendOrOpts: Backend | O | undefined, opts: O | undefined): [Backend | undefined, O | undefined] {
  return isBackend(backendOrOpts) ? [backendOrOpts, opts] : [undefined, backendOrOpts ?? opts];
}

/**
 * The one backend of a parameter list: each parameter's own (newParameter records it), which must agree with
 * one another and with `given` when a backend is passed; `given` serves parameters that carry none.
 * `usage` shows the three-argument form in the error for such parameters.
 */
function backendOf(params: readonly Parameter[], given: Backend | undefined, usage: string): Backend {
  if (!Array.isArray(params)) {
    const found = params === null ? 'null' : typeof params;
    throw new RnnkitError('E_ARGUMENT', `params: expected an array of parameters (layer.parameters()), found ${found}`);
  }
  if (params.length === 0) throw new RnnkitError('E_ARGUMENT', 'params: expected at least one parameter, found an empty list');
  const at = (i: number) => `params[${i}] (${String(params[i]!.name)})`;
  let backend = given;
  let from = -1; // the parameter `backend` came from, or -1 for the argument
  params.forEach((p, i) => {
    if (p === null || typeof p !== 'object' || !p.value || !p.grad) {
      throw new RnnkitError('E_ARGUMENT', `params[${i}]: expected a parameter { name, shape, value, grad, backend }, found ${String(p)}`);
    }
    const own = p.backend as Backend | undefined;
    if (own === undefined) {
      if (given === undefined) throw new RnnkitError('E_ARGUMENT', `${at(i)}: no backend known; pass one: ${usage}`);
      return;
    }
    if (backend === undefined) {
      backend = own;
      from = i;
    } else if (own !== backend) {
      const other = from < 0 ? `the backend argument is ${backend.name}` : `${at(from)} on the ${backend.name} backend`;
      throw new RnnkitError('E_ARGUMENT', `${at(i)}: on the ${own.name} backend, ${other}; one call works on parameters of one backend`);
    }
  });
  return backend!;
}

/**
 * What every optimizer shares: its parameters and their backend, its state buffers (freed by dispose() or when the
 * optimizer is collected), zeroGrad, and E_STATE after dispose().
 */
abstract class OptimizerBase implements Optimizer {
  abstract lr: number;
  protected readonly params: readonly Parameter[];
  protected readonly backend: Backend;
  protected t = 0;
  private readonly state: OwnedBuffers;
  private disposed = false;
  constructor(params: readonly Parameter[], given: Backend | undefined) {
    this.backend = backendOf(params, given, `new ${this.what}(params, backend, opts)`);
    this.params = params;
    this.state = new OwnedBuffers(this.backend, this);
  }
  /** Names the optimizer in errors (a getter: the constructor reads it before subclass fields exist). */
  protected get what(): string { return 'optimizer'; }
  abstract step(): void;
  get steps(): number { return this.t; }
  /** One zero-filled state buffer per parameter, owned by this optimizer. */
  protected perParameter(): Buf[] {
    return this.params.map((p) => this.state.alloc(p.value.length));
  }
  zeroGrad(): void {
    this.live();
    for (const p of this.params) this.backend.fill(p.grad.length, p.grad, 0);
  }
  dispose(): void {
    this.disposed = true;
    this.state.dispose();
  }
  [Symbol.dispose](): void { this.dispose(); }
  protected live(): void {
    if (this.disposed) throw new RnnkitError('E_STATE', `${this.what}: used after dispose()`);
  }
}

export interface AdamOptions {
  /** Learning rate (default 1e-3). */
  lr?: number;
  /** Decay rates of the first and second moment averages (default [0.9, 0.999]). */
  betas?: [number, number];
  /** Added to the denominator (default 1e-8). */
  eps?: number;
  /** L2 penalty added to the gradient (Adam, default 0) or decoupled decay (AdamW, default 0.01). */
  weightDecay?: number;
}

/**
 * PyTorch's torch.optim.Adam. `new Adam(layer.parameters(), { lr: 1e-3 })`; the parameters' backend runs the
 * update. The older form `new Adam(params, backend, opts)` is accepted too.
 */
export class Adam extends OptimizerBase {
  lr: number;
  readonly betas: [number, number];
  readonly eps: number;
  readonly weightDecay: number;
  protected readonly decoupled: boolean = false;
  private readonly m: Buf[];
  private readonly v: Buf[];
  constructor(params: readonly Parameter[], opts?: AdamOptions);
  constructor(params: readonly Parameter[], backend: Backend, opts?: AdamOptions);
  constructor(params: readonly Parameter[], backendOrOpts?: Backend | AdamOptions, maybeOpts?: AdamOptions) {
    const [given, o] = splitArgs(backendOrOpts, maybeOpts);
    super(params, given);
    const opts = o ?? {};
    this.lr = checkLr(opts.lr ?? 1e-3);
    this.betas = opts.betas ?? [0.9, 0.999];
    this.eps = opts.eps ?? 1e-8;
    this.weightDecay = opts.weightDecay ?? 0;
    if (!this.betas.every((b) => b >= 0 && b < 1)) throw new RnnkitError('E_ARGUMENT', `betas: expected numbers in [0, 1), found ${this.betas}`);
    this.m = this.perParameter();
    this.v = this.perParameter();
  }
  protected override get what(): string { return 'Adam'; }
  step(): void {
    this.live();
    this.t++;
    this.params.forEach((p, i) => {
      this.backend.adamStep(p.value.length, p.value, p.grad, this.m[i]!, this.v[i]!, this.lr, this.betas[0], this.betas[1],
        this.eps, this.weightDecay, this.decoupled, this.t);
    });
  }
}

/** Adam with decoupled weight decay (default 0.01), PyTorch's torch.optim.AdamW. Same signatures as Adam. */
export class AdamW extends Adam {
  protected override readonly decoupled = true;
  protected override get what(): string { return 'AdamW'; }
  constructor(params: readonly Parameter[], opts?: AdamOptions);
  constructor(params: readonly Parameter[], backend: Backend, opts?: AdamOptions);
  constructor(params: readonly Parameter[], backendOrOpts?: Backend | AdamOptions, maybeOpts?: AdamOptions) {
    const [given, opts] = splitArgs(backendOrOpts, maybeOpts);
    const withDecay = { weightDecay: 0.01, ...opts };
    if (given) super(params, given, withDecay);
    else super(params, withDecay);
  }
}

export interface SGDOptions {
  /** Learning rate (default 0.01). */
  lr?: number;
  /** Momentum factor (default 0: plain SGD). */
  momentum?: number;
  /** L2 penalty added to the gradient (default 0). */
  weightDecay?: number;
  /** Nesterov momentum (default false). */
  nesterov?: boolean;
}

/**
 * PyTorch's torch.optim.SGD, with optional momentum, weight decay and Nesterov.
 * `new SGD(layer.parameters(), { lr: 0.1, momentum: 0.9 })`; `new SGD(params, backend, opts)` is accepted too.
 */
export class SGD extends OptimizerBase {
  lr: number;
  readonly momentum: number;
  readonly weightDecay: number;
  readonly nesterov: boolean;
  private readonly buf: Buf[];
  constructor(params: readonly Parameter[], opts?: SGDOptions);
  constructor(params: readonly Parameter[], backend: Backend, opts?: SGDOptions);
  constructor(params: readonly Parameter[], backendOrOpts?: Backend | SGDOptions, maybeOpts?: SGDOptions) {
    const [given, o] = splitArgs(backendOrOpts, maybeOpts);
    super(params, given);
    const opts = o ?? {};
    this.lr = checkLr(opts.lr ?? 0.01);
    this.momentum = opts.momentum ?? 0;
    this.weightDecay = opts.weightDecay ?? 0;
    this.nesterov = opts.nesterov ?? false;
    this.buf = this.perParameter();
  }
  protected override get what(): string { return 'SGD'; }
  step(): void {
    this.live();
    this.params.forEach((p, i) => {
      this.backend.sgdStep(p.value.length, p.value, p.grad, this.buf[i]!, this.lr, this.momentum, this.weightDecay, this.nesterov, this.t === 0);
    });
    this.t++;
  }
}

/**
 * Scales all gradients so their global L2 norm is at most maxNorm (PyTorch's clip_grad_norm_); returns the norm
 * before clipping. `clipGradNorm(layer.parameters(), 5)`; `clipGradNorm(params, backend, maxNorm)` is accepted too.
 */
export function clipGradNorm(params: readonly Parameter[], maxNorm: number): number;
export function clipGradNorm(params: readonly Parameter[], backend: Backend, maxNorm: number): number;
export function clipGradNorm(params: readonly Parameter[], backendOrMax: Backend | number, maybeMax?: number): number {
  const [given, maxNorm] = isBackend(backendOrMax) ? [backendOrMax, maybeMax] : [undefined, backendOrMax];
  const backend = backendOf(params, given, 'clipGradNorm(params, backend, maxNorm)');
  if (typeof maxNorm !== 'number' || !(maxNorm > 0)) {
    throw new RnnkitError('E_ARGUMENT', `maxNorm: expected a positive number, found ${String(maxNorm)}`);
  }
  let ss = 0;
  for (const p of params) ss += backend.sumSquares(p.grad.length, p.grad);
  const norm = Math.sqrt(ss);
  if (Number.isFinite(norm) && norm > maxNorm) {
    const s = maxNorm / (norm + 1e-6);
    for (const p of params) backend.scale(p.grad.length, p.grad, s);
  }
  return norm;
}

export type Schedule = (step: number, totalSteps: number) => number;

/** Learning-rate multipliers by step (0-based). */
export const schedules = {
  constant: (): Schedule => () => 1,
  /** Multiply by gamma every `every` steps. */
  step: (every: number, gamma = 0.1): Schedule => (s) => gamma ** Math.floor(s / every),
  /** Cosine from 1 down to minFactor over the run, after a linear warm-up of `warmup` steps. */
  cosine: (warmup = 0, minFactor = 0): Schedule => (s, total) => {
    if (s < warmup) return (s + 1) / warmup;
    const p = Math.min(1, (s - warmup) / Math.max(1, total - warmup));
    return minFactor + (1 - minFactor) * 0.5 * (1 + Math.cos(Math.PI * p));
  },
};

export type OptimizerName = 'sgd' | 'adam' | 'adamw';

/** The optimizer `name` over params on backend (the training loop's factory). */
export function makeOptimizer(name: OptimizerName, params: readonly Parameter[], backend: Backend, opts: AdamOptions & SGDOptions): Optimizer {
  if (name === 'adam') return new Adam(params, backend, opts);
  if (name === 'adamw') return new AdamW(params, backend, opts);
  if (name === 'sgd') return new SGD(params, backend, opts);
  throw new RnnkitError('E_ARGUMENT', `optimizer: expected sgd, adam or adamw, found ${String(name)}`);
}
