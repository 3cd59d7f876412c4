// GEMM and packing (native/isa_impl.h): sgemm on the calling thread, the packed-panel product of the backward
// step (gemmPacked) and the register tiles the cell forward builds its products from (kernels.ts).
//
// op(B) is packed into panels of NR = 16 columns: panel j holds rows k of 16 floats, k-major, zero-padded past
// N; panel j starts panelStride floats after panel j-1. op(A) is packed per block into packA (the thread's):
// groups of six rows ([kc][6]) for the 6x8 tile, then 2-row panels (k-major, 2 floats per k), then a remaining
// odd row on its own. Tiles: 6x8 (half a panel, six rows), 2x16, 1x32 (two panels, one row) and 1x16; why
// these shapes: native/KERNELS.md, "WASM measurements".
import { f4, madd } from './vecmath';

// Each thread's packing area (wasm globals are per instance, so per thread), given by JavaScript (setThread in
// index.ts) from its allocator: PACK_A_FLOATS of packed op(A), KC x NC of packed op(B), a tile.
export const KC: i32 = 256; // depth of a packed block
const NC: i32 = 1024; // columns of op(B) packed at once by sgemm
export const PACK_A_FLOATS: i32 = 32768; // 128 KiB of packed op(A): at most 128 rows x 256 deep, stays in L2
export const PACK_B_FLOATS: i32 = KC * NC; // 1 MiB of packed op(B)
const TILE_FLOATS: i32 = 64; // one 2x16, 1x32 or 6x8 tile for partial write-back
export const L1_A_FLOATS: i32 = 4096; // 16 KiB: packed A a small-M product keeps in L1 (gemmPacked)

export let packA: usize = 0;
export let packB: usize = 0;
let tile: usize = 0;

/** Bytes of one thread's packing area. */
export function packingAreaBytes(): i32 {
  return (PACK_A_FLOATS + PACK_B_FLOATS + TILE_FLOATS) << 2;
}

/** Makes the packingAreaBytes at ctx (64-byte aligned) this thread's packing area. */
export function setPackingArea(ctx: usize): void {
  packA = ctx;
  packB = ctx + f4(PACK_A_FLOATS);
  tile = packB + f4(PACK_B_FLOATS);
}

/** Columns of a packed panel (and hidden units of a chunk in the cell kernels). */
export const NR: i32 = 16;

/** Floats rounded up to whole panels. */
// @ts-ignore: decorator
@inline export function pad16(n: i32): i32 {
  return (n + 15) & ~15;
}

/** Packs op(B)[k0 .. k0+kc, n0 .. n0+nc] into panels at dst (op(B)[k][n] = transB ? B[n*ldb + k] : B[k*ldb + n]). */
export function packPanels(transB: i32, B: usize, ldb: i32, k0: i32, kc: i32, n0: i32, nc: i32, dst: usize, panelStride: i32): void {
  const np = (nc + NR - 1) / NR;
  const ldbB = f4(ldb);
  for (let jp = 0; jp < np; jp++) {
    const col0 = n0 + jp * NR;
    const nv = min<i32>(NR, nc - jp * NR);
    const d = dst + f4(jp * panelStride);
    if (transB == 0) {
      const src = B + f4(k0 * ldb + col0);
      if (nv == NR) {
        for (let k = 0; k < kc; k++) {
          const s = src + <usize>k * ldbB;
          const o = d + f4(k * NR);
          v128.store(o, v128.load(s));
          v128.store(o, v128.load(s, 16), 16);
          v128.store(o, v128.load(s, 32), 32);
          v128.store(o, v128.load(s, 48), 48);
        }
      } else {
        for (let k = 0; k < kc; k++) {
          const s = src + <usize>k * ldbB;
          for (let c = 0; c < NR; c++) store<f32>(d + f4(k * NR + c), c < nv ? load<f32>(s + f4(c)) : 0);
        }
      }
    } else {
      const src = B + f4(col0 * ldb + k0); // row c of src is column col0+c of op(B)
      let k = 0;
      if (nv == NR) {
        for (; k + 4 <= kc; k += 4) {
          for (let q = 0; q < 4; q++) {
            const s = src + <usize>(q * 4) * ldbB + f4(k);
            const a0 = v128.load(s);
            const a1 = v128.load(s + ldbB);
            const a2 = v128.load(s + 2 * ldbB);
            const a3 = v128.load(s + 3 * ldbB);
            const t0 = f32x4.shuffle(a0, a1, 0, 4, 1, 5);
            const t1 = f32x4.shuffle(a2, a3, 0, 4, 1, 5);
            const t2 = f32x4.shuffle(a0, a1, 2, 6, 3, 7);
            const t3 = f32x4.shuffle(a2, a3, 2, 6, 3, 7);
            const o = d + f4(k * NR + q * 4);
            v128.store(o, f32x4.shuffle(t0, t1, 0, 1, 4, 5));
            v128.store(o, f32x4.shuffle(t0, t1, 2, 3, 6, 7), 64);
            v128.store(o, f32x4.shuffle(t2, t3, 0, 1, 4, 5), 128);
            v128.store(o, f32x4.shuffle(t2, t3, 2, 3, 6, 7), 192);
          }
        }
      }
      for (; k < kc; k++) {
        for (let c = 0; c < NR; c++) {
          store<f32>(d + f4(k * NR + c), c < nv ? load<f32>(src + <usize>c * ldbB + f4(k)) : 0);
        }
      }
    }
  }
}

