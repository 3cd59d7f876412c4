// Cell forward / backward over a whole sequence batch, one layer and one direction (native/kernels.cc and the
// gate math of native/isa_impl.h), per native/KERNELS.md.
//
// Sizes: T time steps, B batch, I input features, H hidden units, G gates (rnn 1, lstm 4, gru 3). Every
// pointer is a byte offset into linear memory; every buffer is float32, row-major, sequence-major.
//
// Threads split work as native/kernels.cc does: the recurrent loop gives each thread a range of hidden units
// (whole chunks of 16) and all G gates of them: input projection, recurrent projection and gate math of those
// units are the thread's alone, and one barrier per step (every unit of h_t written) suffices. Forward packs
// W_ih / W_hh chunk by chunk (a chunk's G panels of 16 columns together, so a thread's panels are one
// contiguous range) and keeps one pre-activation buffer that starts from the biases and takes the input
// projection (a few steps at a time) and each step's recurrent product; per step h_prev is packed once for all
// of the thread's panels, and each chunk's gate math runs right after its product (see cellForward); a thread
// done with its own chunks of a step takes those another thread has not started (claimChunk, pool.ts). Batch 1
// differs: each thread multiplies h_prev (unpacked) by all its panels at once (gemvPanels), then runs the gate
// math of all its units in one call, and keeps its chunks.
// Backward: per step a thread computes the gate gradients of its units, a barrier, then its columns of
// dh_prev = dgh W_hh (W_hh packed per gate there). Weight-gradient GEMMs after the loop split by rows.
//
// Forward layouts. P = pad16(H) units in P/16 chunks of 16. W_ih and W_hh are packed chunk by chunk: chunk c
// holds one K x 16 panel (K = I or H) per gate, so a thread's panels (its chunks, all gates) are one contiguous
// range. Pre-activations live in rows of GB*P floats (GB column blocks of 16 per chunk): chunk c, block q at
// column c*GB*16 + q*16. rnn / lstm: GB = G, block g is gate g, holding b_ih + b_hh + x W_ihᵀ + h_prev W_hhᵀ
// (the input projection starts each row from the bias row, the recurrent product accumulates into it). gru:
// GB = 4, blocks [n_i, r, z, n_h]: r, z as above, n_i = b_ih_n + x W_inᵀ, n_h = b_hn + h_prev W_hnᵀ (so W_ih is
// packed in gate order n, r, z into blocks 0..2, W_hh in order r, z, n into blocks 1..3). Padded units get zero
// weights and biases; their columns are computed and never read.
//
// Scratch (floats, each region rounded up to 16):
//   forward:  [P/16, G, I, 16] packed W_ih | [P/16, G, H, 16] packed W_hh |
//             [GB*P] bias row | [TC, B, GB*P] pre-activations of TC steps (TC = stepChunk(T, B))
//   backward: [P, G*H] packed W_hh | [T, B, G*H] dG (pre-activation grads, = dgi)
//             gru only: [T, B, H] dgh_n | [2, B, G*H] dgh of the step (two, alternating: see cellBackward)
import {
  KC, L1_A_FLOATS, NR, PACK_A_FLOATS, PACK_B_FLOATS, colSumAdd, gemmPacked, packA, packABlock, packB, packPanels, pad16,
  sgemm, tile1x16, tile1x16s, tile1x32, tile1x48, tile2x16, tile6x8,
} from './gemm';
import { barrier, claimChunk, noteGroupCall, noteSharedChunk, openClaims, splitBegin, splitEnd, testLag } from './pool';
import { a16, f4, loadLanes, madd, storeLanes, vsigmoid, vtanh } from './vecmath';

// The cell kinds (native/kernels.h CellKind; src/backend/types.ts CELL_CODES, checked against these exports by
// test/wasm-oracles.test.ts).
export const RNN_TANH: i32 = 0;
export const RNN_RELU: i32 = 1;
export const LSTM: i32 = 2;
export const GRU: i32 = 3;

/** G: gates of a kind. */
export function gatesOf(kind: i32): i32 {
  return kind == LSTM ? 4 : kind == GRU ? 3 : 1;
}

/** Rows (steps x batch) of input projection computed at once: enough for an efficient GEMM, little memory. */
const PROJ_ROWS: i32 = 256;

/** Steps whose input projection is computed at once. */
// @ts-ignore: decorator
@inline function stepChunk(T: i32, B: i32): i32 {
  return min<i32>(T, max<i32>(1, (PROJ_ROWS + B - 1) / B));
}

/** Column blocks per chunk of the pre-activation rows (gru: 4, see above). */
// @ts-ignore: decorator
@inline function blocksOf(kind: i32): i32 {
  return kind == GRU ? 4 : gatesOf(kind);
}

/** Floats of scratch cellForward needs. */
export function forwardScratchFloats(kind: i32, T: i32, B: i32, I: i32, H: i32): i32 {
  const G = gatesOf(kind);
  const P = pad16(H);
  const W = blocksOf(kind) * P;
  return a16(G * P * I) + a16(G * P * H) + a16(W) + a16(stepChunk(T, B) * B * W);
}

/** Floats of scratch cellBackward needs. */
export function backwardScratchFloats(kind: i32, T: i32, B: i32, I: i32, H: i32): i32 {
  const GH = gatesOf(kind) * H;
  let n = a16(GH * pad16(H)) + a16(T * B * GH);
  if (kind == GRU) n += a16(T * B * H) + a16(2 * B * GH);
  return n;
}

/** The gate of W_ih / W_hh packed at position gi of a chunk (gru's W_ih: n, r, z; else in order). */
// @ts-ignore: decorator
@inline function gateAt(kind: i32, ih: i32, gi: i32): i32 {
  return kind == GRU && ih != 0 ? (gi == 0 ? 2 : gi - 1) : gi;
}

/** Packs chunks [c0, c1) of w [G*H, K] (all gates, in gateAt order) into dst (chunk c0's first panel). */
function packChunks(kind: i32, ih: i32, w: usize, K: i32, H: i32, c0: i32, c1: i32, dst: usize): void {
  const G = gatesOf(kind);
  for (let c = c0; c < c1; c++) {
    const u = c * NR;
    const nv = min<i32>(NR, H - u);
    for (let gi = 0; gi < G; gi++) {
      const g = gateAt(kind, ih, gi);
      packPanels(1, w + f4((g * H + u) * K), K, 0, K, 0, nv, dst + f4(((c - c0) * G + gi) * K * NR), K * NR);
    }
  }
}

