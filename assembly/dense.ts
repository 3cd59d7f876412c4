// Dense operations for training (native/dense.cc; native/KERNELS.md, "Dense operations"). N rows, I inputs,
// O outputs, C classes, V vocabulary, D embedding width. Ids and targets are float32 holding exact integers.
import { NR } from './gemm';
import { colSumAddPart, gemmPart } from './kernels';
import { barrier, RANGE_ALIGN, splitBegin, splitEnd } from './pool';
import { f4, loadLanes, storeLanes, vexp } from './vecmath';

/** An id usable as a row index: an integer in [0, limit). NaN and fractions are not. */
// @ts-ignore: decorator
@inline function validId(f: f32, limit: i32): bool {
  return f >= 0 && f < <f32>limit && <f32>(<i32>f) == f;
}

/**
 * Thread tid's part of linearForward: x [N,I], w [O,I], b [O] or 0 -> y [N,O] = x wᵀ + b. Rows of y are split
 * between the threads (columns when N is small); the same split as gemmPart, so each thread sets the bias of
 * the part of y it then accumulates into.
 */
export function linearForward(tid: i32, nt: i32, N: i32, I: i32, O: i32, x: usize, w: usize, b: usize, y: usize): void {
  let r0 = 0, r1 = N, c0 = 0, c1 = O;
  if (nt > 1) {
    if (N >= 16 * nt || N >= O) {
      r0 = splitBegin(N, nt, tid, 2);
      r1 = splitEnd(N, nt, tid, 2);
    } else {
      c0 = splitBegin(O, nt, tid, NR);
      c1 = splitEnd(O, nt, tid, NR);
    }
  }
  for (let n = r0; n < r1 && c1 > c0; n++) {
    const row = y + f4(n * O + c0);
    if (b != 0) memory.copy(row, b + f4(c0), f4(c1 - c0));
    else memory.fill(row, 0, f4(c1 - c0));
  }
  gemmPart(tid, nt, 0, 1, N, O, I, 1, x, I, w, I, 1, y, O);
  barrier(nt);
}

/**
 * Thread tid's part of linearBackward: x [N,I], w [O,I], dy [N,O] -> dx [N,I] = dy w (overwritten; skipped when
 * 0), dw [O,I] += dyᵀ x, db [O] += Σ dy.
 */
export function linearBackward(tid: i32, nt: i32, N: i32, I: i32, O: i32, x: usize, w: usize, dy: usize, dx: usize,
  dw: usize, db: usize): void {
  if (dx != 0) gemmPart(tid, nt, 0, 0, N, I, O, 1, dy, O, w, I, 0, dx, I);
  gemmPart(tid, nt, 1, 0, O, I, N, 1, dy, O, x, I, 1, dw, I);
  if (db != 0) colSumAddPart(tid, nt, db, dy, N, O, O);
  barrier(nt);
}

// @ts-ignore: decorator
@inline function sumLanes64(acc: v128, e: v128): v128 {
  // acc (f64x2) += the four lanes of e (f32x4), widened
  acc = f64x2.add(acc, f64x2.promote_low_f32x4(e));
  return f64x2.add(acc, f64x2.promote_low_f32x4(i32x4.shuffle(e, e, 2, 3, 2, 3)));
}

/**
 * logits [N,C], targets [N] -> Σ over rows whose target t is an integer in [0, C) of -log softmax(row)[t];
 * dlogits [N,C] (or 0) = scale * (softmax - onehot), zero rows for ignored targets. The exponentials are
 * float32 (a few ulp), their sum and the log-sum-exp float64.
 */
/** exp(d), but 0 below -87 (under the smallest normal float, where vexp clamps): a masked logit (-inf) keeps an
 * exactly zero gradient, as on the native backend. */
// @ts-ignore: decorator
@inline function softmaxExp(d: v128): v128 {
  return v128.andnot(vexp(d), f32x4.lt(d, f32x4.splat(-87.0)));
}

/** Rows a block of the loss: each block's sum goes to part[block], and the caller adds the blocks in order. */
export const LOSS_ROWS: i32 = 64;

