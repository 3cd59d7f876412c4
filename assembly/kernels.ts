// rnnkit's WebAssembly kernels: one RNN layer and direction over a whole sequence batch, per native/KERNELS.md.
//
// Sizes: T time steps, B batch, I input features, H hidden units, G gates (rnn 1, lstm 4, gru 3).
// Every pointer is a byte offset into linear memory; every buffer is float32, row-major, sequence-major.
// JavaScript owns all memory above heapBase(): these functions never allocate. Their only state is the
// static packing area below (sgemm's packed panels), so calls must not overlap (one thread, no re-entry).
// What this version deliberately does not do: threads, relaxed-SIMD FMA, bf16.

// ---------------------------------------------------------------------------------------------------------
// Static packing area for sgemm (reserved in the data segment, not a managed allocation).

const KC: i32 = 256; // depth of a packed block
const NC: i32 = 1024; // columns of op(B) packed at once by sgemm
const PACK_A_FLOATS: i32 = 32768; // 128 KiB of packed op(A): at most 128 rows x 256 deep, stays in L2
const PACK_A: usize = memory.data(131072, 64);
const PACK_B: usize = memory.data(1048576, 64); // KC x NC floats of packed op(B)
const TILE: usize = memory.data(128, 64); // one 4x8 (or 1x32) tile for partial write-back

/** First free byte: JavaScript's allocator starts here (rounded up to 64). */
export function heapBase(): usize {
  return __heap_base;
}

// @ts-ignore: decorator
@inline function f4(n: i32): usize {
  return (<usize>n) << 2;
}

/** Floats rounded up to a multiple of 16 (64 bytes), so every scratch region stays cache-line aligned. */
// @ts-ignore: decorator
@inline function a16(n: i32): i32 {
  return (n + 15) & ~15;
}

// @ts-ignore: decorator
@inline function pad8(n: i32): i32 {
  return (n + 7) & ~7;
}

function gatesOf(kind: i32): i32 {
  return kind == 2 ? 4 : kind == 3 ? 3 : 1;
}

// ---------------------------------------------------------------------------------------------------------
// Vector math. exp: Cody-Waite reduction x = n ln2 + r, |r| <= ln2/2, degree-7 Taylor polynomial
// (truncation 5e-9 relative), 2^n built in the exponent bits. Measured error: a few ulp.

// @ts-ignore: decorator
@inline function vexp(x: v128): v128 {
  x = f32x4.min(f32x4.max(x, f32x4.splat(-87.0)), f32x4.splat(88.0));
  const n = f32x4.nearest(f32x4.mul(x, f32x4.splat(1.4426950408889634)));
  let r = f32x4.sub(x, f32x4.mul(n, f32x4.splat(0.693145751953125))); // ln2 high part: exact product
  r = f32x4.sub(r, f32x4.mul(n, f32x4.splat(1.4286068203094173e-6))); // ln2 low part
  let p = f32x4.splat(1.9841269841269841e-4); // 1/5040
  p = f32x4.add(f32x4.mul(p, r), f32x4.splat(1.3888888888888889e-3)); // 1/720
  p = f32x4.add(f32x4.mul(p, r), f32x4.splat(8.3333333333333333e-3)); // 1/120
  p = f32x4.add(f32x4.mul(p, r), f32x4.splat(4.1666666666666667e-2)); // 1/24
  p = f32x4.add(f32x4.mul(p, r), f32x4.splat(1.6666666666666667e-1)); // 1/6
  p = f32x4.add(f32x4.mul(p, r), f32x4.splat(0.5));
  p = f32x4.add(f32x4.mul(p, r), f32x4.splat(1.0));
  p = f32x4.add(f32x4.mul(p, r), f32x4.splat(1.0));
  const scale = i32x4.shl(i32x4.add(i32x4.trunc_sat_f32x4_s(n), i32x4.splat(127)), 23);
  return f32x4.mul(p, scale);
}

// @ts-ignore: decorator
@inline function vsigmoid(x: v128): v128 {
  const one = f32x4.splat(1.0);
  return f32x4.div(one, f32x4.add(one, vexp(f32x4.neg(x))));
}

// tanh: |x| < 0.625: x + x^3 P(x^2), a degree-4 minimax fit of our own (4.4e-9 relative);
// otherwise 1 - 2/(e^{2|x|} + 1) with the sign of x (no cancellation there: the result is > 0.55).
// @ts-ignore: decorator
@inline function vtanh(x: v128): v128 {
  const ax = f32x4.abs(x);
  const z = f32x4.mul(x, x);
  let p = f32x4.splat(-0.005704988744207033);
  p = f32x4.add(f32x4.mul(p, z), f32x4.splat(0.020639089236575495));
  p = f32x4.add(f32x4.mul(p, z), f32x4.splat(-0.05373971582267986));
  p = f32x4.add(f32x4.mul(p, z), f32x4.splat(0.1333144220839106));
  p = f32x4.add(f32x4.mul(p, z), f32x4.splat(-0.33333281942427445));
  const small = f32x4.add(x, f32x4.mul(f32x4.mul(x, z), p));
  const e = vexp(f32x4.add(f32x4.min(ax, f32x4.splat(10.0)), f32x4.min(ax, f32x4.splat(10.0))));
  const one = f32x4.splat(1.0);
  let large = f32x4.sub(one, f32x4.div(f32x4.splat(2.0), f32x4.add(e, one)));
  large = v128.or(large, v128.and(x, i32x4.splat(0x80000000)));
  return v128.bitselect(small, large, f32x4.lt(ax, f32x4.splat(0.625)));
}

// Scalar forms for the tails of rows whose length is not a multiple of 4: the same arithmetic, lane 0.
function sigmoid1(x: f32): f32 {
  return f32x4.extract_lane(vsigmoid(f32x4.splat(x)), 0);
}

function tanh1(x: f32): f32 {
  return f32x4.extract_lane(vtanh(f32x4.splat(x)), 0);
}

/** Exported for tests: y[i] = sigmoid(x[i]) (fn 0) or tanh(x[i]) (fn 1), n floats. */
export function vecMath(fn: i32, n: i32, x: usize, y: usize): void {
  let i = 0;
  for (; i + 4 <= n; i += 4) {
    const v = v128.load(x + f4(i));
    v128.store(y + f4(i), fn == 0 ? vsigmoid(v) : vtanh(v));
  }
  for (; i < n; i++) {
    const v = load<f32>(x + f4(i));
    store<f32>(y + f4(i), fn == 0 ? sigmoid1(v) : tanh1(v));
  }
}

// ---------------------------------------------------------------------------------------------------------
// GEMM. op(B) is packed into panels of 8 columns: panel j holds rows k of 8 floats, k-major, zero-padded past N;
// panel j starts panelStride floats after panel j-1. op(A) is packed per block into PACK_A: 4-row panels
// (k-major, 4 floats per k), then the remaining rows one after another. A 4x8 register tile (8 f32x4
// accumulators) covers 4-row panels; leftover rows use a 1x32 tile over four B panels.