/** How cellForward uses a kept packing (its `pack` argument). */
export const PACK_CHECK: i32 = 0;
export const PACK_NEW: i32 = 1;
export const PACK_KEPT: i32 = 2;

/** Floats of a cached packing of W_ih and W_hh (cellForward's `packed`); its `src` copy holds G*H*(I+H). */
export function packedWeightFloats(kind: i32, I: i32, H: i32): i32 {
  const G = gatesOf(kind);
  const P = pad16(H);
  return a16(G * P * I) + a16(G * P * H);
}

/** Whether rows [g*H + u0, g*H + u0 + w) of W_ih [G*H, I] and W_hh [G*H, H], every gate g, equal src's copy bit for bit. */
function sameRows(G: i32, wih: usize, whh: usize, src: usize, I: i32, H: i32, u0: i32, w: i32): bool {
  const srcHH = src + f4(G * H * I);
  for (let g = 0; g < G; g++) {
    const r0 = g * H + u0;
    if (!sameBytes(wih + f4(r0 * I), src + f4(r0 * I), f4(w * I))) return false;
    if (!sameBytes(whh + f4(r0 * H), srcHH + f4(r0 * H), f4(w * H))) return false;
  }
  return true;
}

/** sameRows' rows copied into src. */
function copyRows(G: i32, wih: usize, whh: usize, src: usize, I: i32, H: i32, u0: i32, w: i32): void {
  const srcHH = src + f4(G * H * I);
  for (let g = 0; g < G; g++) {
    const r0 = g * H + u0;
    memory.copy(src + f4(r0 * I), wih + f4(r0 * I), f4(w * I));
    memory.copy(srcHH + f4(r0 * H), whh + f4(r0 * H), f4(w * H));
  }
}

/** Whether n bytes at a and b are equal (16 at a time, then the rest). */
function sameBytes(a: usize, b: usize, n: usize): bool {
  let i: usize = 0;
  for (; i + 64 <= n; i += 64) {
    const d = v128.or(v128.or(v128.xor(v128.load(a + i), v128.load(b + i)), v128.xor(v128.load(a + i, 16), v128.load(b + i, 16))),
      v128.or(v128.xor(v128.load(a + i, 32), v128.load(b + i, 32)), v128.xor(v128.load(a + i, 48), v128.load(b + i, 48))));
    if (v128.any_true(d)) return false;
  }
  for (; i + 16 <= n; i += 16) if (v128.any_true(v128.xor(v128.load(a + i), v128.load(b + i)))) return false;
  for (; i < n; i++) if (load<u8>(a + i) != load<u8>(b + i)) return false;
  return true;
}

/** Fills chunks [c0, c1) of the bias row (layout above; zero for padded units). */
function fillBiasRow(kind: i32, H: i32, bih: usize, bhh: usize, c0: i32, c1: i32, row: usize): void {
  const GB = blocksOf(kind);
  for (let c = c0; c < c1; c++) {
    const u = c * NR;
    for (let q = 0; q < GB; q++) {
      const d = row + f4((c * GB + q) * NR);
      for (let j = 0; j < NR; j++) {
        let v: f32 = 0;
        if (u + j < H) {
          const o = f4(u + j);
          if (kind != GRU) v = load<f32>(bih + f4(q * H) + o) + load<f32>(bhh + f4(q * H) + o);
          else if (q == 0) v = load<f32>(bih + f4(2 * H) + o);
          else if (q == 3) v = load<f32>(bhh + f4(2 * H) + o);
          else v = load<f32>(bih + f4((q - 1) * H) + o) + load<f32>(bhh + f4((q - 1) * H) + o);
        }
        store<f32>(d + f4(j), v);
      }
    }
  }
}

/**
 * Tiles of one chunk: for each of its G panels (panel gi at pb + gi*psB, rows k0.. already applied), rows
 * [0, mc) of packed A (packABlock with six: groups of six, pairs, then an odd row) into C's block gi + gOff
 * (C at the chunk's first column). biasMask: bit gi set = the tile starts from bias (at bias + the block's
 * column) instead of C. Each element's sum runs over k in the same order in every tile shape.
 */
// @ts-ignore: decorator
@inline function chunkTiles(G: i32, gOff: i32, mc: i32, kc: i32, pa: usize, pb: usize, psB: usize, C: usize,
  ldcB: usize, bias: usize, biasMask: i32): void {
  const m6 = mc - mc % 6;
  const m2 = m6 + ((mc - m6) & ~1);
  for (let gi = 0; gi < G; gi++) {
    const bp = pb + <usize>gi * psB;
    const cb = C + f4((gi + gOff) * NR);
    const bb = (biasMask >> gi) & 1 ? bias + f4((gi + gOff) * NR) : 0;
    for (let ir = 0; ir < m6; ir += 6) {
      const a = pa + f4(ir * kc);
      const cr = cb + <usize>ir * ldcB;
      tile6x8(kc, a, bp, cr, ldcB, bb);
      tile6x8(kc, a, bp + 32, cr + 32, ldcB, bb != 0 ? bb + 32 : 0);
    }
    for (let ir = m6; ir < m2; ir += 2) tile2x16(kc, pa + f4(ir * kc), bp, cb + <usize>ir * ldcB, ldcB, bb);
    if (m2 < mc) tile1x16(kc, pa + f4(m2 * kc), bp, cb + <usize>m2 * ldcB, bb);
  }
}

/**
 * The input projection of a thread's chunks for M rows: C[M, chunks] = bias row + A[M, K] W_ihᵀ, panels packed
 * by packChunks at Bp (chunk 0 of the thread), C and bias at the thread's first chunk column, ldc floats.
 */