/**
 * Thread tid's part of softmaxCrossEntropy: its rows in whole blocks of LOSS_ROWS (the native backend's split),
 * each block's loss (float64) to part[block]. The caller adds part in order, so the loss has the same bits on
 * any thread count.
 */
export function softmaxCrossEntropy(tid: i32, nt: i32, N: i32, C: i32, logits: usize, targets: usize, dlogits: usize,
  scale: f32, part: usize): void {
  const r0 = splitBegin(N, nt, tid, LOSS_ROWS);
  const r1 = splitEnd(N, nt, tid, LOSS_ROWS);
  for (let b0 = r0; b0 < r1; b0 += LOSS_ROWS) {
    store<f64>(part + (<usize>(b0 / LOSS_ROWS) << 3), lossRows(b0, min<i32>(b0 + LOSS_ROWS, r1), C, logits, targets,
      dlogits, scale));
  }
}

/** The loss of rows [r0, r1) and their dlogits (as softmaxCrossEntropy). */
function lossRows(r0: i32, r1: i32, C: i32, logits: usize, targets: usize, dlogits: usize, scale: f32): f64 {
  let loss: f64 = 0;
  for (let n = r0; n < r1; n++) {
    const z = logits + f4(n * C);
    const dz = dlogits != 0 ? dlogits + f4(n * C) : 0;
    const tf = load<f32>(targets + f4(n));
    if (!validId(tf, C)) {
      if (dz != 0) memory.fill(dz, 0, f4(C));
      continue;
    }
    const t = <i32>tf;
    let mx = load<f32>(z);
    let c = 0;
    if (C >= 4) {
      let vm = v128.load(z);
      for (c = 4; c + 4 <= C; c += 4) vm = f32x4.max(vm, v128.load(z + f4(c)));
      mx = max<f32>(max<f32>(f32x4.extract_lane(vm, 0), f32x4.extract_lane(vm, 1)),
        max<f32>(f32x4.extract_lane(vm, 2), f32x4.extract_lane(vm, 3)));
    }
    for (; c < C; c++) mx = max<f32>(mx, load<f32>(z + f4(c)));
    const vmx = f32x4.splat(mx);
    let acc = f64x2.splat(0);
    let sum: f64 = 0;
    for (c = 0; c + 4 <= C; c += 4) {
      const e = softmaxExp(f32x4.sub(v128.load(z + f4(c)), vmx));
      if (dz != 0) v128.store(dz + f4(c), e);
      acc = sumLanes64(acc, e);
    }
    for (; c < C; c++) {
      const e = f32x4.extract_lane(softmaxExp(f32x4.splat(load<f32>(z + f4(c)) - mx)), 0);
      if (dz != 0) store<f32>(dz + f4(c), e);
      sum += <f64>e;
    }
    sum += f64x2.extract_lane(acc, 0) + f64x2.extract_lane(acc, 1);
    const lse = Math.log(sum) + <f64>mx;
    loss += lse - <f64>load<f32>(z + f4(t));
    if (dz != 0) {
      const k = <f32>(<f64>scale / sum);
      const vk = f32x4.splat(k);
      for (c = 0; c + 4 <= C; c += 4) v128.store(dz + f4(c), f32x4.mul(v128.load(dz + f4(c)), vk));
      for (; c < C; c++) store<f32>(dz + f4(c), load<f32>(dz + f4(c)) * k);
      store<f32>(dz + f4(t), load<f32>(dz + f4(t)) - scale);
    }
  }
  return loss;
}

/** ids [N], table [V,D] -> out [N,D]: out[n] = table[ids[n]], a zero row for an id outside [0, V). */
export function embeddingForward(N: i32, D: i32, V: i32, ids: usize, table: usize, out: usize): void {
  for (let n = 0; n < N; n++) {
    const f = load<f32>(ids + f4(n));
    const row = out + f4(n * D);
    if (validId(f, V)) memory.copy(row, table + f4(<i32>f * D), f4(D));
    else memory.fill(row, 0, f4(D));
  }
}