/** Packs op(B)[k0 .. k0+kc, n0 .. n0+nc] into panels at dst (op(B)[k][n] = transB ? B[n*ldb + k] : B[k*ldb + n]). */
function packPanels(transB: i32, B: usize, ldb: i32, k0: i32, kc: i32, n0: i32, nc: i32, dst: usize, panelStride: i32): void {
  const np = (nc + 7) >> 3;
  const ldbB = f4(ldb);
  for (let jp = 0; jp < np; jp++) {
    const col0 = n0 + jp * 8;
    const nv = min<i32>(8, nc - jp * 8);
    const d = dst + f4(jp * panelStride);
    if (transB == 0) {
      const src = B + f4(k0 * ldb + col0);
      if (nv == 8) {
        for (let k = 0; k < kc; k++) {
          const s = src + <usize>k * ldbB;
          v128.store(d + f4(k * 8), v128.load(s));
          v128.store(d + f4(k * 8), v128.load(s, 16), 16);
        }
      } else {
        for (let k = 0; k < kc; k++) {
          const s = src + <usize>k * ldbB;
          for (let c = 0; c < 8; c++) store<f32>(d + f4(k * 8 + c), c < nv ? load<f32>(s + f4(c)) : 0);
        }
      }
    } else {
      const src = B + f4(col0 * ldb + k0); // row c of src is column col0+c of op(B)
      let k = 0;
      if (nv == 8) {
        for (; k + 4 <= kc; k += 4) {
          for (let half = 0; half < 2; half++) {
            const s = src + <usize>(half * 4) * ldbB + f4(k);
            const a0 = v128.load(s);
            const a1 = v128.load(s + ldbB);
            const a2 = v128.load(s + 2 * ldbB);
            const a3 = v128.load(s + 3 * ldbB);
            const t0 = f32x4.shuffle(a0, a1, 0, 4, 1, 5);
            const t1 = f32x4.shuffle(a2, a3, 0, 4, 1, 5);
            const t2 = f32x4.shuffle(a0, a1, 2, 6, 3, 7);
            const t3 = f32x4.shuffle(a2, a3, 2, 6, 3, 7);
            const o = d + f4(k * 8 + half * 4);
            v128.store(o, f32x4.shuffle(t0, t1, 0, 1, 4, 5));
            v128.store(o, f32x4.shuffle(t0, t1, 2, 3, 6, 7), 32);
            v128.store(o, f32x4.shuffle(t2, t3, 0, 1, 4, 5), 64);
            v128.store(o, f32x4.shuffle(t2, t3, 2, 3, 6, 7), 96);
          }
        }
      }
      for (; k < kc; k++) {
        for (let c = 0; c < 8; c++) {
          store<f32>(d + f4(k * 8 + c), c < nv ? load<f32>(src + <usize>c * ldbB + f4(k)) : 0);
        }
      }
    }
  }
}

/** Packs an mc x kc block of op(A) (A already offset to the block's corner) into PACK_A. */
function packABlock(transA: i32, A: usize, lda: i32, mc: i32, kc: i32): void {
  const ldaB = f4(lda);
  const m4 = mc & ~3;
  for (let r = 0; r < m4; r += 4) {
    const d = PACK_A + f4(r * kc);
    if (transA == 0) {
      const s0 = A + <usize>r * ldaB;
      const s1 = s0 + ldaB;
      const s2 = s1 + ldaB;
      const s3 = s2 + ldaB;
      let k = 0;
      for (; k + 4 <= kc; k += 4) {
        const o = f4(k);
        const a0 = v128.load(s0 + o);
        const a1 = v128.load(s1 + o);
        const a2 = v128.load(s2 + o);
        const a3 = v128.load(s3 + o);
        const t0 = f32x4.shuffle(a0, a1, 0, 4, 1, 5);
        const t1 = f32x4.shuffle(a2, a3, 0, 4, 1, 5);
        const t2 = f32x4.shuffle(a0, a1, 2, 6, 3, 7);
        const t3 = f32x4.shuffle(a2, a3, 2, 6, 3, 7);
        const p = d + f4(k * 4);
        v128.store(p, f32x4.shuffle(t0, t1, 0, 1, 4, 5));
        v128.store(p, f32x4.shuffle(t0, t1, 2, 3, 6, 7), 16);
        v128.store(p, f32x4.shuffle(t2, t3, 0, 1, 4, 5), 32);
        v128.store(p, f32x4.shuffle(t2, t3, 2, 3, 6, 7), 48);
      }
      for (; k < kc; k++) {
        const o = f4(k);
        const p = d + f4(k * 4);
        store<f32>(p, load<f32>(s0 + o));
        store<f32>(p, load<f32>(s1 + o), 4);
        store<f32>(p, load<f32>(s2 + o), 8);
        store<f32>(p, load<f32>(s3 + o), 12);
      }
    } else {
      for (let k = 0; k < kc; k++) v128.store(d + f4(k * 4), v128.load(A + <usize>k * ldaB + f4(r)));
    }
  }
  for (let r = m4; r < mc; r++) {
    const d = PACK_A + f4(r * kc);
    if (transA == 0) {
      memory.copy(d, A + <usize>r * ldaB, f4(kc));
    } else {
      for (let k = 0; k < kc; k++) store<f32>(d + f4(k), load<f32>(A + <usize>k * ldaB + f4(r)));
    }
  }
}

// Four floats of C at c = alpha*acc (+ beta*C when beta != 0: C is never read when beta == 0).
// @ts-ignore: decorator
@inline function put(c: usize, acc: v128, alpha: v128, beta: f32): void {
  let v = f32x4.mul(acc, alpha);
  if (beta != 0) v = f32x4.add(v, f32x4.mul(v128.load(c), f32x4.splat(beta)));
  v128.store(c, v);
}

/** Writes rows x cols floats from TILE (row stride 8 floats, or 32 for one row) into C, scalar. */
function putTile(rows: i32, cols: i32, tileStride: i32, c: usize, ldcB: usize, alpha: f32, beta: f32): void {
  for (let r = 0; r < rows; r++) {
    for (let j = 0; j < cols; j++) {
      const p = c + <usize>r * ldcB + f4(j);
      let v = alpha * load<f32>(TILE + f4(r * tileStride + j));
      if (beta != 0) v += beta * load<f32>(p);
      store<f32>(p, v);
    }
  }
}