function projectChunks(kind: i32, M: i32, K: i32, A: usize, lda: i32, Bp: usize, nch: i32, C: usize, ldc: i32,
  bias: usize): void {
  if (M <= 0 || nch <= 0) return;
  const G = gatesOf(kind);
  const GB = blocksOf(kind);
  const kcMax = min<i32>(K, KC);
  const mcMax = min<i32>(M, (PACK_A_FLOATS / kcMax) & ~1);
  const ldcB = f4(ldc);
  const psB = f4(K * NR);
  const all = (1 << G) - 1;
  for (let pc = 0; pc < K; pc += kcMax) {
    const kc = min<i32>(kcMax, K - pc);
    for (let ic = 0; ic < M; ic += mcMax) {
      const mc = min<i32>(mcMax, M - ic);
      packABlock(0, A + f4(ic * lda + pc), lda, mc, kc, 0, 1);
      const cRow = C + <usize>ic * ldcB;
      for (let c = 0; c < nch; c++) {
        chunkTiles(G, 0, mc, kc, packA, Bp + <usize>(c * G) * psB + f4(pc * NR), psB, cRow + f4(c * GB * NR),
          ldcB, bias + f4(c * GB * NR), pc == 0 ? all : 0);
      }
    }
  }
}

/**
 * Whether cellForward's nt threads (more than one, above batch 1) each take a group of the batch rows with all the
 * hidden units, meeting at no step (native/pool.h, batch_groups; here only groups of one thread, so no barrier
 * within a group either): when the units alone would give each thread under 256 of the G*H columns, each group
 * has at least 8 rows, and an even number of them, as B has, as has every block of rows the recurrent product
 * takes at once (the packing area's, unless one block holds all B): every product's rows then go through tile6x8
 * and tile2x16, which sum in one chain per element like every other tile, never through tile1x16's odd row, so
 * the bits are the same as without groups. And a block of TC steps' input rows of a group fits packB (gathered
 * there).
 */
function batchGroups(nt: i32, B: i32, H: i32, cols: i32, TC: i32, I: i32): bool {
  if (!evenGroups(nt, B, cols)) return false;
  // the recurrent product's blocks of rows (what the packing area holds): even, or one block of all B rows
  const block = (PACK_A_FLOATS + PACK_B_FLOATS) / H;
  return (block >= B || (block & 1) == 0) && TC * ((B + nt - 1) / nt) * I <= PACK_B_FLOATS;
}

/** What the forward's and the backward's groups both need: few columns a thread, even groups of 8 rows or more. */
function evenGroups(nt: i32, B: i32, cols: i32): bool {
  if (nt < 2 || cols / nt >= 256) return false;
  const lo = B / nt;
  const hi = (B + nt - 1) / nt;
  return lo >= 8 && (lo & 1) == 0 && (hi & 1) == 0 && (B & 1) == 0;
}

/**
 * Batch-1 recurrent product over a thread's np = nch*G panels (packChunks order) at Bp: pre-activation row
 * pre (at the thread's first column) += h [H] times each panel, gru's n panels starting from the bias row.
 * A product of one row reads each weight once (broadcasts rather than dot products over rows: native/KERNELS.md,
 * "WASM measurements"): panels go three at a time through tile1x48, the last two (or four) in pairs through
 * tile1x32, a lone panel (a thread's only one) through tile1x16s. Every one of them sums each column's products
 * in order of k in one chain, so how a thread's panels are grouped (its thread count) changes no bit. rev walks
 * the groups of three from the last.
 */
function gemvPanels(kind: i32, H: i32, h: usize, Bp: usize, np: i32, pre: usize, bias: usize, rev: i32): void {
  let n3 = np / 3;
  let n2 = np % 3 == 2 ? 1 : 0;
  if (np % 3 == 1 && n3 > 0) { // 3 + 1 panels as two pairs
    n3--;
    n2 = 2;
  }
  const j2 = n3 * 3; // the first panel of the pairs
  const j1 = j2 + n2 * 2; // a lone panel, if j1 < np
  // The tiles are called from two places each on purpose: a tile called from one place is inlined, and V8
  // then keeps accumulators of its loop on the stack (twice as slow: native/KERNELS.md, "WASM measurements").
  if (rev == 0) {
    for (let j = 0; j < j2; j += 3) gemvGroup3(kind, H, h, Bp, j, pre, bias);
    for (let j = j2; j < j1; j += 2) gemvGroup2(kind, H, h, Bp, j, pre, bias);
  } else {
    for (let j = j1 - 2; j >= j2; j -= 2) gemvGroup2(kind, H, h, Bp, j, pre, bias);
    for (let j = j2 - 3; j >= 0; j -= 3) gemvGroup3(kind, H, h, Bp, j, pre, bias);
  }
  if (j1 < np) {
    const o = panelColumn(kind, j1);
    tile1x16s(H, h, Bp + <usize>j1 * f4(H * NR), pre + o, panelFromBias(kind, j1) ? bias + o : 0);
  }
}

/** Byte offset of thread-relative panel j's 16 columns in a pre-activation row (from the thread's first column). */
// @ts-ignore: decorator
@inline function panelColumn(kind: i32, j: i32): usize {
  const G = gatesOf(kind);
  return f4((j / G) * blocksOf(kind) * NR + (j % G + (kind == GRU ? 1 : 0)) * NR);
}

/** Whether panel j starts from the bias row (gru's n gate) rather than from the pre-activations. */
// @ts-ignore: decorator
@inline function panelFromBias(kind: i32, j: i32): bool {
  return kind == GRU && j % 3 == 2;
}

// @ts-ignore: decorator
@inline function gemvGroup3(kind: i32, H: i32, h: usize, Bp: usize, j: i32, pre: usize, bias: usize): void {
  const o0 = panelColumn(kind, j), o1 = panelColumn(kind, j + 1), o2 = panelColumn(kind, j + 2);
  tile1x48(H, h, Bp + <usize>j * f4(H * NR), f4(H * NR), pre + o0, pre + o1, pre + o2,
    panelFromBias(kind, j) ? bias + o0 : 0, panelFromBias(kind, j + 1) ? bias + o1 : 0,
    panelFromBias(kind, j + 2) ? bias + o2 : 0);
}

// @ts-ignore: decorator
@inline function gemvGroup2(kind: i32, H: i32, h: usize, Bp: usize, j: i32, pre: usize, bias: usize): void {
  const o0 = panelColumn(kind, j), o1 = panelColumn(kind, j + 1);
  tile1x32(H, h, Bp + <usize>j * f4(H * NR), f4(H * NR), pre + o0, pre + o1,
    panelFromBias(kind, j) ? bias + o0 : 0, panelFromBias(kind, j + 1) ? bias + o1 : 0);
}

