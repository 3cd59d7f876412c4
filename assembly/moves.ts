// Data movement for the layers (native/moves.cc, the same names and the same results): fills, strided copies,
// the batch-first transpose, the direction interleave of bidirectional layers and dropout. Pointers are byte
// offsets, sizes and strides float counts; JavaScript checks every extent before a call (src/backend/moves.ts).
import { RANGE_ALIGN, splitBegin, splitEnd } from './pool';
import { f4 } from './vecmath';

/** Thread tid's part of x[n] = value. */
export function fill(tid: i32, nt: i32, n: i32, x: usize, value: f32): void {
  const v = f32x4.splat(value);
  const i1 = splitEnd(n, nt, tid, RANGE_ALIGN);
  let i = splitBegin(n, nt, tid, RANGE_ALIGN);
  for (; i + 4 <= i1; i += 4) v128.store(x + f4(i), v);
  for (; i < i1; i++) store<f32>(x + f4(i), value);
}

/**
 * Thread tid's part of dst[r * dstStride + c] = src[r * srcStride + c] for r < rows, c < cols (src and dst do not
 * overlap): a share of the rows, or of one row's columns. Rows of dst that overlap each other (dstStride < cols)
 * are copied in order, the last one winning: the caller runs those on one thread.
 */
export function copyStrided(tid: i32, nt: i32, rows: i32, cols: i32, src: usize, srcStride: i32, dst: usize,
  dstStride: i32): void {
  if (cols <= 0) return;
  if (rows == 1) {
    const c0 = splitBegin(cols, nt, tid, RANGE_ALIGN);
    memory.copy(dst + f4(c0), src + f4(c0), f4(splitEnd(cols, nt, tid, RANGE_ALIGN) - c0));
    return;
  }
  const r1 = splitEnd(rows, nt, tid, 1);
  for (let r = splitBegin(rows, nt, tid, 1); r < r1; r++) {
    memory.copy(dst + f4(r) * <usize>dstStride, src + f4(r) * <usize>srcStride, f4(cols));
  }
}

/** Thread tid's part of src [A, B, C] -> dst [B, A, C] (batch-first <-> sequence-major): a share of the A x B rows. */
export function transpose01(tid: i32, nt: i32, A: i32, B: i32, C: i32, src: usize, dst: usize): void {
  if (C <= 0) return;
  const q1 = splitEnd(A * B, nt, tid, 1);
  for (let q = splitBegin(A * B, nt, tid, 1); q < q1; q++) {
    const a = q / B;
    const b = q - a * B;
    memory.copy(dst + f4(C) * (<usize>b * <usize>A + <usize>a), src + f4(C) * <usize>q, f4(C));
  }
}

/** Thread tid's part of fwd [R, H], rev [R, H] -> out [R, 2H]: each row of out is fwd's row then rev's. */
export function interleave(tid: i32, nt: i32, R: i32, H: i32, fwd: usize, rev: usize, out: usize): void {
  copyStrided(tid, nt, R, H, fwd, H, out, 2 * H);
  copyStrided(tid, nt, R, H, rev, H, out + f4(H), 2 * H);
}

/** Thread tid's part of inp [R, 2H] -> fwd [R, H], rev [R, H]: the inverse of interleave. */
export function deinterleave(tid: i32, nt: i32, R: i32, H: i32, inp: usize, fwd: usize, rev: usize): void {
  copyStrided(tid, nt, R, H, inp, 2 * H, fwd, H);
  copyStrided(tid, nt, R, H, inp + f4(H), 2 * H, rev, H);
}

/**
 * The 32-bit number i (0-based) of the mulberry32 stream whose state is `seed` (native/moves.cc mulberry32_at;
 * src/nn/random.ts's Random.next() is this divided by 2^32).
 */
export function mulberry32At(seed: u32, i: i32): u32 {
  let z: u32 = seed + <u32>(i + 1) * 0x6d2b79f5;
  z = (z ^ (z >>> 15)) * (z | 1);
  z ^= z + (z ^ (z >>> 7)) * (z | 61);
  return z ^ (z >>> 14);
}

/**
 * Thread tid's part of y[n] = x * mask, mask[i] = 0 when mulberry32At(seed, i) < threshold, else scale; x and y
 * may be the same buffer (native/moves.h: threshold = ceil(p 2^32), scale = 1 / (1 - p) as a float). Element i's
 * mask depends on i alone: the same on any thread count. Four numbers at a time in 32-bit lanes, compared as
 * integers: u < threshold exactly when u < ceil(threshold), and every u is below a threshold over 2^32 - 1
 * (native/isa_impl.h, dropout).
 */
export function dropout(tid: i32, nt: i32, n: i32, seed: u32, threshold: f64, scale: f32, x: usize, y: usize): void {
  const i1 = splitEnd(n, nt, tid, RANGE_ALIGN);
  let i = splitBegin(n, nt, tid, RANGE_ALIGN);
  const all = threshold > 4294967295.0;
  const t: u32 = all ? 0 : <u32>Math.ceil(threshold);
  const vt = i32x4.splat(<i32>t);
  const vs = f32x4.splat(scale);
  const vseed = i32x4.splat(<i32>seed);
  const golden = i32x4.splat(0x6d2b79f5);
  const one = i32x4.splat(1);
  const s61 = i32x4.splat(61);
  for (; i + 4 <= i1; i += 4) {
    const idx = i32x4.add(i32x4.splat(i + 1), i32x4(0, 1, 2, 3));
    let z = i32x4.add(vseed, i32x4.mul(idx, golden));
    z = i32x4.mul(v128.xor(z, i32x4.shr_u(z, 15)), v128.or(z, one));
    z = v128.xor(z, i32x4.add(z, i32x4.mul(v128.xor(z, i32x4.shr_u(z, 7)), v128.or(z, s61))));
    z = v128.xor(z, i32x4.shr_u(z, 14));
    const m = all ? f32x4.splat(0) : v128.andnot(vs, i32x4.lt_u(z, vt));
    v128.store(y + f4(i), f32x4.mul(v128.load(x + f4(i)), m));
  }
  for (; i < i1; i++) {
    const m: f32 = all || mulberry32At(seed, i) < t ? 0 : scale;
    store<f32>(y + f4(i), load<f32>(x + f4(i)) * m);
  }
}