/** 4x8 tile: C[4, nv] = alpha * Apanel[4, kc] * Bpanel[kc, 8] (+ beta C). pa, pb packed; ldcB in bytes. */
function kernel4x8(kc: i32, pa: usize, pb: usize, c: usize, ldcB: usize, alpha: f32, beta: f32, nv: i32): void {
  let c00 = f32x4.splat(0), c01 = f32x4.splat(0), c10 = f32x4.splat(0), c11 = f32x4.splat(0);
  let c20 = f32x4.splat(0), c21 = f32x4.splat(0), c30 = f32x4.splat(0), c31 = f32x4.splat(0);
  // One k per iteration on purpose: V8 schedules every load of a block before its arithmetic, so unrolling
  // keeps twice the loaded values live and spills accumulators (15 usable xmm registers).
  for (let k = 0; k < kc; k++) {
    const b0 = v128.load(pb);
    const b1 = v128.load(pb, 16);
    let a = v128.load32_splat(pa);
    c00 = f32x4.add(c00, f32x4.mul(a, b0));
    c01 = f32x4.add(c01, f32x4.mul(a, b1));
    a = v128.load32_splat(pa, 4);
    c10 = f32x4.add(c10, f32x4.mul(a, b0));
    c11 = f32x4.add(c11, f32x4.mul(a, b1));
    a = v128.load32_splat(pa, 8);
    c20 = f32x4.add(c20, f32x4.mul(a, b0));
    c21 = f32x4.add(c21, f32x4.mul(a, b1));
    a = v128.load32_splat(pa, 12);
    c30 = f32x4.add(c30, f32x4.mul(a, b0));
    c31 = f32x4.add(c31, f32x4.mul(a, b1));
    pa += 16;
    pb += 32;
  }
  const av = f32x4.splat(alpha);
  if (nv == 8) {
    put(c, c00, av, beta);
    put(c + 16, c01, av, beta);
    c += ldcB;
    put(c, c10, av, beta);
    put(c + 16, c11, av, beta);
    c += ldcB;
    put(c, c20, av, beta);
    put(c + 16, c21, av, beta);
    c += ldcB;
    put(c, c30, av, beta);
    put(c + 16, c31, av, beta);
  } else {
    v128.store(TILE, c00);
    v128.store(TILE, c01, 16);
    v128.store(TILE, c10, 32);
    v128.store(TILE, c11, 48);
    v128.store(TILE, c20, 64);
    v128.store(TILE, c21, 80);
    v128.store(TILE, c30, 96);
    v128.store(TILE, c31, 112);
    putTile(4, nv, 8, c, ldcB, alpha, beta);
  }
}

/** 1x32 tile over four consecutive B panels (psB bytes apart): C[1, nv] = alpha * a[kc] * B[kc, 32] (+ beta C). */
function kernel1x32(kc: i32, pa: usize, pb: usize, psB: usize, c: usize, alpha: f32, beta: f32, nv: i32): void {
  let c0 = f32x4.splat(0), c1 = f32x4.splat(0), c2 = f32x4.splat(0), c3 = f32x4.splat(0);
  let c4 = f32x4.splat(0), c5 = f32x4.splat(0), c6 = f32x4.splat(0), c7 = f32x4.splat(0);
  let p0 = pb;
  let p1 = pb + psB;
  let p2 = p1 + psB;
  let p3 = p2 + psB;
  for (let k = 0; k < kc; k++) {
    const a = v128.load32_splat(pa);
    c0 = f32x4.add(c0, f32x4.mul(a, v128.load(p0)));
    c1 = f32x4.add(c1, f32x4.mul(a, v128.load(p0, 16)));
    c2 = f32x4.add(c2, f32x4.mul(a, v128.load(p1)));
    c3 = f32x4.add(c3, f32x4.mul(a, v128.load(p1, 16)));
    c4 = f32x4.add(c4, f32x4.mul(a, v128.load(p2)));
    c5 = f32x4.add(c5, f32x4.mul(a, v128.load(p2, 16)));
    c6 = f32x4.add(c6, f32x4.mul(a, v128.load(p3)));
    c7 = f32x4.add(c7, f32x4.mul(a, v128.load(p3, 16)));
    pa += 4;
    p0 += 32;
    p1 += 32;
    p2 += 32;
    p3 += 32;
  }
  const av = f32x4.splat(alpha);
  if (nv == 32) {
    put(c, c0, av, beta);
    put(c + 16, c1, av, beta);
    put(c + 32, c2, av, beta);
    put(c + 48, c3, av, beta);
    put(c + 64, c4, av, beta);
    put(c + 80, c5, av, beta);
    put(c + 96, c6, av, beta);
    put(c + 112, c7, av, beta);
  } else {
    v128.store(TILE, c0);
    v128.store(TILE, c1, 16);
    v128.store(TILE, c2, 32);
    v128.store(TILE, c3, 48);
    v128.store(TILE, c4, 64);
    v128.store(TILE, c5, 80);
    v128.store(TILE, c6, 96);
    v128.store(TILE, c7, 112);
    putTile(1, nv, 32, c, 0, alpha, beta);
  }
}

/** 1x8 tile over one B panel, two interleaved k chains. */
function kernel1x8(kc: i32, pa: usize, pb: usize, c: usize, alpha: f32, beta: f32, nv: i32): void {
  let c0 = f32x4.splat(0), c1 = f32x4.splat(0), c2 = f32x4.splat(0), c3 = f32x4.splat(0);
  let k = 0;
  for (; k + 2 <= kc; k += 2) {
    let a = v128.load32_splat(pa);
    c0 = f32x4.add(c0, f32x4.mul(a, v128.load(pb)));
    c1 = f32x4.add(c1, f32x4.mul(a, v128.load(pb, 16)));
    a = v128.load32_splat(pa, 4);
    c2 = f32x4.add(c2, f32x4.mul(a, v128.load(pb, 32)));
    c3 = f32x4.add(c3, f32x4.mul(a, v128.load(pb, 48)));
    pa += 8;
    pb += 64;
  }
  if (k < kc) {
    const a = v128.load32_splat(pa);
    c0 = f32x4.add(c0, f32x4.mul(a, v128.load(pb)));
    c1 = f32x4.add(c1, f32x4.mul(a, v128.load(pb, 16)));
  }
  c0 = f32x4.add(c0, c2);
  c1 = f32x4.add(c1, c3);
  const av = f32x4.splat(alpha);
  if (nv == 8) {
    put(c, c0, av, beta);
    put(c + 16, c1, av, beta);
  } else {
    v128.store(TILE, c0);
    v128.store(TILE, c1, 16);
    putTile(1, nv, 8, c, 0, alpha, beta);
  }
}

/**
 * C[M, N] = alpha * op(A)[M, K] * Bp[K, N] + beta * C with op(B) already packed at Bp (panelStride floats
 * between panels). Blocks op(A) through PACK_A; beta applies to the first depth block only.
 */