/** ids [N], dout [N,D] -> dtable [V,D]: dtable[ids[n]] += dout[n] (ids outside [0, V) skipped). */
export function embeddingBackward(N: i32, D: i32, V: i32, ids: usize, dout: usize, dtable: usize): void {
  for (let n = 0; n < N; n++) {
    const f = load<f32>(ids + f4(n));
    if (!validId(f, V)) continue;
    addTo(D, dtable + f4(<i32>f * D), dout + f4(n * D));
  }
}

/** dst[n] += src[n]. */
function addTo(n: i32, dst: usize, src: usize): void {
  let i = 0;
  for (; i + 4 <= n; i += 4) v128.store(dst + f4(i), f32x4.add(v128.load(dst + f4(i)), v128.load(src + f4(i))));
  for (; i < n; i++) store<f32>(dst + f4(i), load<f32>(dst + f4(i)) + load<f32>(src + f4(i)));
}

/**
 * One Adam (decoupled 0) or AdamW (decoupled 1) step over n parameters p with gradients g and moments m, v, in
 * PyTorch's order of operations: hyperparameters combined in float64, then rounded to float32.
 */
export function adamStep(tid: i32, nt: i32, n: i32, p: usize, g: usize, m: usize, v: usize, decoupled: i32, step: i32,
  lr: f64, beta1: f64, beta2: f64, eps: f64, weightDecay: f64): void {
  const b1 = f32x4.splat(<f32>beta1);
  const b2 = f32x4.splat(<f32>beta2);
  const c1 = f32x4.splat(<f32>(1 - beta1));
  const c2 = f32x4.splat(<f32>(1 - beta2));
  const stepSize = f32x4.splat(<f32>(lr / (1 - Math.pow(beta1, <f64>step))));
  const bc2Sqrt = f32x4.splat(<f32>Math.sqrt(1 - Math.pow(beta2, <f64>step)));
  const ve = f32x4.splat(<f32>eps);
  const wd = f32x4.splat(<f32>weightDecay);
  const decay = f32x4.splat(<f32>(1 - lr * weightDecay));
  const coupled = decoupled == 0 && weightDecay != 0;
  const i1 = splitEnd(n, nt, tid, RANGE_ALIGN);
  let i = splitBegin(n, nt, tid, RANGE_ALIGN);
  for (; i + 4 <= i1; i += 4) {
    adamLanes(4, f4(i), p, g, m, v, b1, b2, c1, c2, stepSize, bc2Sqrt, ve, wd, decay, decoupled, coupled);
  }
  if (i < i1) adamLanes(i1 - i, f4(i), p, g, m, v, b1, b2, c1, c2, stepSize, bc2Sqrt, ve, wd, decay, decoupled, coupled);
}

// @ts-ignore: decorator
@inline function adamLanes(lanes: i32, o: usize, p: usize, g: usize, m: usize, v: usize, b1: v128, b2: v128,
  c1: v128, c2: v128, stepSize: v128, bc2Sqrt: v128, ve: v128, wd: v128, decay: v128, decoupled: i32,
  coupled: bool): void {
  let pv = loadLanes(p + o, lanes);
  let gv = loadLanes(g + o, lanes);
  if (decoupled != 0) pv = f32x4.mul(pv, decay);
  else if (coupled) gv = f32x4.add(gv, f32x4.mul(wd, pv));
  const mv = f32x4.add(f32x4.mul(loadLanes(m + o, lanes), b1), f32x4.mul(c1, gv));
  const vv = f32x4.add(f32x4.mul(loadLanes(v + o, lanes), b2), f32x4.mul(f32x4.mul(c2, gv), gv));
  const denom = f32x4.add(f32x4.div(f32x4.sqrt(vv), bc2Sqrt), ve);
  storeLanes(p + o, f32x4.sub(pv, f32x4.mul(stepSize, f32x4.div(mv, denom))), lanes);
  storeLanes(m + o, mv, lanes);
  storeLanes(v + o, vv, lanes);
}

/**
 * Thread tid's part of one SGD step (PyTorch's: weight decay, momentum buffer buf, Nesterov) over n parameters,
 * four at a time (the lanes compute what the scalar loop did: a multiply, then an add, never fused).
 */