// ---------------------------------------------------------------------------------------------------------
// Gate math, each kind's forward beside its backward (native/isa_impl.h: rnn_gates / rnn_grads, ...).
// Forward: n units of one batch row from a chunk's first unit on (16 units a chunk: one chunk at larger batches,
// all of a thread's at batch 1), pre at that chunk's first column (blocks 64 bytes apart, chunks GB*64);
// outputs at the first unit; workspace outputs (g, c / ghn) only when g != 0; Hb: their gate stride in bytes.
// Backward: one batch row over n units (a thread's share; every pointer already offset to its first unit).
// Each is a loop over 4 units at a time and the 1 to 3 left (loadLanes / storeLanes, vecmath.ts): the body
// *Lanes is written once.

/**
 * The base that puts unit j's pre-activations (chunk j / 16, GB blocks of 16 columns a chunk) at base + f4(j),
 * the offset the *Lanes bodies add to every pointer.
 */
// @ts-ignore: decorator
@inline function chunkPre(pre: usize, j: i32, GB: i32): usize {
  return pre + <usize>(j >> 4) * f4(GB * NR) - f4(j & ~15);
}

/** rnn: h = act(pre), act = tanh or relu (relu != 0). Its chunks are 16 columns: the units lie side by side. */
// @ts-ignore: decorator
@inline function rnnGatesLanes(lanes: i32, relu: i32, pre: usize, h: usize): void {
  const a = loadLanes(pre, lanes);
  storeLanes(h, relu != 0 ? f32x4.max(a, f32x4.splat(0)) : vtanh(a), lanes); // f32x4.max: NaN stays NaN
}

function rnnGates(n: i32, relu: i32, pre: usize, h: usize): void {
  let j = 0;
  for (; j + 4 <= n; j += 4) rnnGatesLanes(4, relu, pre + f4(j), h + f4(j));
  if (j < n) rnnGatesLanes(n - j, relu, pre + f4(j), h + f4(j));
}

/** rnn backward: dG[n] = (dy + dh) * act'(h). */
// @ts-ignore: decorator
@inline function rnnGradsLanes(lanes: i32, relu: i32, o: usize, h: usize, dy: usize, dh: usize, dG: usize): void {
  const hv = loadLanes(h + o, lanes);
  const d = f32x4.add(loadLanes(dy + o, lanes), loadLanes(dh + o, lanes));
  const da = relu != 0
    ? v128.and(d, f32x4.gt(hv, f32x4.splat(0)))
    : f32x4.mul(d, f32x4.sub(f32x4.splat(1), f32x4.mul(hv, hv)));
  storeLanes(dG + o, da, lanes);
}

function rnnGrads(n: i32, relu: i32, h: usize, dy: usize, dh: usize, dG: usize): void {
  let j = 0;
  for (; j + 4 <= n; j += 4) rnnGradsLanes(4, relu, f4(j), h, dy, dh, dG);
  if (j < n) rnnGradsLanes(n - j, relu, f4(j), h, dy, dh, dG);
}

/** lstm: blocks i, f, g, o; cp: c_prev (may be c itself: each element is read before it is written). */
// @ts-ignore: decorator
@inline function lstmGatesLanes(lanes: i32, o: usize, pre: usize, cp: usize, c: usize, h: usize, g: usize,
  Hb: usize): void {
  const p = pre + o;
  const vi = vsigmoid(loadLanes(p, lanes));
  const vf = vsigmoid(loadLanes(p + 64, lanes));
  const vg = vtanh(loadLanes(p + 128, lanes));
  const vo = vsigmoid(loadLanes(p + 192, lanes));
  const vc = madd(vf, loadLanes(cp + o, lanes), f32x4.mul(vi, vg));
  if (g != 0) {
    storeLanes(g + o, vi, lanes);
    storeLanes(g + Hb + o, vf, lanes);
    storeLanes(g + 2 * Hb + o, vg, lanes);
    storeLanes(g + 3 * Hb + o, vo, lanes);
  }
  storeLanes(c + o, vc, lanes);
  storeLanes(h + o, f32x4.mul(vo, vtanh(vc)), lanes);
}

function lstmGates(n: i32, pre: usize, cp: usize, c: usize, h: usize, g: usize, Hb: usize): void {
  let j = 0;
  for (; j + 4 <= n; j += 4) lstmGatesLanes(4, f4(j), chunkPre(pre, j, 4), cp, c, h, g, Hb);
  if (j < n) lstmGatesLanes(n - j, f4(j), chunkPre(pre, j, 4), cp, c, h, g, Hb);
}

/**
 * lstm backward: g[4H] activated gates, c[H] = c_t, cp[H] = c_prev, dy[H]; dh[H] in: dh_next; dc[H] in:
 * dc_next, out: dc_prev. Writes dG[4H] pre-activation gradients.
 */
// @ts-ignore: decorator
@inline function lstmGradsLanes(lanes: i32, o: usize, Hb: usize, g: usize, c: usize, cp: usize, dy: usize,
  dh: usize, dc: usize, dG: usize): void {
  const one = f32x4.splat(1);
  const vi = loadLanes(g + o, lanes);
  const vf = loadLanes(g + Hb + o, lanes);
  const vg = loadLanes(g + 2 * Hb + o, lanes);
  const vo = loadLanes(g + 3 * Hb + o, lanes);
  const tc = vtanh(loadLanes(c + o, lanes));
  const d = f32x4.add(loadLanes(dy + o, lanes), loadLanes(dh + o, lanes));
  const dcv = f32x4.add(loadLanes(dc + o, lanes), f32x4.mul(f32x4.mul(d, vo), f32x4.sub(one, f32x4.mul(tc, tc))));
  const di = f32x4.mul(dcv, vg);
  const df = f32x4.mul(dcv, loadLanes(cp + o, lanes));
  const dg = f32x4.mul(dcv, vi);
  const dO = f32x4.mul(d, tc);
  storeLanes(dG + o, f32x4.mul(di, f32x4.mul(vi, f32x4.sub(one, vi))), lanes);
  storeLanes(dG + Hb + o, f32x4.mul(df, f32x4.mul(vf, f32x4.sub(one, vf))), lanes);
  storeLanes(dG + 2 * Hb + o, f32x4.mul(dg, f32x4.sub(one, f32x4.mul(vg, vg))), lanes);
  storeLanes(dG + 3 * Hb + o, f32x4.mul(dO, f32x4.mul(vo, f32x4.sub(one, vo))), lanes);
  storeLanes(dc + o, f32x4.mul(dcv, vf), lanes);
}