function gemmPacked(M: i32, N: i32, K: i32, alpha: f32, A: usize, lda: i32, transA: i32,
  Bp: usize, panelStride: i32, beta: f32, C: usize, ldc: i32): void {
  const np = (N + 7) >> 3;
  let kcMax = K;
  let mcMax = M;
  if (<i64>M * <i64>K > <i64>PACK_A_FLOATS) {
    kcMax = min<i32>(K, KC);
    mcMax = min<i32>(M, (PACK_A_FLOATS / kcMax) & ~3);
  }
  const ldcB = f4(ldc);
  const psB = f4(panelStride);
  for (let pc = 0; pc < K; pc += kcMax) {
    const kc = min<i32>(kcMax, K - pc);
    const b: f32 = pc == 0 ? beta : 1;
    for (let ic = 0; ic < M; ic += mcMax) {
      const mc = min<i32>(mcMax, M - ic);
      packABlock(transA, transA != 0 ? A + f4(pc * lda + ic) : A + f4(ic * lda + pc), lda, mc, kc);
      const m4 = mc & ~3;
      const cBlock = C + <usize>ic * ldcB;
      if (m4 > 0) {
        for (let jp = 0; jp < np; jp++) {
          const bp = Bp + <usize>jp * psB + f4(pc * 8);
          const nv = min<i32>(8, N - jp * 8);
          for (let ir = 0; ir < m4; ir += 4) {
            kernel4x8(kc, PACK_A + f4(ir * kc), bp, cBlock + <usize>ir * ldcB + f4(jp * 8), ldcB, alpha, b, nv);
          }
        }
      }
      for (let r = m4; r < mc; r++) {
        const pa = PACK_A + f4(r * kc);
        const cRow = cBlock + <usize>r * ldcB;
        let jp = 0;
        for (; jp + 4 <= np; jp += 4) {
          kernel1x32(kc, pa, Bp + <usize>jp * psB + f4(pc * 8), psB, cRow + f4(jp * 8), alpha, b, min<i32>(32, N - jp * 8));
        }
        for (; jp < np; jp++) {
          kernel1x8(kc, pa, Bp + <usize>jp * psB + f4(pc * 8), cRow + f4(jp * 8), alpha, b, min<i32>(8, N - jp * 8));
        }
      }
    }
  }
}

/** C = beta * C over M x N (beta == 0 writes zeros without reading C). */
function scaleC(M: i32, N: i32, beta: f32, C: usize, ldc: i32): void {
  for (let i = 0; i < M; i++) {
    const row = C + f4(i * ldc);
    if (beta == 0) {
      memory.fill(row, 0, f4(N));
    } else if (beta != 1) {
      for (let j = 0; j < N; j++) store<f32>(row + f4(j), beta * load<f32>(row + f4(j)));
    }
  }
}

/**
 * C[M, N] = alpha * op(A)[M, K] * op(B)[K, N] + beta * C; row-major with leading dimensions, op transposes when
 * trans != 0 (A is [K, M] then, B is [N, K]). Cache-blocked, SIMD. beta == 0 never reads C.
 */
export function sgemm(transA: i32, transB: i32, M: i32, N: i32, K: i32, alpha: f32, A: usize, lda: i32,
  B: usize, ldb: i32, beta: f32, C: usize, ldc: i32): void {
  if (M <= 0 || N <= 0) return;
  if (K <= 0 || alpha == 0) {
    scaleC(M, N, beta, C, ldc);
    return;
  }
  for (let jc = 0; jc < N; jc += NC) {
    const nc = min<i32>(NC, N - jc);
    for (let pc = 0; pc < K; pc += KC) {
      const kc = min<i32>(KC, K - pc);
      packPanels(transB, B, ldb, pc, kc, jc, nc, PACK_B, kc * 8);
      const a = transA != 0 ? A + f4(pc * lda) : A + f4(pc);
      gemmPacked(M, nc, kc, alpha, a, lda, transA, PACK_B, kc * 8, pc == 0 ? beta : 1, C + f4(jc), ldc);
    }
  }
}

/** The test oracle for sgemm: the plain triple loop (float64 sums), same signature and beta rule. */
export function sgemmRef(transA: i32, transB: i32, M: i32, N: i32, K: i32, alpha: f32, A: usize, lda: i32,
  B: usize, ldb: i32, beta: f32, C: usize, ldc: i32): void {
  for (let i = 0; i < M; i++) {
    for (let j = 0; j < N; j++) {
      let s: f64 = 0;
      for (let k = 0; k < K; k++) {
        const a = load<f32>(A + f4(transA != 0 ? k * lda + i : i * lda + k));
        const b = load<f32>(B + f4(transB != 0 ? j * ldb + k : k * ldb + j));
        s += <f64>a * <f64>b;
      }
      const p = C + f4(i * ldc + j);
      let v = <f64>alpha * s;
      if (beta != 0) v += <f64>beta * <f64>load<f32>(p);
      store<f32>(p, <f32>v);
    }
  }
}

/** Column sums: dst[j] += sum over rows r of src[r*ld + j], j < cols. */
function colSumAdd(dst: usize, src: usize, rows: i32, cols: i32, ld: i32): void {
  const ldB = f4(ld);
  let j = 0;
  for (; j + 16 <= cols; j += 16) {
    let s0 = f32x4.splat(0), s1 = f32x4.splat(0), s2 = f32x4.splat(0), s3 = f32x4.splat(0);
    let p = src + f4(j);
    for (let r = 0; r < rows; r++) {
      s0 = f32x4.add(s0, v128.load(p));
      s1 = f32x4.add(s1, v128.load(p, 16));
      s2 = f32x4.add(s2, v128.load(p, 32));
      s3 = f32x4.add(s3, v128.load(p, 48));
      p += ldB;
    }
    const d = dst + f4(j);
    v128.store(d, f32x4.add(v128.load(d), s0));
    v128.store(d, f32x4.add(v128.load(d, 16), s1), 16);
    v128.store(d, f32x4.add(v128.load(d, 32), s2), 32);
    v128.store(d, f32x4.add(v128.load(d, 48), s3), 48);
  }
  for (; j + 4 <= cols; j += 4) {
    let s = f32x4.splat(0);
    let p = src + f4(j);
    for (let r = 0; r < rows; r++) {
      s = f32x4.add(s, v128.load(p));
      p += ldB;
    }
    const d = dst + f4(j);
    v128.store(d, f32x4.add(v128.load(d), s));
  }
  for (; j < cols; j++) {
    let s: f32 = 0;
    let p = src + f4(j);
    for (let r = 0; r < rows; r++) {
      s += load<f32>(p);
      p += ldB;
    }
    store<f32>(dst + f4(j), load<f32>(dst + f4(j)) + s);
  }
}

// ---------------------------------------------------------------------------------------------------------
// Gate loops, one batch row each. gi, gh: pre-activations without biases ([G*H] rows); bih, bhh: [G*H].

// @ts-ignore: decorator
@inline function pre(gi: usize, gh: usize, bi: usize, bh: usize): v128 {
  return f32x4.add(f32x4.add(v128.load(gi), v128.load(bi)), f32x4.add(v128.load(gh), v128.load(bh)));
}

// @ts-ignore: decorator
@inline function pre1(gi: usize, gh: usize, bi: usize, bh: usize): f32 {
  return (load<f32>(gi) + load<f32>(bi)) + (load<f32>(gh) + load<f32>(bh));
}

