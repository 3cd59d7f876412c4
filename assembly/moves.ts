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

/** dst[r * dstStride + c] = src[r * srcStride + c] for r < rows, c < cols; src and dst do not overlap */
export function copyStrided(rows: i32, cols: i32, src: usize, srcStride: i32, dst: usize, dstStride: i32): void {
  if (cols <= 0) return;
  for (let r = 0; r < rows; r++) memory.copy(dst + f4(r) * <usize>dstStride, src + f4(r) * <usize>srcStride, f4(cols));
}

/** src [A, B, C] -> dst [B, A, C]: batch-first <-> sequence-major */
export function transpose01(A: i32, B: i32, C: i32, src: usize, dst: usize): void {
  if (C <= 0) return;
  for (let a = 0; a < A; a++) {
    for (let b = 0; b < B; b++) {
      memory.copy(dst + f4(C) * (<usize>b * <usize>A + <usize>a), src + f4(C) * (<usize>a * <usize>B + <usize>b), f4(C));
    }
  }
}

/** fwd [R, H], rev [R, H] -> out [R, 2H]: each row of out is fwd's row then rev's */
export function interleave(R: i32, H: i32, fwd: usize, rev: usize, out: usize): void {
  copyStrided(R, H, fwd, H, out, 2 * H);
  copyStrided(R, H, rev, H, out + f4(H), 2 * H);
}

/** inp [R, 2H] -> fwd [R, H], rev [R, H]: the inverse of interleave */
export function deinterleave(R: i32, H: i32, inp: usize, fwd: usize, rev: usize): void {
  copyStrided(R, H, inp, 2 * H, fwd, H);
  copyStrided(R, H, inp + f4(H), 2 * H, rev, H);
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
 * y[n] = x * mask, mask[i] = 0 when mulberry32At(seed, i) < threshold, else scale; x and y may be the same
 * buffer (native/moves.h: threshold = ceil(p 2^32), scale = 1 / (1 - p) as a float).
 */
export function dropout(n: i32, seed: u32, threshold: f64, scale: f32, x: usize, y: usize): void {
  for (let i = 0; i < n; i++) {
    const m: f32 = <f64>mulberry32At(seed, i) < threshold ? 0 : scale;
    store<f32>(y + f4(i), load<f32>(x + f4(i)) * m);
  }
}
