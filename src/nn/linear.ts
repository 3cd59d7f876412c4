// Linear: y = x Wᵀ + b over the last dimension, PyTorch's nn.Linear layout (weight [out, in], bias [out]).
import { resolveBackend, type BackendName } from '../backend/index.js';
import { checkBufferFloats, checkParameterSizes } from '../backend/limits.js';
import type { Backend, Buf } from '../backend/types.js';
import { checkFinite, RnnkitError, shapeError } from '../errors.js';
import { numel, shapeStr, tensor, type Tensor } from '../tensor.js';
import { newParameter, ParameterModule, type Parameter } from './module.js';
import { Random } from './random.js';

export interface LinearOptions {
  inFeatures: number;
  outFeatures: number;
  bias?: boolean;
  seed?: number;
  backend?: Backend | BackendName;
}

/** PyTorch's nn.Linear: `new Linear({ inFeatures, outFeatures, bias?, seed?, backend? })`. */
export class Linear extends ParameterModule {
  protected readonly what = 'Linear';
  readonly inFeatures: number;
  readonly outFeatures: number;
  private readonly xs = this.scratch();
  private readonly ys = this.scratch();
  private readonly dys = this.scratch();
  private readonly dxs = this.scratch();
  /** What backward reads: the rows and shape of the last forward, and its input (xs, or forwardBuffer's x). */
  private saved: { rows: number; shape: readonly number[]; x: Buf } | null = null;

  constructor(opts: LinearOptions) {
    super(resolveBackend(opts?.backend));
    for (const k of ['inFeatures', 'outFeatures'] as const) {
      const v = opts?.[k];
      if (!Number.isInteger(v) || v < 1) throw new RnnkitError('E_ARGUMENT', `${k}: expected a positive integer, found ${String(v)}`);
    }
    this.inFeatures = opts.inFeatures;
    this.outFeatures = opts.outFeatures;
    checkParameterSizes(`inFeatures ${this.inFeatures}, outFeatures ${this.outFeatures}`, [['weight', [this.outFeatures, this.inFeatures]]]);
    const rng = new Random(opts.seed ?? 0);
    const bound = 1 / Math.sqrt(this.inFeatures); // PyTorch's default: uniform(±1/sqrt(in)) for weight and bias
    this.params.push(newParameter(this.backend, 'weight', [this.outFeatures, this.inFeatures]));
    if (opts.bias ?? true) this.params.push(newParameter(this.backend, 'bias', [this.outFeatures]));
    for (const p of this.params) this.backend.write(p.value, rng.uniform(new Float32Array(p.value.length), -bound, bound));
  }

  get weight(): Parameter { this.live(); return this.params[0]!; }
  get bias(): Parameter | null { this.live(); return this.params[1] ?? null; }

  /** x [..., inFeatures] -> [..., outFeatures]. Keeps x for backward. */
  forward(x: Tensor): Tensor {
    this.live();
    const I = this.inFeatures, O = this.outFeatures;
    if (!x || x.shape.length < 1 || x.shape[x.shape.length - 1] !== I) {
      throw shapeError('Linear input', `shape [..., ${I}]`, x ? `shape ${shapeStr(x.shape)}` : String(x));
    }
    const rows = numel(x.shape) / I;
    if (x.data.length !== rows * I) throw shapeError('Linear input', `${rows * I} elements`, `${x.data.length}`);
    checkBufferFloats(`Linear output [${rows}, ${O}]`, rows * O); // before allocating it
    checkFinite('Linear input', x.data);
    const xb = this.xs.from(x.data);
    const yb = this.ys.get(rows * O);
    this.backend.linearForward(rows, I, O, xb, this.weight.value, this.bias?.value ?? null, yb);
    this.saved = { rows, shape: x.shape, x: xb };
    return tensor(this.backend.read(yb, 0, rows * O), [...x.shape.slice(0, -1), O]);
  }

  /** dy [..., outFeatures] -> dx [..., inFeatures]; accumulates weight and bias gradients. */
  backward(dy: Tensor): Tensor {
    this.live();
    if (!this.saved) throw new RnnkitError('E_STATE', 'Linear backward: call forward() first');
    const { rows, shape } = this.saved;
    const I = this.inFeatures, O = this.outFeatures;
    if (!dy || dy.data.length !== rows * O) throw shapeError('Linear dOutput', `${rows * O} elements`, dy ? `${dy.data.length}` : String(dy));
    const dxb = this.backwardBuffer(this.dys.from(dy.data));
    return tensor(this.backend.read(dxb, 0, rows * I), shape);
  }

  /**
   * @internal forward() on rows already in a buffer of this layer's backend (x [rows, inFeatures], not checked
   * for NaN, read again by backward: left unchanged until then). The output [rows, outFeatures] is a buffer of
   * this layer's, valid until its next forward.
   */
  forwardBuffer(x: Buf, rows: number): Buf {
    this.live();
    const I = this.inFeatures, O = this.outFeatures;
    if (!Number.isInteger(rows) || rows < 1 || x.length < rows * I) throw shapeError('Linear input buffer', `${rows} rows of ${I}`, `${x.length} floats`);
    checkBufferFloats(`Linear output [${rows}, ${O}]`, rows * O);
    const yb = this.ys.get(rows * O);
    this.backend.linearForward(rows, I, O, x, this.weight.value, this.bias?.value ?? null, yb);
    this.saved = { rows, shape: [rows, I], x };
    return yb;
  }

  /**
   * @internal backward() of the last forward on dy [rows, outFeatures] in a buffer; accumulates the weight and
   * bias gradients and returns dx [rows, inFeatures], a buffer of this layer's valid until its next backward.
   */
  backwardBuffer(dy: Buf): Buf {
    this.live();
    if (!this.saved) throw new RnnkitError('E_STATE', 'Linear backward: call forward() first');
    const { rows, x } = this.saved;
    const I = this.inFeatures, O = this.outFeatures;
    if (dy.length < rows * O) throw shapeError('Linear dOutput buffer', `${rows * O} floats`, `${dy.length}`);
    const dxb = this.dxs.get(rows * I);
    this.backend.linearBackward(rows, I, O, x, this.weight.value, dy, dxb, this.weight.grad, this.bias?.grad ?? null);
    return dxb;
  }
}