// rnn row: h[H] = act(gi + bih + gh + bhh).
function rnnRowForward(H: i32, relu: i32, gi: usize, gh: usize, bih: usize, bhh: usize, h: usize): void {
  let j = 0;
  for (; j + 4 <= H; j += 4) {
    const o = f4(j);
    const a = pre(gi + o, gh + o, bih + o, bhh + o);
    v128.store(h + o, relu != 0 ? f32x4.max(a, f32x4.splat(0)) : vtanh(a));
  }
  for (; j < H; j++) {
    const o = f4(j);
    const a = pre1(gi + o, gh + o, bih + o, bhh + o);
    store<f32>(h + o, relu != 0 ? max<f32>(a, 0) : tanh1(a)); // f32.max: NaN stays NaN, as in the vector loop
  }
}

// rnn row backward: da[H] = (dy + dh) * act'(h); dG row gets da.
function rnnRowBackward(H: i32, relu: i32, h: usize, dy: usize, dh: usize, dG: usize): void {
  let j = 0;
  for (; j + 4 <= H; j += 4) {
    const o = f4(j);
    const hv = v128.load(h + o);
    const d = f32x4.add(v128.load(dy + o), v128.load(dh + o));
    const da = relu != 0
      ? v128.and(d, f32x4.gt(hv, f32x4.splat(0)))
      : f32x4.mul(d, f32x4.sub(f32x4.splat(1), f32x4.mul(hv, hv)));
    v128.store(dG + o, da);
  }
  for (; j < H; j++) {
    const o = f4(j);
    const hv = load<f32>(h + o);
    const d = load<f32>(dy + o) + load<f32>(dh + o);
    store<f32>(dG + o, relu != 0 ? (hv > 0 ? d : 0) : d * (1 - hv * hv));
  }
}

// lstm row: gates i,f,g,o at offsets 0,H,2H,3H of gi/gh; cp: c_prev[H]. Writes g[4H] activated gates
// (may be gh itself: each element is read before it is written), c[H], h[H].
function lstmRowForward(H: i32, gi: usize, gh: usize, bih: usize, bhh: usize, cp: usize,
  g: usize, c: usize, h: usize): void {
  const Hb = f4(H);
  let j = 0;
  for (; j + 4 <= H; j += 4) {
    const o = f4(j);
    const vi = vsigmoid(pre(gi + o, gh + o, bih + o, bhh + o));
    const vf = vsigmoid(pre(gi + Hb + o, gh + Hb + o, bih + Hb + o, bhh + Hb + o));
    const vg = vtanh(pre(gi + 2 * Hb + o, gh + 2 * Hb + o, bih + 2 * Hb + o, bhh + 2 * Hb + o));
    const vo = vsigmoid(pre(gi + 3 * Hb + o, gh + 3 * Hb + o, bih + 3 * Hb + o, bhh + 3 * Hb + o));
    const vc = f32x4.add(f32x4.mul(vf, v128.load(cp + o)), f32x4.mul(vi, vg));
    v128.store(g + o, vi);
    v128.store(g + Hb + o, vf);
    v128.store(g + 2 * Hb + o, vg);
    v128.store(g + 3 * Hb + o, vo);
    v128.store(c + o, vc);
    v128.store(h + o, f32x4.mul(vo, vtanh(vc)));
  }
  for (; j < H; j++) {
    const o = f4(j);
    const si = sigmoid1(pre1(gi + o, gh + o, bih + o, bhh + o));
    const sf = sigmoid1(pre1(gi + Hb + o, gh + Hb + o, bih + Hb + o, bhh + Hb + o));
    const sg = tanh1(pre1(gi + 2 * Hb + o, gh + 2 * Hb + o, bih + 2 * Hb + o, bhh + 2 * Hb + o));
    const so = sigmoid1(pre1(gi + 3 * Hb + o, gh + 3 * Hb + o, bih + 3 * Hb + o, bhh + 3 * Hb + o));
    const sc = sf * load<f32>(cp + o) + si * sg;
    store<f32>(g + o, si);
    store<f32>(g + Hb + o, sf);
    store<f32>(g + 2 * Hb + o, sg);
    store<f32>(g + 3 * Hb + o, so);
    store<f32>(c + o, sc);
    store<f32>(h + o, so * tanh1(sc));
  }
}

// lstm row backward: g[4H] activated gates, c[H] = c_t, cp[H] = c_prev, dy[H]; dh[H] in: dh_next;
// dc[H] in: dc_next, out: dc_prev. Writes dG[4H] pre-activation gradients.
function lstmRowBackward(H: i32, g: usize, c: usize, cp: usize, dy: usize, dh: usize, dc: usize, dG: usize): void {
  const Hb = f4(H);
  const one = f32x4.splat(1);
  let j = 0;
  for (; j + 4 <= H; j += 4) {
    const o = f4(j);
    const vi = v128.load(g + o);
    const vf = v128.load(g + Hb + o);
    const vg = v128.load(g + 2 * Hb + o);
    const vo = v128.load(g + 3 * Hb + o);
    const tc = vtanh(v128.load(c + o));
    const d = f32x4.add(v128.load(dy + o), v128.load(dh + o));
    const dcv = f32x4.add(v128.load(dc + o), f32x4.mul(f32x4.mul(d, vo), f32x4.sub(one, f32x4.mul(tc, tc))));
    const di = f32x4.mul(dcv, vg);
    const df = f32x4.mul(dcv, v128.load(cp + o));
    const dg = f32x4.mul(dcv, vi);
    const dO = f32x4.mul(d, tc);
    v128.store(dG + o, f32x4.mul(di, f32x4.mul(vi, f32x4.sub(one, vi))));
    v128.store(dG + Hb + o, f32x4.mul(df, f32x4.mul(vf, f32x4.sub(one, vf))));
    v128.store(dG + 2 * Hb + o, f32x4.mul(dg, f32x4.sub(one, f32x4.mul(vg, vg))));
    v128.store(dG + 3 * Hb + o, f32x4.mul(dO, f32x4.mul(vo, f32x4.sub(one, vo))));
    v128.store(dc + o, f32x4.mul(dcv, vf));
  }
  for (; j < H; j++) {
    const o = f4(j);
    const si = load<f32>(g + o);
    const sf = load<f32>(g + Hb + o);
    const sg = load<f32>(g + 2 * Hb + o);
    const so = load<f32>(g + 3 * Hb + o);
    const tc = tanh1(load<f32>(c + o));
    const d = load<f32>(dy + o) + load<f32>(dh + o);
    const dcs = load<f32>(dc + o) + d * so * (1 - tc * tc);
    store<f32>(dG + o, dcs * sg * (si * (1 - si)));
    store<f32>(dG + Hb + o, dcs * load<f32>(cp + o) * (sf * (1 - sf)));
    store<f32>(dG + 2 * Hb + o, dcs * si * (1 - sg * sg));
    store<f32>(dG + 3 * Hb + o, d * tc * (so * (1 - so)));
    store<f32>(dc + o, dcs * sf);
  }
}