function lstmGrads(n: i32, Hb: usize, g: usize, c: usize, cp: usize, dy: usize, dh: usize, dc: usize, dG: usize): void {
  let j = 0;
  for (; j + 4 <= n; j += 4) lstmGradsLanes(4, f4(j), Hb, g, c, cp, dy, dh, dc, dG);
  if (j < n) lstmGradsLanes(n - j, f4(j), Hb, g, c, cp, dy, dh, dc, dG);
}

/** gru: blocks n_i, r, z, n_h; hp: h_prev. Workspace: g = r, z, n; ghn = n_h. */
// @ts-ignore: decorator
@inline function gruGatesLanes(lanes: i32, o: usize, pre: usize, hp: usize, h: usize, g: usize, ghn: usize,
  Hb: usize): void {
  const p = pre + o;
  const vr = vsigmoid(loadLanes(p + 64, lanes));
  const vz = vsigmoid(loadLanes(p + 128, lanes));
  const vgh = loadLanes(p + 192, lanes);
  const vn = vtanh(f32x4.add(loadLanes(p, lanes), f32x4.mul(vr, vgh)));
  const vh = f32x4.add(vn, f32x4.mul(vz, f32x4.sub(loadLanes(hp + o, lanes), vn)));
  if (g != 0) {
    storeLanes(g + o, vr, lanes);
    storeLanes(g + Hb + o, vz, lanes);
    storeLanes(g + 2 * Hb + o, vn, lanes);
    storeLanes(ghn + o, vgh, lanes);
  }
  storeLanes(h + o, vh, lanes);
}

function gruGates(n: i32, pre: usize, hp: usize, h: usize, g: usize, ghn: usize, Hb: usize): void {
  let j = 0;
  for (; j + 4 <= n; j += 4) gruGatesLanes(4, f4(j), chunkPre(pre, j, 4), hp, h, g, ghn, Hb);
  if (j < n) gruGatesLanes(n - j, f4(j), chunkPre(pre, j, 4), hp, h, g, ghn, Hb);
}

/**
 * gru backward: g[3H] = r,z,n; ghn[H]; hp[H] = h_prev; dy[H]; dh[H] in: dh_next, out: the direct term dh*z.
 * Writes dG[3H] = [da_r, da_z, da_n] (for W_ih), dgh[3H] = [da_r, da_z, da_n*r] (for this step's W_hh product)
 * and dghn[H] = da_n*r (kept for the W_hh gradient GEMM).
 */
// @ts-ignore: decorator
@inline function gruGradsLanes(lanes: i32, o: usize, Hb: usize, g: usize, ghn: usize, hp: usize, dy: usize,
  dh: usize, dG: usize, dgh: usize, dghn: usize): void {
  const H2 = Hb << 1;
  const one = f32x4.splat(1);
  const vr = loadLanes(g + o, lanes);
  const vz = loadLanes(g + Hb + o, lanes);
  const vn = loadLanes(g + H2 + o, lanes);
  const d = f32x4.add(loadLanes(dy + o, lanes), loadLanes(dh + o, lanes));
  const dn = f32x4.mul(d, f32x4.sub(one, vz));
  const dz = f32x4.mul(d, f32x4.sub(loadLanes(hp + o, lanes), vn));
  const dan = f32x4.mul(dn, f32x4.sub(one, f32x4.mul(vn, vn)));
  const dr = f32x4.mul(dan, loadLanes(ghn + o, lanes));
  const dar = f32x4.mul(dr, f32x4.mul(vr, f32x4.sub(one, vr)));
  const daz = f32x4.mul(dz, f32x4.mul(vz, f32x4.sub(one, vz)));
  const danr = f32x4.mul(dan, vr);
  storeLanes(dG + o, dar, lanes);
  storeLanes(dG + Hb + o, daz, lanes);
  storeLanes(dG + H2 + o, dan, lanes);
  storeLanes(dgh + o, dar, lanes);
  storeLanes(dgh + Hb + o, daz, lanes);
  storeLanes(dgh + H2 + o, danr, lanes);
  storeLanes(dghn + o, danr, lanes);
  storeLanes(dh + o, f32x4.mul(d, vz), lanes);
}

function gruGrads(n: i32, Hb: usize, g: usize, ghn: usize, hp: usize, dy: usize, dh: usize, dG: usize, dgh: usize,
  dghn: usize): void {
  let j = 0;
  for (; j + 4 <= n; j += 4) gruGradsLanes(4, f4(j), Hb, g, ghn, hp, dy, dh, dG, dgh, dghn);
  if (j < n) gruGradsLanes(n - j, f4(j), Hb, g, ghn, hp, dy, dh, dG, dgh, dghn);
}

// ---------------------------------------------------------------------------------------------------------
// The sequence loops.

/**
 * Thread tid's part of cellForward: x [T,B,I], h0 [B,H], c0 [B,H] (lstm, else 0), wih [G*H,I], whh [G*H,H],
 * bih bhh [G*H] -> y [T,B,H], hT [B,H], cT [B,H] (lstm); ws (workspace for backward, 0 for inference):
 * lstm [T,B,4H] gates + [T,B,H] c_t, gru [T,B,3H] r,z,n + [T,B,H] ghn. kind: 0 rnn_tanh, 1 rnn_relu, 2 lstm,
 * 3 gru. reverse: process T-1 .. 0. The thread owns chunks [c0, c1) of 16 hidden units (all gates of them).
 *
 * Every TC steps the thread computes the input projection of its chunks for those steps (one GEMM). Each step:
 * one product h_prev W_hhᵀ over all its panels, accumulated into the pre-activations (h_prev packed once per
 * step: batch rows in blocks whose packed rows fit the thread's packing area; depth blocks that keep a packed A
 * block in L1), chunk by chunk, each chunk's gate math right after its last depth block; batch 1 (a
 * matrix-vector product) goes over all the thread's panels at once instead (gemvPanels: three panels per pass),
 * then the gate math of all its units in one call, and takes no chunk over (a row times the weights reads each
 * weight once, from its owner's cache). Chunks (panels) alternate direction from step to step, so the weights the
 * last step read most recently, still in cache, come first. One barrier per step.
 *
 * packed / src: a packing kept between calls (0: pack into the scratch), with `pack` saying how to use it:
 * PACK_CHECK compares the weights with src, its copy of the weights packed, and repacks the rows that differ;
 * PACK_NEW packs without comparing; PACK_KEPT uses the packing as it is (the caller knows no byte of W_ih or W_hh
 * was written since the call that packed or checked it: src/backend/wasm-core.ts, packFor).
 */
