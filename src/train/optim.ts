// Optimizers (PyTorch's SGD, Adam, AdamW formulas), gradient clipping by global norm, learning-rate schedules.
// The per-element work runs in the backend (adamStep, sgdStep, sumSquares, scale); this file keeps the state.
import type { Backend, Buf } from '../backend/types.js';
import { RnnkitError } from '../errors.js';
import type { Parameter } from '../nn/module.js';

export interface Optimizer {
  /** Base learning rate; schedules multiply it. */
  lr: number;
  /** Applies one update from the accumulated gradients (does not zero them). */
  step(): void;
  zeroGrad(): void;
  readonly steps: number;
}

function checkLr(lr: number): number {
  if (typeof lr !== 'number' || !(lr > 0) || !Number.isFinite(lr)) throw new RnnkitError('E_ARGUMENT', `lr: expected a positive number, found ${String(lr)}`);
  return lr;
}

function backendOf(params: readonly Parameter[], backend: Backend): Backend {
  if (params.length === 0) throw new RnnkitError('E_ARGUMENT', 'optimizer: no parameters');
  return backend;
}

export interface AdamOptions {
  lr?: number;
  betas?: [number, number];
  eps?: number;
  weightDecay?: number;
}

export class Adam implements Optimizer {
  lr: number;
  readonly betas: [number, number];
  readonly eps: number;
  readonly weightDecay: number;
  protected readonly decoupled: boolean = false;
  private readonly m: Buf[];
  private readonly v: Buf[];
  private t = 0;
  constructor(protected readonly params: readonly Parameter[], protected readonly backend: Backend, opts: AdamOptions = {}) {
    backendOf(params, backend);
    this.lr = checkLr(opts.lr ?? 1e-3);
    this.betas = opts.betas ?? [0.9, 0.999];
    this.eps = opts.eps ?? 1e-8;
    this.weightDecay = opts.weightDecay ?? 0;
    if (!this.betas.every((b) => b >= 0 && b < 1)) throw new RnnkitError('E_ARGUMENT', `betas: expected numbers in [0, 1), found ${this.betas}`);
    this.m = params.map((p) => backend.alloc(p.value.length));
    this.v = params.map((p) => backend.alloc(p.value.length));
  }
  get steps(): number { return this.t; }
  step(): void {
    this.t++;
    this.params.forEach((p, i) => {
      this.backend.adamStep(p.value.length, p.value, p.grad, this.m[i]!, this.v[i]!, this.lr, this.betas[0], this.betas[1],
        this.eps, this.weightDecay, this.decoupled, this.t);
    });
  }
  zeroGrad(): void { for (const p of this.params) p.grad.view().fill(0); }
}

/** Adam with decoupled weight decay (default 0.01, as PyTorch's AdamW). */
export class AdamW extends Adam {
  protected override readonly decoupled = true;
  constructor(params: readonly Parameter[], backend: Backend, opts: AdamOptions = {}) {
    super(params, backend, { weightDecay: 0.01, ...opts });
  }
}

export interface SGDOptions {
  lr?: number;
  momentum?: number;
  weightDecay?: number;
  nesterov?: boolean;
}

export class SGD implements Optimizer {
  lr: number;
  readonly momentum: number;
  readonly weightDecay: number;
  readonly nesterov: boolean;
  private readonly buf: Buf[];
  private t = 0;
  constructor(private readonly params: readonly Parameter[], private readonly backend: Backend, opts: SGDOptions = {}) {
    backendOf(params, backend);
    this.lr = checkLr(opts.lr ?? 0.01);
    this.momentum = opts.momentum ?? 0;
    this.weightDecay = opts.weightDecay ?? 0;
    this.nesterov = opts.nesterov ?? false;
    this.buf = params.map((p) => backend.alloc(p.value.length));
  }
  get steps(): number { return this.t; }
  step(): void {
    this.params.forEach((p, i) => {
      this.backend.sgdStep(p.value.length, p.value, p.grad, this.buf[i]!, this.lr, this.momentum, this.weightDecay, this.nesterov, this.t === 0);
    });
    this.t++;
  }
  zeroGrad(): void { for (const p of this.params) p.grad.view().fill(0); }
}

/** Scales all gradients so their global L2 norm is at most maxNorm; returns the norm before clipping. */
export function clipGradNorm(params: readonly Parameter[], backend: Backend, maxNorm: number): number {
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

export function makeOptimizer(name: OptimizerName, params: readonly Parameter[], backend: Backend, opts: AdamOptions & SGDOptions): Optimizer {
  if (name === 'adam') return new Adam(params, backend, opts);
  if (name === 'adamw') return new AdamW(params, backend, opts);
  if (name === 'sgd') return new SGD(params, backend, opts);
  throw new RnnkitError('E_ARGUMENT', `optimizer: expected sgd, adam or adamw, found ${String(name)}`);
}