// gru row: gates r,z,n at offsets 0,H,2H; hp: h_prev[H]. Writes g[3H] activated r,z,n (may be gh itself),
// ghn[H] = gh_n + bhh_n (may be gi's n block itself), h[H] = n + z (h_prev - n).
function gruRowForward(H: i32, gi: usize, gh: usize, bih: usize, bhh: usize, hp: usize,
  g: usize, ghn: usize, h: usize): void {
  const Hb = f4(H);
  const H2 = Hb << 1;
  let j = 0;
  for (; j + 4 <= H; j += 4) {
    const o = f4(j);
    const vr = vsigmoid(pre(gi + o, gh + o, bih + o, bhh + o));
    const vz = vsigmoid(pre(gi + Hb + o, gh + Hb + o, bih + Hb + o, bhh + Hb + o));
    const vgh = f32x4.add(v128.load(gh + H2 + o), v128.load(bhh + H2 + o));
    const vgi = f32x4.add(v128.load(gi + H2 + o), v128.load(bih + H2 + o));
    const vn = vtanh(f32x4.add(vgi, f32x4.mul(vr, vgh)));
    const vh = f32x4.add(vn, f32x4.mul(vz, f32x4.sub(v128.load(hp + o), vn)));
    v128.store(g + o, vr);
    v128.store(g + Hb + o, vz);
    v128.store(g + H2 + o, vn);
    v128.store(ghn + o, vgh);
    v128.store(h + o, vh);
  }
  for (; j < H; j++) {
    const o = f4(j);
    const sr = sigmoid1(pre1(gi + o, gh + o, bih + o, bhh + o));
    const sz = sigmoid1(pre1(gi + Hb + o, gh + Hb + o, bih + Hb + o, bhh + Hb + o));
    const sgh = load<f32>(gh + H2 + o) + load<f32>(bhh + H2 + o);
    const sgi = load<f32>(gi + H2 + o) + load<f32>(bih + H2 + o);
    const sn = tanh1(sgi + sr * sgh);
    const sh = sn + sz * (load<f32>(hp + o) - sn);
    store<f32>(g + o, sr);
    store<f32>(g + Hb + o, sz);
    store<f32>(g + H2 + o, sn);
    store<f32>(ghn + o, sgh);
    store<f32>(h + o, sh);
  }
}

// gru row backward: g[3H] = r,z,n; ghn[H]; hp[H] = h_prev; dy[H]; dh[H] in: dh_next, out: the direct term dh*z.
// Writes dG[3H] = [da_r, da_z, da_n] (for W_ih), dgh[3H] = [da_r, da_z, da_n*r] (for this step's W_hh
// product) and dghn[H] = da_n*r (kept for the W_hh gradient GEMM).
function gruRowBackward(H: i32, g: usize, ghn: usize, hp: usize, dy: usize, dh: usize,
  dG: usize, dgh: usize, dghn: usize): void {
  const Hb = f4(H);
  const H2 = Hb << 1;
  const one = f32x4.splat(1);
  let j = 0;
  for (; j + 4 <= H; j += 4) {
    const o = f4(j);
    const vr = v128.load(g + o);
    const vz = v128.load(g + Hb + o);
    const vn = v128.load(g + H2 + o);
    const d = f32x4.add(v128.load(dy + o), v128.load(dh + o));
    const dn = f32x4.mul(d, f32x4.sub(one, vz));
    const dz = f32x4.mul(d, f32x4.sub(v128.load(hp + o), vn));
    const dan = f32x4.mul(dn, f32x4.sub(one, f32x4.mul(vn, vn)));
    const dr = f32x4.mul(dan, v128.load(ghn + o));
    const dar = f32x4.mul(dr, f32x4.mul(vr, f32x4.sub(one, vr)));
    const daz = f32x4.mul(dz, f32x4.mul(vz, f32x4.sub(one, vz)));
    const danr = f32x4.mul(dan, vr);
    v128.store(dG + o, dar);
    v128.store(dG + Hb + o, daz);
    v128.store(dG + H2 + o, dan);
    v128.store(dgh + o, dar);
    v128.store(dgh + Hb + o, daz);
    v128.store(dgh + H2 + o, danr);
    v128.store(dghn + o, danr);
    v128.store(dh + o, f32x4.mul(d, vz));
  }
  for (; j < H; j++) {
    const o = f4(j);
    const sr = load<f32>(g + o);
    const sz = load<f32>(g + Hb + o);
    const sn = load<f32>(g + H2 + o);
    const d = load<f32>(dy + o) + load<f32>(dh + o);
    const dn = d * (1 - sz);
    const dz = d * (load<f32>(hp + o) - sn);
    const dan = dn * (1 - sn * sn);
    const dr = dan * load<f32>(ghn + o);
    const dar = dr * (sr * (1 - sr));
    const daz = dz * (sz * (1 - sz));
    const danr = dan * sr;
    store<f32>(dG + o, dar);
    store<f32>(dG + Hb + o, daz);
    store<f32>(dG + H2 + o, dan);
    store<f32>(dgh + o, dar);
    store<f32>(dgh + Hb + o, daz);
    store<f32>(dgh + H2 + o, danr);
    store<f32>(dghn + o, danr);
    store<f32>(dh + o, d * sz);
  }
}

// ---------------------------------------------------------------------------------------------------------
// Cell forward / backward over a whole sequence. Scratch layouts (floats, each region rounded up to 16):
//   forward:  [H, pad8(G*H)] packed W_hhᵀ | [T, B, G*H] gi = x W_ihᵀ | [B, G*H] gh = h_prev W_hhᵀ
//   backward: [G*H, pad8(H)] packed W_hh  | [T, B, G*H] dG (pre-activation grads, = dgi)
//             gru only: [T, B, H] dgh_n | [B, G*H] this step's dgh

/** Floats of scratch cellForward needs. */
export function forwardScratchFloats(kind: i32, T: i32, B: i32, I: i32, H: i32): i32 {
  const GH = gatesOf(kind) * H;
  return a16(H * pad8(GH)) + a16(T * B * GH) + a16(B * GH);
}

/** Floats of scratch cellBackward needs. */
export function backwardScratchFloats(kind: i32, T: i32, B: i32, I: i32, H: i32): i32 {
  const GH = gatesOf(kind) * H;
  let n = a16(GH * pad8(H)) + a16(T * B * GH);
  if (kind == 3) n += a16(T * B * H) + a16(B * GH);
  return n;
}

/**
 * x [T,B,I], h0 [B,H], c0 [B,H] (lstm, else 0), wih [G*H,I], whh [G*H,H], bih bhh [G*H] -> y [T,B,H], hT [B,H],
 * cT [B,H] (lstm); ws (workspace for backward, 0 for inference): lstm [T,B,4H] gates + [T,B,H] c_t,
 * gru [T,B,3H] r,z,n + [T,B,H] ghn. kind: 0 rnn_tanh, 1 rnn_relu, 2 lstm, 3 gru. reverse: process T-1 .. 0.
 */