export function cellForward(tid: i32, nt: i32, kind: i32, T: i32, B: i32, I: i32, H: i32, reverse: i32,
  x: usize, h0: usize, c0: usize, wih: usize, whh: usize, bih: usize, bhh: usize,
  y: usize, hT: usize, cT: usize, ws: usize, scratch: usize, packed: usize, src: usize, pack: i32): void {
  const G = gatesOf(kind);
  const GB = blocksOf(kind);
  const GH = G * H;
  const P = pad16(H);
  const W = GB * P; // floats per pre-activation row
  const BH = B * H;
  const BGH = B * GH;
  const TC = stepChunk(T, B);
  const gemv = B == 1; // a matrix-vector product per step: gemvPanels
  // The packed weights: kept between calls at `packed` when the loader caches them (inference: see
  // packedWeightFloats), else packed into the scratch on every call.
  const wihP = packed != 0 ? packed : scratch;
  const whhP = wihP + f4(a16(G * P * I));
  const biasRow = packed != 0 ? scratch : whhP + f4(a16(G * P * H));
  const pre = biasRow + f4(a16(W));
  const wsS = ws + f4(T * BGH); // lstm: c_t; gru: ghn
  const Hb = f4(H);
  const GHb = f4(GH);
  const WB = f4(W);
  const chunkB = f4(GB * NR);
  const gOff = kind == GRU ? 1 : 0; // block of W_hh's first gate
  const nMask = kind == GRU ? 4 : 0; // W_hh panels that start from the bias row: gru's n
  // The thread's hidden units: its share of them, or (batch groups) all of them for its share of the rows.
  const groups = !gemv && batchGroups(nt, B, H, G * H, TC, I);
  const pu0 = splitBegin(H, nt, tid, NR); // the units whose weights this thread packs (and checks)
  const pu1 = splitEnd(H, nt, tid, NR);
  const u0 = groups ? 0 : pu0;
  const u1 = groups ? H : pu1;
  const w = u1 - u0;
  const ch0 = u0 / NR;
  const nch = (w + NR - 1) / NR;
  const rb0 = groups ? splitBegin(B, nt, tid, 1) : 0; // the thread's batch rows
  const rb1 = groups ? splitEnd(B, nt, tid, 1) : B;
  const rows = rb1 - rb0;
  const colB = <usize>ch0 * chunkB; // the thread's first column of a pre-activation row, in bytes
  const wihT = wihP + f4(ch0 * G * I * NR);
  const whhT = whhP + f4(ch0 * G * H * NR);
  const psB = f4(H * NR);
  // packed h_prev: all of packA and packB (contiguous), rows in blocks of mb
  const mb = min<i32>(rows, max<i32>(1, (PACK_A_FLOATS + PACK_B_FLOATS) / H));

  const pw = pu1 - pu0;
  if (pw > 0) {
    // Cached: this thread's rows of W_ih and W_hh compared with the copy they were packed from, repacked (then
    // copied) where any bit differs, so weights changed in place are never served stale (unless PACK_KEPT).
    const pc0 = pu0 / NR;
    const pc1 = pc0 + (pw + NR - 1) / NR;
    if (packed == 0 || pack == PACK_NEW || (pack == PACK_CHECK && !sameRows(G, wih, whh, src, I, H, pu0, pw))) {
      packChunks(kind, 1, wih, I, H, pc0, pc1, wihP + f4(pc0 * G * I * NR));
      packChunks(kind, 0, whh, H, H, pc0, pc1, whhP + f4(pc0 * G * H * NR));
      if (packed != 0) copyRows(G, wih, whh, src, I, H, pu0, pw);
    }
    fillBiasRow(kind, H, bih, bhh, pc0, pc1, biasRow);
  }
  if (groups) {
    if (tid == 0) noteGroupCall();
    barrier(nt); // every thread reads every chunk's weights and bias row
  }
  // One block of batch rows (the usual case): h_prev is packed once per step and chunks are shared between
  // threads (claimChunk); more rows than the packing area holds: blocks of rows, each thread its own chunks.
  const share = !groups && mb >= B; // (batch 1 takes no chunk over: see the gemv step below; groups share nothing)
  const groupPre = <usize>(rb0 * TC) * WB; // the thread's rows of pre (groups: its block of TC * rows)
  let tLo = 0;
  for (let s = 0; s < T; s++) {
    const t = reverse != 0 ? T - 1 - s : s;
    const tp = reverse != 0 ? t + 1 : t - 1;
    const hp = s == 0 ? h0 : y + f4(tp * BH);
    if (s % TC == 0) {
      const n = min<i32>(TC, T - s);
      tLo = reverse != 0 ? T - s - n : s;
      // A group's rows of pre: a block of TC * rows of its own (group-major), its rows of x gathered first
      let xa = x + f4(tLo * B * I);
      if (groups) {
        for (let j = 0; j < n; j++) memory.copy(packB + f4(j * rows * I), xa + f4((j * B + rb0) * I), f4(rows * I));
        xa = packB;
      }
      if (w > 0) projectChunks(kind, n * rows, I, xa, I, wihT, nch, pre + groupPre + colB, W, biasRow + colB);
    }
    const preT = pre + groupPre + <usize>((t - tLo) * rows) * WB;
    const rev = s & 1;
    const cp = s == 0 ? c0 : ws != 0 ? wsS + f4(tp * BH) : cT;
    const cOut = ws != 0 ? wsS + f4(t * BH) : cT;
    if (gemv) {
      // Batch 1: every panel of the thread in one pass, then the gate math of all its units in one call (a gate
      // function sets up its vector constants once per call: once a step instead of once a chunk).
      for (let i = 0; i < nch; i++) testLag();
      if (w > 0) {
        const p = preT + colB;
        gemvPanels(kind, H, hp, whhT, nch * G, p, biasRow + colB, rev);
        const hRow = y + f4(t * BH + u0);
        const gOut = ws != 0 ? ws + f4(t * BGH + u0) : 0;
        if (kind == LSTM) lstmGates(w, p, cp + f4(u0), cOut + f4(u0), hRow, gOut, Hb);
        else if (kind == GRU) gruGates(w, p, hp + f4(u0), hRow, gOut, gOut != 0 ? wsS + f4(t * BH + u0) : 0, Hb);
        else rnnGates(w, kind == RNN_RELU ? 1 : 0, p, hRow);
      }
      barrier(nt); // every unit of h_t is written before any thread reads it
      continue;
    }
    for (let rb = rb0; rb < rb1; rb += mb) {
      const mc = min<i32>(mb, rb1 - rb);
      let kcMax = H;
      if (mc >= 2 && mc * H > L1_A_FLOATS) kcMax = max<i32>(64, (L1_A_FLOATS / mc) & ~7);
      for (let pc = 0; pc < H; pc += kcMax) {
        packABlock(0, hp + f4(rb * H + pc), H, mc, min<i32>(kcMax, H - pc), packA + f4(mc * pc), 1);
      }
      if (share) openClaims(tid, s);
      const rowsT = preT + <usize>(rb - rb0) * WB;
      const owners = share ? nt : 1;
      for (let o = 0; o < owners; o++) {
        const owner = (tid + o) % nt;
        const oc0 = groups ? 0 : splitBegin(H, nt, owner, NR) / NR;
        const onch = groups ? nch : (splitEnd(H, nt, owner, NR) - oc0 * NR + NR - 1) / NR;
        for (let i = 0; ; i++) {
          const q = share ? claimChunk(owner, s, onch) : i < onch ? i : -1;
          if (q < 0) break;
          if (o > 0) noteSharedChunk();
          else testLag();
          const c = oc0 + (rev != 0 ? onch - 1 - q : q);
          const preC = rowsT + <usize>c * chunkB;
          const biasC = biasRow + <usize>c * chunkB;
          const whhC = whhP + <usize>(c * G) * psB;
          for (let pc = 0; pc < H; pc += kcMax) {
            chunkTiles(G, gOff, mc, min<i32>(kcMax, H - pc), packA + f4(mc * pc), whhC + f4(pc * NR), psB, preC,
              WB, biasC, pc == 0 ? nMask : 0);
          }
          // gate math of the chunk, its rows still in cache
          const uc = c * NR;
          const n = min<i32>(NR, H - uc);
          for (let b = rb; b < rb + mc; b++) {
            const p = preC + <usize>(b - rb) * WB;
            const rowH = <usize>b * Hb + f4(uc);
            const hRow = y + f4(t * BH) + rowH;
            const gOut = ws != 0 ? ws + f4(t * BGH) + <usize>b * GHb + f4(uc) : 0;
            if (kind == LSTM) lstmGates(n, p, cp + rowH, cOut + rowH, hRow, gOut, Hb);
            else if (kind == GRU) gruGates(n, p, hp + rowH, hRow, gOut, gOut != 0 ? wsS + f4(t * BH) + rowH : 0, Hb);
            else rnnGates(n, kind == RNN_RELU ? 1 : 0, p, hRow);
          }
        }
      }
    }
    if (!groups) barrier(nt); // every unit of h_t is written before any thread reads it
  }
  if (groups) barrier(nt); // (no step's barrier: the groups' rows are sequences of their own) all rows written
  if (tid == 0) {
    const tLast = reverse != 0 ? 0 : T - 1;
    memory.copy(hT, y + f4(tLast * BH), f4(BH));
    if (kind == LSTM && ws != 0) memory.copy(cT, wsS + f4(tLast * BH), f4(BH));
  }
}