/**
 * Packs an mc x kc block of op(A) (A already offset to the block's corner) into dst (packA unless given): rows
 * in pairs (k-major, [kc][2]) then an odd row; six != 0 packs groups of six rows ([kc][6], for tile6x8) first.
 * The group starting at row r is at r * kc floats either way.
 */
export function packABlock(transA: i32, A: usize, lda: i32, mc: i32, kc: i32, dst: usize = 0, six: i32 = 0): void {
  const base = dst != 0 ? dst : packA;
  const ldaB = f4(lda);
  const m6 = six != 0 ? mc - mc % 6 : 0;
  for (let r = 0; r < m6; r += 6) {
    const d = base + f4(r * kc);
    if (transA == 0) {
      for (let i = 0; i < 6; i++) {
        const src = A + <usize>(r + i) * ldaB;
        for (let k = 0; k < kc; k++) store<f32>(d + f4(k * 6 + i), load<f32>(src + f4(k)));
      }
    } else {
      for (let k = 0; k < kc; k++) {
        const src = A + <usize>k * ldaB + f4(r);
        const p = d + f4(k * 6);
        store<u64>(p, load<u64>(src));
        store<u64>(p, load<u64>(src, 8), 8);
        store<u64>(p, load<u64>(src, 16), 16);
      }
    }
  }
  const m2 = m6 + ((mc - m6) & ~1);
  for (let r = m6; r < m2; r += 2) {
    const d = base + f4(r * kc);
    if (transA == 0) {
      const s0 = A + <usize>r * ldaB;
      const s1 = s0 + ldaB;
      let k = 0;
      for (; k + 4 <= kc; k += 4) {
        const o = f4(k);
        const a0 = v128.load(s0 + o);
        const a1 = v128.load(s1 + o);
        const p = d + f4(k * 2);
        v128.store(p, f32x4.shuffle(a0, a1, 0, 4, 1, 5));
        v128.store(p, f32x4.shuffle(a0, a1, 2, 6, 3, 7), 16);
      }
      for (; k < kc; k++) {
        const o = f4(k);
        const p = d + f4(k * 2);
        store<f32>(p, load<f32>(s0 + o));
        store<f32>(p, load<f32>(s1 + o), 4);
      }
    } else {
      for (let k = 0; k < kc; k++) store<u64>(d + f4(k * 2), load<u64>(A + <usize>k * ldaB + f4(r)));
    }
  }
  if (m2 < mc) {
    const d = base + f4(m2 * kc);
    if (transA == 0) {
      memory.copy(d, A + <usize>m2 * ldaB, f4(kc));
    } else {
      for (let k = 0; k < kc; k++) store<f32>(d + f4(k), load<f32>(A + <usize>k * ldaB + f4(m2)));
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

/**
 * C[rows, nv] = alpha * tile (+ beta C) from the thread's tile area (rows of cols floats, cols a multiple of 4):
 * whole vectors when every column is valid (nv == cols), else scalar. ldcB: C's row stride in bytes.
 */
function putTile(rows: i32, cols: i32, nv: i32, c: usize, ldcB: usize, alpha: f32, beta: f32): void {
  if (nv == cols) {
    const av = f32x4.splat(alpha);
    const rowB = f4(cols);
    for (let r = 0; r < rows; r++) {
      const t = tile + <usize>r * rowB;
      for (let o: usize = 0; o < rowB; o += 16) put(c + o, v128.load(t + o), av, beta);
      c += ldcB;
    }
    return;
  }
  for (let r = 0; r < rows; r++) {
    for (let j = 0; j < nv; j++) {
      const p = c + <usize>r * ldcB + f4(j);
      let v = alpha * load<f32>(tile + f4(r * cols + j));
      if (beta != 0) v += beta * load<f32>(p);
      store<f32>(p, v);
    }
  }
}

/** Sixteen zero floats: the bias a tile starts from when it computes A * B alone (static data starts zeroed). */
const ZERO16: usize = memory.data(64, 16);

// The tiles of sgemm and gemmPacked: a register tile (below) from zero into the thread's tile area, then the
// alpha / beta epilogue (the same bits as a loop of its own: 0 + a*b is a*b exactly). pa, pb packed; nv valid
// columns; ldcB in bytes.

/** C[2, nv] = alpha * Apanel[2, kc] * Bpanel[kc, 16] (+ beta C). */
function kernel2x16(kc: i32, pa: usize, pb: usize, c: usize, ldcB: usize, alpha: f32, beta: f32, nv: i32): void {
  tile2x16(kc, pa, pb, tile, 64, ZERO16);
  putTile(2, 16, nv, c, ldcB, alpha, beta);
}

/** Over half of a 16-column panel (pb at the half): C[6, nv] = alpha * Apanel[6, kc] * Bpanel[kc, 8] (+ beta C). */
function kernel6x8(kc: i32, pa: usize, pb: usize, c: usize, ldcB: usize, alpha: f32, beta: f32, nv: i32): void {
  tile6x8(kc, pa, pb, tile, 32, ZERO16);
  putTile(6, 8, nv, c, ldcB, alpha, beta);
}

/** Over two consecutive B panels (psB bytes apart): C[1, nv] = alpha * a[kc] * B[kc, 32] (+ beta C). */
function kernel1x32(kc: i32, pa: usize, pb: usize, psB: usize, c: usize, alpha: f32, beta: f32, nv: i32): void {
  tile1x32(kc, pa, pb, psB, tile, tile + 64, ZERO16, ZERO16);
  putTile(1, 32, nv, c, 0, alpha, beta);
}

/** 1x16 tile over one B panel, two interleaved k chains. */
function kernel1x16(kc: i32, pa: usize, pb: usize, c: usize, alpha: f32, beta: f32, nv: i32): void {
  let c0 = f32x4.splat(0), c1 = f32x4.splat(0), c2 = f32x4.splat(0), c3 = f32x4.splat(0);
  let c4 = f32x4.splat(0), c5 = f32x4.splat(0), c6 = f32x4.splat(0), c7 = f32x4.splat(0);
  let k = 0;
  for (; k + 2 <= kc; k += 2) {
    let a = v128.load32_splat(pa);
    c0 = madd(a, v128.load(pb), c0);
    c1 = madd(a, v128.load(pb, 16), c1);
    c2 = madd(a, v128.load(pb, 32), c2);
    c3 = madd(a, v128.load(pb, 48), c3);
    a = v128.load32_splat(pa, 4);
    c4 = madd(a, v128.load(pb, 64), c4);
    c5 = madd(a, v128.load(pb, 80), c5);
    c6 = madd(a, v128.load(pb, 96), c6);
    c7 = madd(a, v128.load(pb, 112), c7);
    pa += 8;
    pb += 128;
  }
  if (k < kc) {
    const a = v128.load32_splat(pa);
    c0 = madd(a, v128.load(pb), c0);
    c1 = madd(a, v128.load(pb, 16), c1);
    c2 = madd(a, v128.load(pb, 32), c2);
    c3 = madd(a, v128.load(pb, 48), c3);
  }
  c0 = f32x4.add(c0, c4);
  c1 = f32x4.add(c1, c5);
  c2 = f32x4.add(c2, c6);
  c3 = f32x4.add(c3, c7);
  const av = f32x4.splat(alpha);
  if (nv == 16) {
    put(c, c0, av, beta);
    put(c + 16, c1, av, beta);
    put(c + 32, c2, av, beta);
    put(c + 48, c3, av, beta);
  } else {
    v128.store(tile, c0);
    v128.store(tile, c1, 16);
    v128.store(tile, c2, 32);
    v128.store(tile, c3, 48);
    putTile(1, 16, nv, c, 0, alpha, beta);
  }
}

/**
 * C[M, N] = alpha * op(A)[M, K] * Bp[K, N] + beta * C with op(B) already packed at Bp (panelStride floats
 * between panels). Blocks op(A) through packA; beta applies to the first depth block only. rev != 0 walks the
 * panels last to first (same results): a recurrent step (backward) alternates, so the panels the last step read
 * most recently, still in cache, come first (a cache smaller than the weights then keeps most of them instead
 * of none).
 */
export function gemmPacked(M: i32, N: i32, K: i32, alpha: f32, A: usize, lda: i32, transA: i32,
  Bp: usize, panelStride: i32, beta: f32, C: usize, ldc: i32, rev: i32 = 0, blockRows: i32 = 0): void {
  if (M <= 0 || N <= 0 || K <= 0) return;
  const np = (N + NR - 1) / NR;
  // Depth blocks as for blockRows rows (default M): a product over some rows of a larger one (cellBackward's
  // batch groups) sums each element over the same depth blocks as the larger one, so in the same order.
  const Mk = blockRows > 0 ? blockRows : M;
  let kcMax = K;
  let mcMax = M;
  if (<i64>Mk * <i64>K > <i64>PACK_A_FLOATS) {
    kcMax = min<i32>(K, KC);
    mcMax = min<i32>(M, (PACK_A_FLOATS / kcMax) & ~1);
  } else if (Mk >= 8 && Mk * K > L1_A_FLOATS) {
    // few rows (a recurrent step): a depth block whose packed A fits L1 beside the B panel it meets
    kcMax = max<i32>(64, (L1_A_FLOATS / Mk) & ~7);
  }
  const ldcB = f4(ldc);
  const psB = f4(panelStride);
  for (let pc = 0; pc < K; pc += kcMax) {
    const kc = min<i32>(kcMax, K - pc);
    const b: f32 = pc == 0 ? beta : 1;
    for (let ic = 0; ic < M; ic += mcMax) {
      const mc = min<i32>(mcMax, M - ic);
      packABlock(transA, transA != 0 ? A + f4(pc * lda + ic) : A + f4(ic * lda + pc), lda, mc, kc, 0, 1);
      const m6 = mc - mc % 6;
      const m2 = m6 + ((mc - m6) & ~1);
      const Bg = Bp + f4(pc * NR);
      const cBlock = C + <usize>ic * ldcB;
      if (m2 > 0) { // groups of six rows, then pairs
        for (let j = 0; j < np; j++) {
          const jp = rev != 0 ? np - 1 - j : j;
          const bp = Bg + <usize>jp * psB;
          const nv = min<i32>(NR, N - jp * NR);
          const cCol = cBlock + f4(jp * NR);
          for (let ir = 0; ir < m6; ir += 6) {
            const pa = packA + f4(ir * kc);
            const cr = cCol + <usize>ir * ldcB;
            kernel6x8(kc, pa, bp, cr, ldcB, alpha, b, min<i32>(8, nv));
            if (nv > 8) kernel6x8(kc, pa, bp + 32, cr + 32, ldcB, alpha, b, nv - 8);
          }
          for (let ir = m6; ir < m2; ir += 2) {
            kernel2x16(kc, packA + f4(ir * kc), bp, cCol + <usize>ir * ldcB, ldcB, alpha, b, nv);
          }
        }
      }
      if (m2 < mc) {
        // the odd row: 1x32 over pairs of panels, 1x16 for a last single panel
        const pa = packA + f4(m2 * kc);
        const cRow = cBlock + <usize>m2 * ldcB;
        const n2 = np >> 1;
        if (rev == 0) {
          for (let q = 0; q < n2; q++) {
            const jp = q << 1;
            kernel1x32(kc, pa, Bg + <usize>jp * psB, psB, cRow + f4(jp * NR), alpha, b, min<i32>(32, N - jp * NR));
          }
          if (np & 1) {
            const jp = np - 1;
            kernel1x16(kc, pa, Bg + <usize>jp * psB, cRow + f4(jp * NR), alpha, b, N - jp * NR);
          }
        } else {
          if (np & 1) {
            const jp = np - 1;
            kernel1x16(kc, pa, Bg + <usize>jp * psB, cRow + f4(jp * NR), alpha, b, N - jp * NR);
          }
          for (let q = n2 - 1; q >= 0; q--) {
            const jp = q << 1;
            kernel1x32(kc, pa, Bg + <usize>jp * psB, psB, cRow + f4(jp * NR), alpha, b, min<i32>(32, N - jp * NR));
          }
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

/** Σ a[k] b[k], k < n: four vector partial sums added pairwise, then the lanes in order, then the tail. */
function dotRow(n: i32, a: usize, b: usize): f32 {
  let s0 = f32x4.splat(0), s1 = f32x4.splat(0), s2 = f32x4.splat(0), s3 = f32x4.splat(0);
  let k = 0;
  for (; k + 16 <= n; k += 16) {
    const o = f4(k);
    s0 = madd(v128.load(a + o), v128.load(b + o), s0);
    s1 = madd(v128.load(a + o, 16), v128.load(b + o, 16), s1);
    s2 = madd(v128.load(a + o, 32), v128.load(b + o, 32), s2);
    s3 = madd(v128.load(a + o, 48), v128.load(b + o, 48), s3);
  }
  for (; k + 4 <= n; k += 4) s0 = madd(v128.load(a + f4(k)), v128.load(b + f4(k)), s0);
  const v = f32x4.add(f32x4.add(s0, s1), f32x4.add(s2, s3));
  let s = f32x4.extract_lane(v, 0) + f32x4.extract_lane(v, 1) + f32x4.extract_lane(v, 2) + f32x4.extract_lane(v, 3);
  for (; k < n; k++) s += load<f32>(a + f4(k)) * load<f32>(b + f4(k));
  return s;
}

/**
 * One row of C (M == 1: a decoder's next token) without packing, which would copy all of B to read it once:
 * dot products along B's rows when B is [N, K] (transB: a Linear's weight), else B's rows added into C (axpy).
 * a: op(A)'s row, contiguous.
 */
function gemmRow(transB: i32, N: i32, K: i32, alpha: f32, a: usize, B: usize, ldb: i32, beta: f32, C: usize): void {
  scaleC(1, N, beta, C, N);
  if (transB != 0) {
    for (let j = 0; j < N; j++) {
      const c = C + f4(j);
      store<f32>(c, load<f32>(c) + alpha * dotRow(K, a, B + f4(j * ldb)));
    }
    return;
  }
  for (let k = 0; k < K; k++) {
    const s = alpha * load<f32>(a + f4(k));
    const vs = f32x4.splat(s);
    const row = B + f4(k * ldb);
    let j = 0;
    for (; j + 4 <= N; j += 4) v128.store(C + f4(j), madd(vs, v128.load(row + f4(j)), v128.load(C + f4(j))));
    for (; j < N; j++) store<f32>(C + f4(j), load<f32>(C + f4(j)) + s * load<f32>(row + f4(j)));
  }
}

/**
 * C[M, N] = alpha * op(A)[M, K] * op(B)[K, N] + beta * C; row-major with leading dimensions, op transposes when
 * trans != 0 (A is [K, M] then, B is [N, K]). Cache-blocked, SIMD, on the calling thread. beta == 0 never reads C.
 * One row goes unpacked (gemmRow), its op(A) row gathered into packA when A is transposed.
 */
export function sgemm(transA: i32, transB: i32, M: i32, N: i32, K: i32, alpha: f32, A: usize, lda: i32,
  B: usize, ldb: i32, beta: f32, C: usize, ldc: i32): void {
  if (M <= 0 || N <= 0) return;
  if (K <= 0 || alpha == 0) {
    scaleC(M, N, beta, C, ldc);
    return;
  }
  if (M == 1 && (transA == 0 || lda == 1 || K <= PACK_A_FLOATS)) {
    let a = A;
    if (transA != 0 && lda != 1) {
      for (let k = 0; k < K; k++) store<f32>(packA + f4(k), load<f32>(A + f4(k * lda)));
      a = packA;
    }
    gemmRow(transB, N, K, alpha, a, B, ldb, beta, C);
    return;
  }
  for (let jc = 0; jc < N; jc += NC) {
    const nc = min<i32>(NC, N - jc);
    for (let pc = 0; pc < K; pc += KC) {
      const kc = min<i32>(KC, K - pc);
      packPanels(transB, B, ldb, pc, kc, jc, nc, packB, kc * NR);
      const a = transA != 0 ? A + f4(pc * lda) : A + f4(pc);
      gemmPacked(M, nc, kc, alpha, a, lda, transA, packB, kc * NR, pc == 0 ? beta : 1, C + f4(jc), ldc);
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
export function colSumAdd(dst: usize, src: usize, rows: i32, cols: i32, ld: i32): void {
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

// Register tiles that accumulate into C (or start from a bias row): the cell forward's products (kernels.ts)
// and the loops of the kernel* tiles above.

/**
 * 2x16 tile accumulating into whole 16-column C rows: C[2,16] = (bias != 0 ? bias[16] on both rows : C) +
 * Apanel[2, kc] * Bpanel[kc, 16]: the recurrent step's tile for rows outside groups of six, and kernel2x16's
 * loop (from zero).
 */
export function tile2x16(kc: i32, pa: usize, pb: usize, c: usize, ldcB: usize, bias: usize): void {
  let c00: v128, c01: v128, c02: v128, c03: v128, c10: v128, c11: v128, c12: v128, c13: v128;
  if (bias != 0) {
    c00 = v128.load(bias); c01 = v128.load(bias, 16); c02 = v128.load(bias, 32); c03 = v128.load(bias, 48);
    c10 = c00; c11 = c01; c12 = c02; c13 = c03;
  } else {
    c00 = v128.load(c); c01 = v128.load(c, 16); c02 = v128.load(c, 32); c03 = v128.load(c, 48);
    const c1 = c + ldcB;
    c10 = v128.load(c1); c11 = v128.load(c1, 16); c12 = v128.load(c1, 32); c13 = v128.load(c1, 48);
  }
  // One k per iteration on purpose: V8 schedules every load of a block before its arithmetic, so unrolling
  // keeps twice the loaded values live and spills accumulators (15 usable xmm registers).
  for (let k = 0; k < kc; k++) {
    const b0 = v128.load(pb);
    const b1 = v128.load(pb, 16);
    const b2 = v128.load(pb, 32);
    const b3 = v128.load(pb, 48);
    let a = v128.load32_splat(pa);
    c00 = madd(a, b0, c00);
    c01 = madd(a, b1, c01);
    c02 = madd(a, b2, c02);
    c03 = madd(a, b3, c03);
    a = v128.load32_splat(pa, 4);
    c10 = madd(a, b0, c10);
    c11 = madd(a, b1, c11);
    c12 = madd(a, b2, c12);
    c13 = madd(a, b3, c13);
    pa += 8;
    pb += 64;
  }
  v128.store(c, c00); v128.store(c, c01, 16); v128.store(c, c02, 32); v128.store(c, c03, 48);
  c += ldcB;
  v128.store(c, c10); v128.store(c, c11, 16); v128.store(c, c12, 32); v128.store(c, c13, 48);
}

/**
 * 6x8 tile over half of a 16-column panel (pb at the half: rows of B 64 bytes apart), C[6, 8] = (bias != 0 ?
 * bias[8] on every row : C) + Apanel[6, kc] * Bpanel[kc, 8]. Twelve accumulators, two loads of B and six
 * broadcasts of A per k: fewer loop and address instructions per multiply-add than tile2x16, 15 of the 16 xmm
 * registers, no spill in TurboFan's code (native/KERNELS.md, "WASM measurements").
 */
export function tile6x8(kc: i32, pa: usize, pb: usize, c: usize, ldcB: usize, bias: usize): void {
  let c00: v128, c01: v128, c10: v128, c11: v128, c20: v128, c21: v128;
  let c30: v128, c31: v128, c40: v128, c41: v128, c50: v128, c51: v128;
  if (bias != 0) {
    c00 = v128.load(bias); c01 = v128.load(bias, 16);
    c10 = c00; c11 = c01; c20 = c00; c21 = c01; c30 = c00; c31 = c01; c40 = c00; c41 = c01; c50 = c00; c51 = c01;
  } else {
    let r = c;
    c00 = v128.load(r); c01 = v128.load(r, 16); r += ldcB;
    c10 = v128.load(r); c11 = v128.load(r, 16); r += ldcB;
    c20 = v128.load(r); c21 = v128.load(r, 16); r += ldcB;
    c30 = v128.load(r); c31 = v128.load(r, 16); r += ldcB;
    c40 = v128.load(r); c41 = v128.load(r, 16); r += ldcB;
    c50 = v128.load(r); c51 = v128.load(r, 16);
  }
  for (let k = 0; k < kc; k++) {
    const b0 = v128.load(pb);
    const b1 = v128.load(pb, 16);
    let a = v128.load32_splat(pa);
    c00 = madd(a, b0, c00); c01 = madd(a, b1, c01);
    a = v128.load32_splat(pa, 4);
    c10 = madd(a, b0, c10); c11 = madd(a, b1, c11);
    a = v128.load32_splat(pa, 8);
    c20 = madd(a, b0, c20); c21 = madd(a, b1, c21);
    a = v128.load32_splat(pa, 12);
    c30 = madd(a, b0, c30); c31 = madd(a, b1, c31);
    a = v128.load32_splat(pa, 16);
    c40 = madd(a, b0, c40); c41 = madd(a, b1, c41);
    a = v128.load32_splat(pa, 20);
    c50 = madd(a, b0, c50); c51 = madd(a, b1, c51);
    pa += 24;
    pb += 64;
  }
  v128.store(c, c00); v128.store(c, c01, 16); c += ldcB;
  v128.store(c, c10); v128.store(c, c11, 16); c += ldcB;
  v128.store(c, c20); v128.store(c, c21, 16); c += ldcB;
  v128.store(c, c30); v128.store(c, c31, 16); c += ldcB;
  v128.store(c, c40); v128.store(c, c41, 16); c += ldcB;
  v128.store(c, c50); v128.store(c, c51, 16);
}

/** 1x16 tile, as tile2x16 for one row: C[16] = (bias != 0 ? bias[16] : C) + Apanel[kc] * Bpanel[kc, 16]. */
export function tile1x16(kc: i32, pa: usize, pb: usize, c: usize, bias: usize): void {
  if (bias != 0) memory.copy(c, bias, 64);
  kernel1x16(kc, pa, pb, c, 1, 1, 16); // C = 1 * (A B) + 1 * C, exactly C + A B
}

/**
 * 1x32 tile over two panels (psB bytes apart) of one row: C0[16] = (b0 != 0 ? b0 : C0) + a[kc] * panel 0,
 * C1[16] likewise with panel 1 (any two 16-column blocks of C).
 */
export function tile1x32(kc: i32, pa: usize, pb: usize, psB: usize, c0p: usize, c1p: usize, b0: usize, b1: usize): void {
  const s0 = b0 != 0 ? b0 : c0p;
  const s1 = b1 != 0 ? b1 : c1p;
  let c0 = v128.load(s0), c1 = v128.load(s0, 16), c2 = v128.load(s0, 32), c3 = v128.load(s0, 48);
  let c4 = v128.load(s1), c5 = v128.load(s1, 16), c6 = v128.load(s1, 32), c7 = v128.load(s1, 48);
  let p0 = pb;
  let p1 = pb + psB;
  for (let k = 0; k < kc; k++) {
    const a = v128.load32_splat(pa);
    c0 = madd(a, v128.load(p0), c0);
    c1 = madd(a, v128.load(p0, 16), c1);
    c2 = madd(a, v128.load(p0, 32), c2);
    c3 = madd(a, v128.load(p0, 48), c3);
    c4 = madd(a, v128.load(p1), c4);
    c5 = madd(a, v128.load(p1, 16), c5);
    c6 = madd(a, v128.load(p1, 32), c6);
    c7 = madd(a, v128.load(p1, 48), c7);
    pa += 4;
    p0 += 64;
    p1 += 64;
  }
  v128.store(c0p, c0); v128.store(c0p, c1, 16); v128.store(c0p, c2, 32); v128.store(c0p, c3, 48);
  v128.store(c1p, c4); v128.store(c1p, c5, 16); v128.store(c1p, c6, 32); v128.store(c1p, c7, 48);
}

/**
 * 1x16 tile over one panel, each column's sum in one chain in order of k (as tile1x32 and tile1x48 sum, unlike
 * tile1x16): C[16] = (b != 0 ? b : C) + a[kc] * panel. Latency-bound; only for a lone panel (gemvPanels).
 */
export function tile1x16s(kc: i32, pa: usize, pb: usize, c: usize, b: usize): void {
  const s = b != 0 ? b : c;
  let c0 = v128.load(s), c1 = v128.load(s, 16), c2 = v128.load(s, 32), c3 = v128.load(s, 48);
  for (let k = 0; k < kc; k++) {
    const a = v128.load32_splat(pa);
    c0 = madd(a, v128.load(pb), c0);
    c1 = madd(a, v128.load(pb, 16), c1);
    c2 = madd(a, v128.load(pb, 32), c2);
    c3 = madd(a, v128.load(pb, 48), c3);
    pa += 4;
    pb += 64;
  }
  v128.store(c, c0); v128.store(c, c1, 16); v128.store(c, c2, 32); v128.store(c, c3, 48);
}

/**
 * 1x48 tile over three panels (psB bytes apart) of one row: C0[16] = (b0 != 0 ? b0 : C0) + a[kc] * panel 0,
 * C1, C2 likewise with panels 1 and 2 (any three 16-column blocks of C). Twelve accumulators: per depth one
 * broadcast and the loop's own instructions serve twelve multiply-adds instead of tile1x32's eight. The 1xN
 * tiles are written out one by one on purpose: a register tile cannot be abstracted in AssemblyScript (no
 * templates, no locals returned in groups), and accumulators kept in memory or in a helper V8 does not inline
 * run at half speed (native/KERNELS.md, "WASM measurements").
 */
export function tile1x48(kc: i32, pa: usize, pb: usize, psB: usize, c0p: usize, c1p: usize, c2p: usize, b0: usize,
  b1: usize, b2: usize): void {
  const s0 = b0 != 0 ? b0 : c0p;
  const s1 = b1 != 0 ? b1 : c1p;
  const s2 = b2 != 0 ? b2 : c2p;
  let c0 = v128.load(s0), c1 = v128.load(s0, 16), c2 = v128.load(s0, 32), c3 = v128.load(s0, 48);
  let c4 = v128.load(s1), c5 = v128.load(s1, 16), c6 = v128.load(s1, 32), c7 = v128.load(s1, 48);
  let c8 = v128.load(s2), c9 = v128.load(s2, 16), c10 = v128.load(s2, 32), c11 = v128.load(s2, 48);
  let p0 = pb;
  let p1 = pb + psB;
  let p2 = p1 + psB;
  const end = pa + f4(kc);
  while (pa < end) {
    const a = v128.load32_splat(pa);
    c0 = madd(a, v128.load(p0), c0);
    c1 = madd(a, v128.load(p0, 16), c1);
    c2 = madd(a, v128.load(p0, 32), c2);
    c3 = madd(a, v128.load(p0, 48), c3);
    c4 = madd(a, v128.load(p1), c4);
    c5 = madd(a, v128.load(p1, 16), c5);
    c6 = madd(a, v128.load(p1, 32), c6);
    c7 = madd(a, v128.load(p1, 48), c7);
    c8 = madd(a, v128.load(p2), c8);
    c9 = madd(a, v128.load(p2, 16), c9);
    c10 = madd(a, v128.load(p2, 32), c10);
    c11 = madd(a, v128.load(p2, 48), c11);
    pa += 4;
    p0 += 64;
    p1 += 64;
    p2 += 64;
  }
  v128.store(c0p, c0); v128.store(c0p, c1, 16); v128.store(c0p, c2, 32); v128.store(c0p, c3, 48);
  v128.store(c1p, c4); v128.store(c1p, c5, 16); v128.store(c1p, c6, 32); v128.store(c1p, c7, 48);
  v128.store(c2p, c8); v128.store(c2p, c9, 16); v128.store(c2p, c10, 32); v128.store(c2p, c11, 48);
}