export function cellForward(kind: i32, T: i32, B: i32, I: i32, H: i32, reverse: i32,
  x: usize, h0: usize, c0: usize, wih: usize, whh: usize, bih: usize, bhh: usize,
  y: usize, hT: usize, cT: usize, ws: usize, scratch: usize): void {
  const GH = gatesOf(kind) * H;
  const BH = B * H;
  const BGH = B * GH;
  const whhP = scratch;
  const gi = whhP + f4(a16(H * pad8(GH)));
  const gh = gi + f4(a16(T * BGH));
  const wsS = ws + f4(T * BGH); // lstm: c_t; gru: ghn
  const Hb = f4(H);
  const GHb = f4(GH);

  packPanels(1, whh, H, 0, H, 0, GH, whhP, H * 8);
  sgemm(0, 1, T * B, GH, I, 1, x, I, wih, I, 0, gi, GH);

  for (let s = 0; s < T; s++) {
    const t = reverse != 0 ? T - 1 - s : s;
    const tp = reverse != 0 ? t + 1 : t - 1;
    const hp = s == 0 ? h0 : y + f4(tp * BH);
    gemmPacked(B, GH, H, 1, hp, H, 0, whhP, H * 8, 0, gh, GH);
    for (let b = 0; b < B; b++) {
      const giRow = gi + f4(t * BGH) + <usize>b * GHb;
      const ghRow = gh + <usize>b * GHb;
      const hRow = y + f4(t * BH) + <usize>b * Hb;
      if (kind <= 1) {
        rnnRowForward(H, kind, giRow, ghRow, bih, bhh, hRow);
      } else if (kind == 2) {
        const gOut = ws != 0 ? ws + f4(t * BGH) + <usize>b * GHb : ghRow;
        const cp = s == 0 ? c0 : ws != 0 ? wsS + f4(tp * BH) : cT;
        const cOut = ws != 0 ? wsS + f4(t * BH) : cT;
        lstmRowForward(H, giRow, ghRow, bih, bhh, cp + <usize>b * Hb, gOut, cOut + <usize>b * Hb, hRow);
      } else {
        const gOut = ws != 0 ? ws + f4(t * BGH) + <usize>b * GHb : ghRow;
        const nOut = ws != 0 ? wsS + f4(t * BH) + <usize>b * Hb : giRow + 2 * Hb;
        gruRowForward(H, giRow, ghRow, bih, bhh, hp + <usize>b * Hb, gOut, nOut, hRow);
      }
    }
  }
  const tLast = reverse != 0 ? 0 : T - 1;
  memory.copy(hT, y + f4(tLast * BH), f4(BH));
  if (kind == 2 && ws != 0) memory.copy(cT, wsS + f4(tLast * BH), f4(BH));
}

// dW_hh[M rows, H] += Σ_t dgh[t]ᵀ Hprev[t], where dgh rows (t, b) are A + (t*B + b)*lda and Hprev[t] is h0 at the
// first processed position, else y at the previous one: two GEMMs over contiguous runs of y.
function addStateGrad(M: i32, A: usize, lda: i32, C: usize, T: i32, B: i32, H: i32, reverse: i32,
  h0: usize, y: usize): void {
  const first = reverse != 0 ? T - 1 : 0;
  sgemm(1, 0, M, H, B, 1, A + f4(first * B * lda), lda, h0, H, 1, C, H);
  if (T > 1) {
    if (reverse == 0) sgemm(1, 0, M, H, (T - 1) * B, 1, A + f4(B * lda), lda, y, H, 1, C, H);
    else sgemm(1, 0, M, H, (T - 1) * B, 1, A, lda, y + f4(B * H), H, 1, C, H);
  }
}

/**
 * BPTT for cellForward (same sizes and inputs, plus y [T,B,H], ws, dy [T,B,H], dhT [B,H], dcT [B,H] lstm).
 * Accumulates (+=) dx [T,B,I], dwih [G*H,I], dwhh [G*H,H], dbih, dbhh [G*H]; overwrites dh0, dc0 [B,H].
 */
export function cellBackward(kind: i32, T: i32, B: i32, I: i32, H: i32, reverse: i32,
  x: usize, h0: usize, c0: usize, wih: usize, whh: usize, bih: usize, bhh: usize,
  y: usize, ws: usize, dy: usize, dhT: usize, dcT: usize,
  dx: usize, dh0: usize, dc0: usize, dwih: usize, dwhh: usize, dbih: usize, dbhh: usize, scratch: usize): void {
  const GH = gatesOf(kind) * H;
  const BH = B * H;
  const BGH = B * GH;
  const whhP = scratch;
  const dG = whhP + f4(a16(GH * pad8(H)));
  const dghn = dG + f4(a16(T * BGH));
  const dgh = dghn + f4(a16(T * BH));
  const wsS = ws + f4(T * BGH);
  const Hb = f4(H);
  const GHb = f4(GH);

  packPanels(0, whh, H, 0, GH, 0, H, whhP, GH * 8);
  memory.copy(dh0, dhT, f4(BH)); // dh0 carries dh_next through the loop
  if (kind == 2) memory.copy(dc0, dcT, f4(BH)); // and dc0 carries dc_next

  for (let s = T - 1; s >= 0; s--) {
    const t = reverse != 0 ? T - 1 - s : s;
    const tp = reverse != 0 ? t + 1 : t - 1;
    const dGt = dG + f4(t * BGH);
    for (let b = 0; b < B; b++) {
      const dyRow = dy + f4(t * BH) + <usize>b * Hb;
      const dhRow = dh0 + <usize>b * Hb;
      const dGRow = dGt + <usize>b * GHb;
      if (kind <= 1) {
        rnnRowBackward(H, kind, y + f4(t * BH) + <usize>b * Hb, dyRow, dhRow, dGRow);
      } else if (kind == 2) {
        const cp = s == 0 ? c0 : wsS + f4(tp * BH);
        lstmRowBackward(H, ws + f4(t * BGH) + <usize>b * GHb, wsS + f4(t * BH) + <usize>b * Hb,
          cp + <usize>b * Hb, dyRow, dhRow, dc0 + <usize>b * Hb, dGRow);
      } else {
        const hp = s == 0 ? h0 : y + f4(tp * BH);
        gruRowBackward(H, ws + f4(t * BGH) + <usize>b * GHb, wsS + f4(t * BH) + <usize>b * Hb,
          hp + <usize>b * Hb, dyRow, dhRow, dGRow, dgh + <usize>b * GHb, dghn + f4(t * BH) + <usize>b * Hb);
      }
    }
    // dh_prev = dgh W_hh (+ the gru direct term already in dh0)
    if (kind == 3) gemmPacked(B, H, GH, 1, dgh, GH, 0, whhP, GH * 8, 1, dh0, H);
    else gemmPacked(B, H, GH, 1, dGt, GH, 0, whhP, GH * 8, 0, dh0, H);
  }

  const TB = T * B;
  sgemm(0, 0, TB, I, GH, 1, dG, GH, wih, I, 1, dx, I);
  sgemm(1, 0, GH, I, TB, 1, dG, GH, x, I, 1, dwih, I);
  colSumAdd(dbih, dG, TB, GH, GH);
  if (kind == 3) {
    addStateGrad(2 * H, dG, GH, dwhh, T, B, H, reverse, h0, y);
    addStateGrad(H, dghn, H, dwhh + f4(2 * H * H), T, B, H, reverse, h0, y);
    colSumAdd(dbhh, dG, TB, 2 * H, GH);
    colSumAdd(dbhh + 2 * Hb, dghn, TB, H, H);
  } else {
    addStateGrad(GH, dG, GH, dwhh, T, B, H, reverse, h0, y);
    colSumAdd(dbhh, dG, TB, GH, GH);
  }
}