export function sgdStep(tid: i32, nt: i32, n: i32, p: usize, g: usize, buf: usize, nesterov: i32, first: i32, lr: f64,
  momentum: f64, weightDecay: f64): void {
  const wd = f32x4.splat(<f32>weightDecay);
  const mom = f32x4.splat(<f32>momentum);
  const step = f32x4.splat(<f32>(-lr));
  const decay = weightDecay != 0;
  const moving = momentum != 0;
  const i1 = splitEnd(n, nt, tid, RANGE_ALIGN);
  let i = splitBegin(n, nt, tid, RANGE_ALIGN);
  for (; i + 4 <= i1; i += 4) sgdLanes(4, f4(i), p, g, buf, wd, mom, step, decay, moving, nesterov, first);
  if (i < i1) sgdLanes(i1 - i, f4(i), p, g, buf, wd, mom, step, decay, moving, nesterov, first);
}

// @ts-ignore: decorator
@inline function sgdLanes(lanes: i32, o: usize, p: usize, g: usize, buf: usize, wd: v128, mom: v128, step: v128,
  decay: bool, moving: bool, nesterov: i32, first: i32): void {
  const pv = loadLanes(p + o, lanes);
  let gv = loadLanes(g + o, lanes);
  if (decay) gv = f32x4.add(gv, f32x4.mul(wd, pv));
  if (moving) {
    const b = first != 0 ? gv : f32x4.add(f32x4.mul(loadLanes(buf + o, lanes), mom), gv);
    storeLanes(buf + o, b, lanes);
    gv = nesterov != 0 ? f32x4.add(gv, f32x4.mul(mom, b)) : b;
  }
  storeLanes(p + o, f32x4.add(pv, f32x4.mul(step, gv)), lanes);
}

/** Floats a block of sumSquares: each block's sum goes to part[block], and the caller adds the blocks in order. */
export const SUM_BLOCK: i32 = 4096;

/** Thread tid's part of Σ x[i]² over n floats: its whole blocks of SUM_BLOCK, each block's float64 sum to part. */
export function sumSquares(tid: i32, nt: i32, n: i32, x: usize, part: usize): void {
  const i1 = splitEnd(n, nt, tid, SUM_BLOCK);
  for (let b0 = splitBegin(n, nt, tid, SUM_BLOCK); b0 < i1; b0 += SUM_BLOCK) {
    store<f64>(part + (<usize>(b0 / SUM_BLOCK) << 3), blockSquares(min<i32>(SUM_BLOCK, i1 - b0), x + f4(b0)));
  }
}

/** Σ x[i]² over n floats, in float64. */
function blockSquares(n: i32, x: usize): f64 {
  let acc = f64x2.splat(0);
  let i = 0;
  for (; i + 4 <= n; i += 4) {
    const v = v128.load(x + f4(i));
    const lo = f64x2.promote_low_f32x4(v);
    const hi = f64x2.promote_low_f32x4(i32x4.shuffle(v, v, 2, 3, 2, 3));
    acc = f64x2.add(acc, f64x2.add(f64x2.mul(lo, lo), f64x2.mul(hi, hi)));
  }
  let s = f64x2.extract_lane(acc, 0) + f64x2.extract_lane(acc, 1);
  for (; i < n; i++) {
    const v = <f64>load<f32>(x + f4(i));
    s += v * v;
  }
  return s;
}

/** Thread tid's part of x[i] *= alpha over n floats. */
export function scale(tid: i32, nt: i32, n: i32, x: usize, alpha: f32): void {
  const va = f32x4.splat(alpha);
  const i1 = splitEnd(n, nt, tid, RANGE_ALIGN);
  let i = splitBegin(n, nt, tid, RANGE_ALIGN);
  for (; i + 4 <= i1; i += 4) v128.store(x + f4(i), f32x4.mul(v128.load(x + f4(i)), va));
  for (; i < i1; i++) store<f32>(x + f4(i), load<f32>(x + f4(i)) * alpha);
}