/**
 * Thread tid's share of sgemm: the rows of C are split in pairs, or, when M is too small to share, the
 * columns in whole panels. Every thread packs the op(B) it reads itself (no barrier inside).
 */
export function gemmPart(tid: i32, nt: i32, transA: i32, transB: i32, M: i32, N: i32, K: i32, alpha: f32, A: usize,
  lda: i32, B: usize, ldb: i32, beta: f32, C: usize, ldc: i32): void {
  if (nt <= 1) {
    sgemm(transA, transB, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
    return;
  }
  if (M >= 16 * nt || M >= N) {
    const r0 = splitBegin(M, nt, tid, 2);
    const r1 = splitEnd(M, nt, tid, 2);
    if (r1 <= r0) return;
    const a = transA != 0 ? A + f4(r0) : A + f4(r0 * lda);
    sgemm(transA, transB, r1 - r0, N, K, alpha, a, lda, B, ldb, beta, C + f4(r0 * ldc), ldc);
  } else {
    const c0 = splitBegin(N, nt, tid, NR);
    const c1 = splitEnd(N, nt, tid, NR);
    if (c1 <= c0) return;
    const b = transB != 0 ? B + f4(c0 * ldb) : B + f4(c0);
    sgemm(transA, transB, M, c1 - c0, K, alpha, A, lda, b, ldb, beta, C + f4(c0), ldc);
  }
}

/** Column sums over thread tid's share of the columns (blocks of 16): dst[j] += Σ_r src[r*ld + j]. */
export function colSumAddPart(tid: i32, nt: i32, dst: usize, src: usize, rows: i32, cols: i32, ld: i32): void {
  const c0 = splitBegin(cols, nt, tid, 16);
  const c1 = splitEnd(cols, nt, tid, 16);
  if (c1 > c0) colSumAdd(dst + f4(c0), src + f4(c0), rows, c1 - c0, ld);
}

// dW_hh[M rows, H] += Σ_t dgh[t]ᵀ Hprev[t], where dgh rows (t, b) are A + (t*B + b)*lda and Hprev[t] is h0 at the
// first processed position, else y at the previous one: two GEMMs over contiguous runs of y, split the same way
// between the threads (same M and N), so each thread accumulates into the same rows of C twice.
function addStateGradPart(tid: i32, nt: i32, M: i32, A: usize, lda: i32, C: usize, T: i32, B: i32, H: i32,
  reverse: i32, h0: usize, y: usize): void {
  const first = reverse != 0 ? T - 1 : 0;
  gemmPart(tid, nt, 1, 0, M, H, B, 1, A + f4(first * B * lda), lda, h0, H, 1, C, H);
  if (T > 1) {
    if (reverse == 0) gemmPart(tid, nt, 1, 0, M, H, (T - 1) * B, 1, A + f4(B * lda), lda, y, H, 1, C, H);
    else gemmPart(tid, nt, 1, 0, M, H, (T - 1) * B, 1, A, lda, y + f4(B * H), H, 1, C, H);
  }
}

/**
 * Thread tid's part of BPTT for cellForward (same sizes and inputs, plus y [T,B,H], ws, dy [T,B,H], dhT [B,H],
 * dcT [B,H] lstm). Accumulates (+=) dx [T,B,I], dwih [G*H,I], dwhh [G*H,H], dbih, dbhh [G*H]; overwrites dh0,
 * dc0 [B,H]. Per step: the gate gradients of the thread's units, a barrier (the recurrent product reads every
 * unit's), then its columns of dh_prev = dgh W_hh. A thread only ever reads its own columns of dh0 / dc0, and
 * the dgh a product reads is kept for two steps (dG is per position; gru's dgh alternates between two buffers),
 * so one barrier per step suffices.
 */
export function cellBackward(tid: i32, nt: i32, kind: i32, T: i32, B: i32, I: i32, H: i32, reverse: i32,
  x: usize, h0: usize, c0: usize, wih: usize, whh: usize, bih: usize, bhh: usize,
  y: usize, ws: usize, dy: usize, dhT: usize, dcT: usize,
  dx: usize, dh0: usize, dc0: usize, dwih: usize, dwhh: usize, dbih: usize, dbhh: usize, scratch: usize): void {
  const G = gatesOf(kind);
  const GH = G * H;
  const BH = B * H;
  const BGH = B * GH;
  const whhP = scratch;
  const dG = whhP + f4(a16(GH * pad16(H)));
  const dghn = dG + f4(a16(T * BGH));
  const dgh = dghn + f4(a16(T * BH));
  const wsS = ws + f4(T * BGH);
  const Hb = f4(H);
  const GHb = f4(GH);
  // Batch groups (as the forward's, batchGroups): each thread all the units of its rows, no step's barrier; the
  // product's columns here are the H units. W_hh is packed by units either way (then a barrier with groups).
  const groups = evenGroups(nt, B, H);
  const pu0 = splitBegin(H, nt, tid, NR);
  const pw = splitEnd(H, nt, tid, NR) - pu0;
  const u0 = groups ? 0 : pu0;
  const w = groups ? H : pw;
  const u0b = f4(u0);
  const rb0 = groups ? splitBegin(B, nt, tid, 1) : 0; // the thread's batch rows
  const rb1 = groups ? splitEnd(B, nt, tid, 1) : B;

  if (pw > 0) packPanels(0, whh, H, 0, GH, pu0, pw, whhP + f4(pu0 * GH), GH * NR);
  if (groups) {
    if (tid == 0) noteGroupCall();
    barrier(nt); // every thread reads all of W_hh
  }
  if (w > 0) {
    for (let b = rb0; b < rb1; b++) {
      const o = <usize>b * Hb + u0b;
      memory.copy(dh0 + o, dhT + o, f4(w)); // dh0 carries dh_next through the loop
      if (kind == LSTM) memory.copy(dc0 + o, dcT + o, f4(w)); // and dc0 carries dc_next
    }
  }

  for (let s = T - 1; s >= 0; s--) {
    const t = reverse != 0 ? T - 1 - s : s;
    const tp = reverse != 0 ? t + 1 : t - 1;
    const dGt = dG + f4(t * BGH);
    const dghS = dgh + f4((s & 1) * BGH);
    if (w > 0) {
      for (let b = rb0; b < rb1; b++) {
        const rowH = <usize>b * Hb + u0b;
        const rowG = <usize>b * GHb + u0b;
        const dyRow = dy + f4(t * BH) + rowH;
        const dhRow = dh0 + rowH;
        const dGRow = dGt + rowG;
        if (kind == LSTM) {
          const cp = s == 0 ? c0 : wsS + f4(tp * BH);
          lstmGrads(w, Hb, ws + f4(t * BGH) + rowG, wsS + f4(t * BH) + rowH, cp + rowH, dyRow, dhRow,
            dc0 + rowH, dGRow);
        } else if (kind == GRU) {
          const hp = s == 0 ? h0 : y + f4(tp * BH);
          gruGrads(w, Hb, ws + f4(t * BGH) + rowG, wsS + f4(t * BH) + rowH, hp + rowH, dyRow, dhRow, dGRow,
            dghS + rowG, dghn + f4(t * BH) + rowH);
        } else {
          rnnGrads(w, kind == RNN_RELU ? 1 : 0, y + f4(t * BH) + rowH, dyRow, dhRow, dGRow);
        }
      }
    }
    if (!groups) barrier(nt); // every unit's gate gradients of this step are written
    // dh_prev = dgh W_hh (+ the gru direct term already in dh0), this thread's columns (groups: its rows, the
    // depth blocks of all B rows' product)
    if (w > 0) {
      const rows = rb1 - rb0;
      const rowG = f4(rb0 * GH);
      const dhRows = dh0 + f4(rb0 * H) + u0b;
      if (kind == GRU) gemmPacked(rows, w, GH, 1, dghS + rowG, GH, 0, whhP + f4(u0 * GH), GH * NR, 1, dhRows, H, s & 1, B);
      else gemmPacked(rows, w, GH, 1, dGt + rowG, GH, 0, whhP + f4(u0 * GH), GH * NR, 0, dhRows, H, s & 1, B);
    }
  }
  barrier(nt); // dG complete

  const TB = T * B;
  gemmPart(tid, nt, 0, 0, TB, I, GH, 1, dG, GH, wih, I, 1, dx, I);
  gemmPart(tid, nt, 1, 0, GH, I, TB, 1, dG, GH, x, I, 1, dwih, I);
  colSumAddPart(tid, nt, dbih, dG, TB, GH, GH);
  if (kind == GRU) {
    addStateGradPart(tid, nt, 2 * H, dG, GH, dwhh, T, B, H, reverse, h0, y);
    addStateGradPart(tid, nt, H, dghn, H, dwhh + f4(2 * H * H), T, B, H, reverse, h0, y);
    colSumAddPart(tid, nt, dbhh, dG, TB, 2 * H, GH);
    colSumAddPart(tid, nt, dbhh + 2 * Hb, dghn, TB, H, H);
  } else {
    addStateGradPart(tid, nt, GH, dG, GH, dwhh, T, B, H, reverse, h0, y);
    colSumAddPart(tid, nt, dbhh, dG, TB, GH, GH);
  }
  barrier(nt);
}