// ---------------------------------------------------------------------------------------------------------
// Dense operations for training (native/KERNELS.md, "Dense operations"). N rows, I inputs, O outputs,
// C classes, V vocabulary, D embedding width. Ids and targets are float32 holding exact integers.

/** An id usable as a row index: an integer in [0, limit). NaN and fractions are not. */
// @ts-ignore: decorator
@inline function validId(f: f32, limit: i32): bool {
  return f >= 0 && f < <f32>limit && <f32>(<i32>f) == f;
}

/** x [N,I], w [O,I], b [O] or 0 -> y [N,O] = x wᵀ + b. */
export function linearForward(N: i32, I: i32, O: i32, x: usize, w: usize, b: usize, y: usize): void {
  for (let n = 0; n < N; n++) {
    const row = y + f4(n * O);
    if (b != 0) memory.copy(row, b, f4(O));
    else memory.fill(row, 0, f4(O));
  }
  sgemm(0, 1, N, O, I, 1, x, I, w, I, 1, y, O);
}

/** x [N,I], w [O,I], dy [N,O] -> dx [N,I] = dy w (overwritten; skipped when 0), dw [O,I] += dyᵀ x, db [O] += Σ dy. */
export function linearBackward(N: i32, I: i32, O: i32, x: usize, w: usize, dy: usize, dx: usize, dw: usize, db: usize): void {
  if (dx != 0) sgemm(0, 0, N, I, O, 1, dy, O, w, I, 0, dx, I);
  sgemm(1, 0, O, I, N, 1, dy, O, x, I, 1, dw, I);
  if (db != 0) colSumAdd(db, dy, N, O, O);
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
export function softmaxCrossEntropy(N: i32, C: i32, logits: usize, targets: usize, dlogits: usize, scale: f32): f64 {
  let loss: f64 = 0;
  for (let n = 0; n < N; n++) {
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
      const e = vexp(f32x4.sub(v128.load(z + f4(c)), vmx));
      if (dz != 0) v128.store(dz + f4(c), e);
      acc = sumLanes64(acc, e);
    }
    for (; c < C; c++) {
      const e = f32x4.extract_lane(vexp(f32x4.splat(load<f32>(z + f4(c)) - mx)), 0);
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
export function adamStep(n: i32, p: usize, g: usize, m: usize, v: usize, lr: f64, beta1: f64, beta2: f64, eps: f64,
  weightDecay: f64, decoupled: i32, step: i32): void {
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
  let i = 0;
  for (; i + 4 <= n; i += 4) {
    const o = f4(i);
    let pv = v128.load(p + o);
    let gv = v128.load(g + o);
    if (decoupled != 0) pv = f32x4.mul(pv, decay);
    else if (coupled) gv = f32x4.add(gv, f32x4.mul(wd, pv));
    const mv = f32x4.add(f32x4.mul(v128.load(m + o), b1), f32x4.mul(c1, gv));
    const vv = f32x4.add(f32x4.mul(v128.load(v + o), b2), f32x4.mul(f32x4.mul(c2, gv), gv));
    const denom = f32x4.add(f32x4.div(f32x4.sqrt(vv), bc2Sqrt), ve);
    v128.store(p + o, f32x4.sub(pv, f32x4.mul(stepSize, f32x4.div(mv, denom))));
    v128.store(m + o, mv);
    v128.store(v + o, vv);
  }
  // the same operations on lane 0 for the tail
  for (; i < n; i++) {
    const o = f4(i);
    let pv = f32x4.splat(load<f32>(p + o));
    let gv = f32x4.splat(load<f32>(g + o));
    if (decoupled != 0) pv = f32x4.mul(pv, decay);
    else if (coupled) gv = f32x4.add(gv, f32x4.mul(wd, pv));
    const mv = f32x4.add(f32x4.mul(f32x4.splat(load<f32>(m + o)), b1), f32x4.mul(c1, gv));
    const vv = f32x4.add(f32x4.mul(f32x4.splat(load<f32>(v + o)), b2), f32x4.mul(f32x4.mul(c2, gv), gv));
    const denom = f32x4.add(f32x4.div(f32x4.sqrt(vv), bc2Sqrt), ve);
    store<f32>(p + o, f32x4.extract_lane(f32x4.sub(pv, f32x4.mul(stepSize, f32x4.div(mv, denom))), 0));
    store<f32>(m + o, f32x4.extract_lane(mv, 0));
    store<f32>(v + o, f32x4.extract_lane(vv, 0));
  }
}

/** One SGD step (PyTorch's: weight decay, momentum buffer buf, Nesterov) over n parameters. */
export function sgdStep(n: i32, p: usize, g: usize, buf: usize, lr: f64, momentum: f64, weightDecay: f64,
  nesterov: i32, first: i32): void {
  const wd = <f32>weightDecay;
  const mom = <f32>momentum;
  const step = <f32>(-lr);
  for (let i = 0; i < n; i++) {
    const o = f4(i);
    const pi = load<f32>(p + o);
    let gi = load<f32>(g + o);
    if (weightDecay != 0) gi = gi + wd * pi;
    if (momentum != 0) {
      const b = first != 0 ? gi : load<f32>(buf + o) * mom + gi;
      store<f32>(buf + o, b);
      gi = nesterov != 0 ? gi + mom * b : b;
    }
    store<f32>(p + o, pi + step * gi);
  }
}

/** Σ x[i]² over n floats, in float64. */
export function sumSquares(n: i32, x: usize): f64 {
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

/** x[i] *= alpha over n floats. */
export function scale(n: i32, x: usize, alpha: f32): void {
  const va = f32x4.splat(alpha);
  let i = 0;
  for (; i + 4 <= n; i += 4) v128.store(x + f4(i), f32x4.mul(v128.load(x + f4(i)), va));
  for (; i < n; i++) store<f32>(x + f4(i), load<f32>(x + f4(i)) * alpha);
}
