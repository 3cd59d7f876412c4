// Losses. Each returns the mean loss over the counted elements and the gradient of that mean.
// Cross-entropy over a vocabulary runs in the backend; the small per-sequence losses (MSE, binary
// cross-entropy over one output per sequence) are plain loops here.
import type { Backend, Buf } from '../backend/types.js';
import { RnnkitError, shapeError } from '../errors.js';
import { Scratch } from '../nn/module.js';
import { expectShape, shapeStr, tensor, type Tensor } from '../tensor.js';

export interface LossResult {
  /** Mean over counted rows (or elements). */
  loss: number;
  /** How many rows (or elements) were counted. */
  count: number;
  /** Gradient of the mean loss with respect to the input. */
  grad: Tensor;
}

/** Softmax cross-entropy, L = -mean log p(target); target -1 rows are ignored (padding). */
export class CrossEntropyLoss {
  private readonly logits: Scratch;
  private readonly targets: Scratch;
  private readonly dlogits: Scratch;
  private disposed = false;
  /** Its scratch buffers go back by dispose(), or when the loss is garbage-collected. */
  constructor(private readonly backend: Backend) {
    this.logits = new Scratch(backend);
    this.targets = new Scratch(backend);
    this.dlogits = new Scratch(backend);
  }

  /** logits [N, C]; targets N integers in [0, C) or -1. With `grad: false` only the loss is computed. */
  compute(logits: Tensor, targets: ArrayLike<number>, opts: { grad?: boolean } = {}): LossResult {
    if (this.disposed) throw new RnnkitError('E_STATE', 'CrossEntropyLoss: used after dispose()');
    if (logits.shape.length !== 2) throw shapeError('cross-entropy logits', 'shape [N, C]', `shape ${shapeStr(logits.shape)}`);
    const [N, C] = logits.shape as [number, number];
    expectShape('cross-entropy logits', logits, [N, C]); // the data matches the shape (the scratch may be longer)
    const r = this.computeBuffer(this.logits.from(logits.data), N, C, targets, opts);
    const grad = r.grad ? tensor(this.backend.read(r.grad, 0, N * C), [N, C]) : tensor(new Float32Array(0), [0]);
    return { loss: r.loss, count: r.count, grad };
  }

  /**
   * @internal compute() on logits [N, C] already in a buffer of the loss's backend; the gradient (unless
   * `grad: false`) is a buffer of the loss's, valid until its next call.
   */
  computeBuffer(logits: Buf, N: number, C: number, targets: ArrayLike<number>, opts: { grad?: boolean } = {}): { loss: number; count: number; grad: Buf | null } {
    if (this.disposed) throw new RnnkitError('E_STATE', 'CrossEntropyLoss: used after dispose()');
    if (logits.length < N * C) throw shapeError('cross-entropy logits buffer', `${N * C} floats`, `${logits.length}`);
    if (targets.length !== N) throw shapeError('cross-entropy targets', `${N} targets`, `${targets.length}`);
    const tv = new Float32Array(N);
    let count = 0;
    for (let i = 0; i < N; i++) {
      const t = targets[i]!;
      if (t === -1) { tv[i] = -1; continue; }
      if (!Number.isInteger(t) || t < 0 || t >= C) {
        throw new RnnkitError('E_ARGUMENT', `cross-entropy targets: element ${i} is ${t}; expected an integer in [0, ${C}) or -1`);
      }
      tv[i] = t;
      count++;
    }
    const tb = this.targets.get(N);
    this.backend.write(tb, tv);
    const db = (opts.grad ?? true) ? this.dlogits.get(N * C) : null;
    const sum = this.backend.softmaxCrossEntropy(N, C, logits, tb, db, count ? 1 / count : 0);
    return { loss: count ? sum / count : 0, count, grad: db };
  }

  /** Returns its backend buffers now; compute() afterwards is E_STATE, a second dispose() does nothing. */
  dispose(): void {
    this.disposed = true;
    for (const s of [this.logits, this.targets, this.dlogits]) s.dispose();
  }

  /** dispose(), for `using ce = new CrossEntropyLoss(backend)`. */
  [Symbol.dispose](): void {
    this.dispose();
  }
}

/** Mean squared error over all elements. */
export function mseLoss(pred: Tensor, target: ArrayLike<number>): LossResult {
  const n = pred.data.length;
  if (target.length !== n) throw shapeError('MSE target', `${n} values`, `${target.length}`);
  const g = new Float32Array(n);
  let s = 0;
  for (let i = 0; i < n; i++) {
    const d = pred.data[i]! - target[i]!;
    s += d * d;
    g[i] = (2 * d) / n;
  }
  return { loss: s / n, count: n, grad: tensor(g, pred.shape) };
}

/** Binary cross-entropy on logits (stable form), targets in [0, 1]. */
export function bceWithLogitsLoss(logits: Tensor, target: ArrayLike<number>): LossResult {
  const n = logits.data.length;
  if (target.length !== n) throw shapeError('binary cross-entropy target', `${n} values`, `${target.length}`);
  const g = new Float32Array(n);
  let s = 0;
  for (let i = 0; i < n; i++) {
    const z = logits.data[i]!, y = target[i]!;
    s += Math.max(z, 0) - z * y + Math.log1p(Math.exp(-Math.abs(z)));
    g[i] = (1 / (1 + Math.exp(-z)) - y) / n;
  }
  return { loss: s / n, count: n, grad: tensor(g, logits.shape) };
}

/** Row-wise softmax of [N, C] logits (for predictions), in float64 then rounded. */
export function softmaxRows(logits: Float32Array, C: number, temperature = 1): Float32Array {
  const out = new Float32Array(logits.length);
  for (let r = 0; r < logits.length / C; r++) {
    let mx = -Infinity;
    for (let c = 0; c < C; c++) mx = Math.max(mx, logits[r * C + c]! / temperature);
    let sum = 0;
    for (let c = 0; c < C; c++) sum += Math.exp(logits[r * C + c]! / temperature - mx);
    for (let c = 0; c < C; c++) out[r * C + c] = Math.exp(logits[r * C + c]! / temperature - mx) / sum;
  }
  return out;
}
