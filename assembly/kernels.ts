// rnnkit's WebAssembly kernels: one RNN layer and direction over a whole sequence batch, per native/KERNELS.md.
//
// Sizes: T time steps, B batch, I input features, H hidden units, G gates (rnn 1, lstm 4, gru 3).
// Every pointer is a byte offset into linear memory; every buffer is float32, row-major, sequence-major.
// JavaScript owns all memory above heapBase(): these functions never allocate.
//
// One source, four builds (scripts/build-wasm.cjs): plain SIMD128 or relaxed SIMD (f32x4.relaxed_madd, a fused
// multiply-add), each with a private memory (one thread) or an imported shared memory (threads). In the threaded
// builds every thread runs its own instance of the module over the shared memory: wasm globals (the thread's
// packing area below) are per instance, memory is shared. A job is described in the control block by the
// main thread (thread 0), which then runs its part; the workers (threads 1..nt-1) sit in workerLoop and run
// theirs. A job's parts meet at spin-then-wait barriers; the last one ends the job, so when thread 0 returns
// every thread has finished writing.
//
// Threads split work as native/kernels.cc does: the recurrent loop gives each thread a range of hidden units
// (whole chunks of 16) and all G gates of them: input projection, recurrent projection and gate math of those
// units are the thread's alone, and one barrier per step (every unit of h_t written) suffices. Forward packs
// W_ih / W_hh chunk by chunk (a chunk's G panels of 16 columns together, so a thread's panels are one
// contiguous range) and keeps one pre-activation buffer that starts from the biases and takes the input
// projection (a few steps at a time) and each step's recurrent product; per step h_prev is packed once for all
// of the thread's panels, and each chunk's gate math runs right after its product (see cellForwardPart); a
// thread done with its own chunks of a step takes those another thread has not started (claimChunk).
// Backward: per step a thread computes the gate gradients of its units, a barrier, then its columns of
// dh_prev = dgh W_hh (W_hh packed per gate there). Weight-gradient GEMMs after the loop split by rows.

// ---------------------------------------------------------------------------------------------------------
// Per-thread state (wasm globals are per instance, so per thread): a packing area for sgemm, given by
// JavaScript (setThread) from its allocator: PACK_A_FLOATS of packed op(A), KC x NC of packed op(B), a tile.

const KC: i32 = 256; // depth of a packed block
const NC: i32 = 1024; // columns of op(B) packed at once by sgemm
const PACK_A_FLOATS: i32 = 32768; // 128 KiB of packed op(A): at most 128 rows x 256 deep, stays in L2
const PACK_B_FLOATS: i32 = KC * NC; // 1 MiB of packed op(B)
const TILE_FLOATS: i32 = 64; // one 2x16, 1x32 or 6x8 tile for partial write-back
const L1_A_FLOATS: i32 = 4096; // 16 KiB: packed A a small-M product keeps in L1 (gemmPacked)

let packA: usize = 0;
let packB: usize = 0;
let tile: usize = 0;
let spinLimit: i32 = 1 << 16; // barrier polls before sleeping
let ctrl: usize = 0; // the control block shared by all threads (below), allocated by JavaScript

/** First free byte: JavaScript's allocator starts here (rounded up to 64). */
export function heapBase(): usize {
  return __heap_base;
}

/** Bytes of one thread's packing area (setThread). */
export function threadContextBytes(): i32 {
  return (PACK_A_FLOATS + PACK_B_FLOATS + TILE_FLOATS) << 2;
}

/**
 * Gives this instance (thread) its packing area (64-byte aligned, threadContextBytes long), its barrier spins and
 * the control block (zeroed, ctrlLayout(5) bytes, the same for every thread). Memory, not a static data segment:
 * a threaded build's data segments are written again by every instance that starts.
 */
export function setThread(ctx: usize, spins: i32, control: usize): void {
  ctrl = control;
  packA = ctx;
  packB = ctx + f4(PACK_A_FLOATS);
  tile = packB + f4(PACK_B_FLOATS);
  spinLimit = spins;
}

/** Which build this is: bit 0 relaxed SIMD, bit 1 threads (shared memory). */
export function buildFeatures(): i32 {
  return (ASC_FEATURE_RELAXED_SIMD ? 1 : 0) | (ASC_FEATURE_THREADS ? 2 : 0);
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

function gatesOf(kind: i32): i32 {
  return kind == 2 ? 4 : kind == 3 ? 3 : 1;
}

/** c + a*b: one fused multiply-add in the relaxed builds, a multiply then an add otherwise. */
// @ts-ignore: decorator
@inline function madd(a: v128, b: v128, c: v128): v128 {
  if (ASC_FEATURE_RELAXED_SIMD) return f32x4.relaxed_madd(a, b, c);
  return f32x4.add(c, f32x4.mul(a, b));
}

// ---------------------------------------------------------------------------------------------------------
// Threads: the control block (one for all threads, from JavaScript's allocator) and the barrier.
// Byte offsets in CTRL, hot fields on their own cache lines:
const JOB_GEN: usize = 0; // bumped by thread 0 for each threaded job; workers wait on it
const JOB_SLEEP: usize = 4; // workers asleep on JOB_GEN (thread 0 notifies only when non-zero)
const READY: usize = 8; // workers that entered workerLoop
const IDLE_WAITS: usize = 12; // statistics: times a worker slept between jobs
const SHARED_CHUNKS: usize = 16; // statistics: chunks cellForwardPart's threads took over from another
const LAG_WORD: usize = 20; // always 0: what the test lag waits on (setTestLag)
const BAR_COUNT: usize = 64; // threads arrived at the current barrier
const BAR_GEN: usize = 68; // barrier generation
const BAR_SLEEP: usize = 72; // threads asleep on BAR_GEN
const BAR_WAITS: usize = 76; // statistics: barrier waits that had to sleep
const OP: usize = 128; // the job: 0 exit (workers return from workerLoop), else a JOB_* code
const NT: usize = 132; // threads taking part
const ARGS: usize = 192; // the job's arguments: i32 / u32 / f32 slots of 4 bytes
const MAX_ARGS: i32 = 48;
const CLAIMS: usize = 448; // per-thread chunk counters of cellForwardPart, 64 bytes apart (claimChunk)
const MAX_THREADS: i32 = 16; // as src/backend/wasm.ts
const CTRL_BYTES: i32 = <i32>CLAIMS + MAX_THREADS * 64;

export const JOB_CELL_FORWARD: i32 = 1;
export const JOB_CELL_BACKWARD: i32 = 2;
export const JOB_SGEMM: i32 = 3;
export const JOB_LINEAR_FORWARD: i32 = 4;
export const JOB_LINEAR_BACKWARD: i32 = 5;

/**
 * Offsets JavaScript needs (bytes into the control block): 0 ARGS, 1 OP, 2 NT, 3 READY, 4 BAR_WAITS, 5 the
 * block's size, 6 IDLE_WAITS, 7 SHARED_CHUNKS, else MAX_ARGS.
 */
export function ctrlLayout(i: i32): i32 {
  return i == 0 ? <i32>ARGS : i == 1 ? <i32>OP : i == 2 ? <i32>NT : i == 3 ? <i32>READY : i == 4 ? <i32>BAR_WAITS
    : i == 5 ? CTRL_BYTES : i == 6 ? <i32>IDLE_WAITS : i == 7 ? <i32>SHARED_CHUNKS : MAX_ARGS;
}

/** All nt threads of the job meet here: spin for spinLimit polls, then sleep (the last to arrive notifies). */
function barrier(nt: i32): void {
  if (ASC_FEATURE_THREADS) {
    if (nt <= 1) return;
    const gen = atomic.load<i32>(ctrl + BAR_GEN);
    if (atomic.add<i32>(ctrl + BAR_COUNT, 1) == nt - 1) {
      atomic.store<i32>(ctrl + BAR_COUNT, 0);
      atomic.add<i32>(ctrl + BAR_GEN, 1);
      if (atomic.load<i32>(ctrl + BAR_SLEEP) != 0) atomic.notify(ctrl + BAR_GEN, 0x7fffffff);
      return;
    }
    let n = 0;
    while (atomic.load<i32>(ctrl + BAR_GEN) == gen) {
      if (++n > spinLimit) {
        atomic.add<i32>(ctrl + BAR_SLEEP, 1);
        atomic.wait<i32>(ctrl + BAR_GEN, gen, -1);
        atomic.sub<i32>(ctrl + BAR_SLEEP, 1);
        atomic.add<i32>(ctrl + BAR_WAITS, 1);
        n = 0;
      }
    }
  }
}

// @ts-ignore: decorator
@inline function argI(i: i32): i32 {
  return load<i32>(ctrl + ARGS + f4(i));
}

// @ts-ignore: decorator
@inline function argP(i: i32): usize {
  return <usize>load<u32>(ctrl + ARGS + f4(i));
}

// @ts-ignore: decorator
@inline function argF(i: i32): f32 {
  return load<f32>(ctrl + ARGS + f4(i));
}

/** Runs this thread's part of the job described in CTRL. */
function runJob(tid: i32): void {
  const op = load<i32>(ctrl + OP);
  const nt = load<i32>(ctrl + NT);
  if (op == JOB_CELL_FORWARD) {
    cellForwardPart(tid, nt, argI(0), argI(1), argI(2), argI(3), argI(4), argI(5),
      argP(6), argP(7), argP(8), argP(9), argP(10), argP(11), argP(12), argP(13), argP(14), argP(15), argP(16),
      argP(17));
  } else if (op == JOB_CELL_BACKWARD) {
    cellBackwardPart(tid, nt, argI(0), argI(1), argI(2), argI(3), argI(4), argI(5),
      argP(6), argP(7), argP(8), argP(9), argP(10), argP(11), argP(12), argP(13), argP(14), argP(15), argP(16),
      argP(17), argP(18), argP(19), argP(20), argP(21), argP(22), argP(23), argP(24), argP(25));
  } else if (op == JOB_SGEMM) {
    sgemmPart(tid, nt, argI(0), argI(1), argI(2), argI(3), argI(4), argF(5), argP(6), argI(7), argP(8), argI(9),
      argF(10), argP(11), argI(12));
    barrier(nt);
  } else if (op == JOB_LINEAR_FORWARD) {
    linearForwardPart(tid, nt, argI(0), argI(1), argI(2), argP(3), argP(4), argP(5), argP(6));
  } else if (op == JOB_LINEAR_BACKWARD) {
    linearBackwardPart(tid, nt, argI(0), argI(1), argI(2), argP(3), argP(4), argP(5), argP(6), argP(7), argP(8));
  }
}

/**
 * Thread 0 (the caller) runs the job in CTRL on nt threads: wakes the workers when nt > 1, does its part, and
 * returns when every part is done.
 */
export function run(): void {
  if (ASC_FEATURE_THREADS) {
    if (load<i32>(ctrl + NT) > 1) {
      memory.fill(ctrl + CLAIMS, 0, <usize>MAX_THREADS * 64); // no counter is open for any step of this job
      atomic.add<i32>(ctrl + JOB_GEN, 1);
      if (atomic.load<i32>(ctrl + JOB_SLEEP) != 0) atomic.notify(ctrl + JOB_GEN, 0x7fffffff);
    }
  }
  runJob(0);
}

/**
 * A worker's life: announce itself (READY), then run thread tid's part of every job until a job with OP 0.
 * Between jobs it polls idleSpins times, then sleeps on JOB_GEN.
 */
export function workerLoop(tid: i32, idleSpins: i32): void {
  if (ASC_FEATURE_THREADS) {
    let seen = atomic.load<i32>(ctrl + JOB_GEN);
    atomic.add<i32>(ctrl + READY, 1);
    while (true) {
      let n = 0;
      let g = atomic.load<i32>(ctrl + JOB_GEN);
      while (g == seen) {
        if (++n > idleSpins) {
          atomic.add<i32>(ctrl + JOB_SLEEP, 1);
          atomic.wait<i32>(ctrl + JOB_GEN, seen, -1);
          atomic.sub<i32>(ctrl + JOB_SLEEP, 1);
          atomic.add<i32>(ctrl + IDLE_WAITS, 1);
          n = 0;
        }
        g = atomic.load<i32>(ctrl + JOB_GEN);
      }
      seen = g;
      if (load<i32>(ctrl + OP) == 0) {
        atomic.sub<i32>(ctrl + READY, 1);
        return;
      }
      runJob(tid);
    }
  }
}

// Per-step work sharing in cellForwardPart, as in native/kernels.cc: a virtual machine's cores often run at
// different speeds from moment to moment, so a thread claims its chunks one at a time and, done with its own,
// takes the chunks another thread has not started. Thread i's counter (CLAIMS + 64 i) holds the step it is open
// for (high half, step + 1, stored once the owner's input projection for the step is written) and how many of
// its chunks are claimed (low half). A chunk is computed the same way by any thread.

let testLagNs: i32 = 0;

/** Testing only: this instance's thread pauses ns nanoseconds before each chunk of its own (threaded builds). */
export function setTestLag(ns: i32): void {
  testLagNs = ns;
}

// @ts-ignore: decorator
@inline function openClaims(tid: i32, s: i32): void {
  const at = ctrl + CLAIMS + (<usize>tid << 6);
  if (ASC_FEATURE_THREADS) atomic.store<i64>(at, (<i64>(s + 1)) << 32);
  else store<i64>(at, (<i64>(s + 1)) << 32);
}

/** The next unclaimed chunk (0-based, < n) of thread owner's counter if it is open for step s, else -1. */
function claimChunk(owner: i32, s: i32, n: i32): i32 {
  const at = ctrl + CLAIMS + (<usize>owner << 6);
  const tag = (<i64>(s + 1)) << 32;
  if (ASC_FEATURE_THREADS) {
    let v = atomic.load<i64>(at);
    while ((v & 0xffffffff00000000) == tag && <i32>(v & 0xffffffff) < n) {
      const seen = atomic.cmpxchg<i64>(at, v, v + 1);
      if (seen == v) return <i32>(v & 0xffffffff);
      v = seen;
    }
    return -1;
  }
  const v = load<i64>(at);
  if ((v & 0xffffffff00000000) != tag || <i32>(v & 0xffffffff) >= n) return -1;
  store<i64>(at, v + 1);
  return <i32>(v & 0xffffffff);
}

/** [lo, hi) of thread tid's share of n items, in whole blocks of `unit` (the last share takes the rest). */
// @ts-ignore: decorator
@inline function shareLo(n: i32, nt: i32, tid: i32, unit: i32): i32 {
  const blocks = (n + unit - 1) / unit;
  return min<i32>(n, <i32>((<i64>blocks * tid) / nt) * unit);
}

// @ts-ignore: decorator
@inline function shareHi(n: i32, nt: i32, tid: i32, unit: i32): i32 {
  return tid == nt - 1 ? n : shareLo(n, nt, tid + 1, unit);
}

/** c - a*b, fused in the relaxed builds. */
// @ts-ignore: decorator
@inline function nmadd(a: v128, b: v128, c: v128): v128 {
  if (ASC_FEATURE_RELAXED_SIMD) return f32x4.relaxed_nmadd(a, b, c);
  return f32x4.sub(c, f32x4.mul(a, b));
}

// ---------------------------------------------------------------------------------------------------------
// Vector math. exp: Cody-Waite reduction x = n ln2 + r, |r| <= ln2/2, degree-7 Taylor polynomial
// (truncation 5e-9 relative), 2^n built in the exponent bits. Measured error: a few ulp.

// @ts-ignore: decorator
@inline function vexp(x: v128): v128 {
  // pmin / pmax (one instruction each; f32x4.min / max cost ~8 in V8 for their NaN and -0 rules): x stays
  // first, so a NaN x goes through as itself.
  x = f32x4.pmin(f32x4.pmax(x, f32x4.splat(-87.0)), f32x4.splat(88.0));
  // n = round(x log2 e) by adding 1.5 * 2^23: t's low mantissa bits then hold n as an integer, so 2^n is
  // (bits(t) << 23) + (127 << 23) (the magic's own bits shift out), cheaper in V8 than nearest + trunc_sat.
  const t = madd(x, f32x4.splat(1.4426950408889634), f32x4.splat(12582912.0));
  const n = f32x4.sub(t, f32x4.splat(12582912.0));
  let r = nmadd(n, f32x4.splat(0.693145751953125), x); // ln2 high part: exact product
  r = nmadd(n, f32x4.splat(1.4286068203094173e-6), r); // ln2 low part
  let p = f32x4.splat(1.9841269841269841e-4); // 1/5040
  p = madd(p, r, f32x4.splat(1.3888888888888889e-3)); // 1/720
  p = madd(p, r, f32x4.splat(8.3333333333333333e-3)); // 1/120
  p = madd(p, r, f32x4.splat(4.1666666666666667e-2)); // 1/24
  p = madd(p, r, f32x4.splat(1.6666666666666667e-1)); // 1/6
  p = madd(p, r, f32x4.splat(0.5));
  p = madd(p, r, f32x4.splat(1.0));
  p = madd(p, r, f32x4.splat(1.0));
  const scale = i32x4.add(i32x4.shl(t, 23), i32x4.splat(127 << 23));
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
  p = madd(p, z, f32x4.splat(0.020639089236575495));
  p = madd(p, z, f32x4.splat(-0.05373971582267986));
  p = madd(p, z, f32x4.splat(0.1333144220839106));
  p = madd(p, z, f32x4.splat(-0.33333281942427445));
  const small = madd(f32x4.mul(x, z), p, x);
  const a10 = f32x4.pmin(ax, f32x4.splat(10.0));
  const e = vexp(f32x4.add(a10, a10));
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
// GEMM. op(B) is packed into panels of NR = 16 columns: panel j holds rows k of 16 floats, k-major, zero-padded
// past N; panel j starts panelStride floats after panel j-1. op(A) is packed per block into packA (the
// thread's): 2-row panels (k-major, 2 floats per k), then a remaining odd row on its own. A 2x16 register tile
// (8 f32x4 accumulators: 2 splats and 4 panel loads per k, measured ~10% faster in V8 than 4x8) covers the row
// pairs; a leftover row uses a 1x32 tile over two panels (or 1x16 for the last one).

const NR: i32 = 16;

// @ts-ignore: decorator
@inline function pad16(n: i32): i32 {
  return (n + 15) & ~15;
}

/** Packs op(B)[k0 .. k0+kc, n0 .. n0+nc] into panels at dst (op(B)[k][n] = transB ? B[n*ldb + k] : B[k*ldb + n]). */
function packPanels(transB: i32, B: usize, ldb: i32, k0: i32, kc: i32, n0: i32, nc: i32, dst: usize, panelStride: i32): void {
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
function packABlock(transA: i32, A: usize, lda: i32, mc: i32, kc: i32, dst: usize = 0, six: i32 = 0): void {
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

/** Writes rows x cols floats from the tile (row stride tileStride floats) into C, scalar. */
function putTile(rows: i32, cols: i32, tileStride: i32, c: usize, ldcB: usize, alpha: f32, beta: f32): void {
  for (let r = 0; r < rows; r++) {
    for (let j = 0; j < cols; j++) {
      const p = c + <usize>r * ldcB + f4(j);
      let v = alpha * load<f32>(tile + f4(r * tileStride + j));
      if (beta != 0) v += beta * load<f32>(p);
      store<f32>(p, v);
    }
  }
}

/** Sixteen zero floats: the bias a tile starts from when it computes A * B alone (static data starts zeroed). */
const ZERO16: usize = memory.data(64, 16);

/**
 * 2x16 tile: C[2, nv] = alpha * Apanel[2, kc] * Bpanel[kc, 16] (+ beta C). pa, pb packed; ldcB in bytes.
 * tile2x16 from zero into the thread's tile area, then the alpha / beta epilogue (the same bits as a loop of its
 * own: 0 + a*b is a*b exactly).
 */
function kernel2x16(kc: i32, pa: usize, pb: usize, c: usize, ldcB: usize, alpha: f32, beta: f32, nv: i32): void {
  tile2x16(kc, pa, pb, tile, 64, ZERO16);
  if (nv == 16) {
    const av = f32x4.splat(alpha);
    for (let r = 0; r < 2; r++) {
      const t = tile + <usize>(r * 64);
      put(c, v128.load(t), av, beta);
      put(c + 16, v128.load(t, 16), av, beta);
      put(c + 32, v128.load(t, 32), av, beta);
      put(c + 48, v128.load(t, 48), av, beta);
      c += ldcB;
    }
  } else {
    putTile(2, nv, 16, c, ldcB, alpha, beta);
  }
}

/**
 * 6x8 tile over half of a 16-column panel (pb at the half): C[6, nv] = alpha * Apanel[6, kc] * Bpanel[kc, 8]
 * (+ beta C), nv <= 8 valid columns: tile6x8 from zero into the thread's tile area, then gemmPacked's alpha /
 * beta epilogue, like kernel2x16.
 */
function kernel6x8(kc: i32, pa: usize, pb: usize, c: usize, ldcB: usize, alpha: f32, beta: f32, nv: i32): void {
  tile6x8(kc, pa, pb, tile, 32, ZERO16);
  if (nv == 8) {
    const av = f32x4.splat(alpha);
    for (let r = 0; r < 6; r++) {
      const t = tile + <usize>(r * 32);
      put(c, v128.load(t), av, beta);
      put(c + 16, v128.load(t, 16), av, beta);
      c += ldcB;
    }
  } else {
    putTile(6, nv, 8, c, ldcB, alpha, beta);
  }
}

/**
 * 1x32 tile over two consecutive B panels (psB bytes apart): C[1, nv] = alpha * a[kc] * B[kc, 32] (+ beta C):
 * tile1x32 from zero into the thread's tile area, then the alpha / beta epilogue.
 */
function kernel1x32(kc: i32, pa: usize, pb: usize, psB: usize, c: usize, alpha: f32, beta: f32, nv: i32): void {
  tile1x32(kc, pa, pb, psB, tile, tile + 64, ZERO16, ZERO16);
  if (nv == 32) {
    const av = f32x4.splat(alpha);
    for (let o: usize = 0; o < 128; o += 16) put(c + o, v128.load(tile + o), av, beta);
  } else {
    putTile(1, nv, 32, c, 0, alpha, beta);
  }
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
    putTile(1, nv, 16, c, 0, alpha, beta);
  }
}

/**
 * C[M, N] = alpha * op(A)[M, K] * Bp[K, N] + beta * C with op(B) already packed at Bp (panelStride floats
 * between panels). Blocks op(A) through packA; beta applies to the first depth block only. With G > 1 it does
 * G such products sharing op(A) (packed once per block): product g reads panels at Bp + g*gB and writes
 * C + g*gC (byte strides). rev != 0 walks the gates and panels in reverse order (same results): a recurrent
 * step (backward) alternates, so the panels the last step read most recently, still in cache, come first (a
 * cache smaller than the weights then keeps most of them instead of none).
 */
function gemmPacked(M: i32, N: i32, K: i32, alpha: f32, A: usize, lda: i32, transA: i32,
  Bp: usize, panelStride: i32, beta: f32, C: usize, ldc: i32, G: i32 = 1, gB: usize = 0, gC: usize = 0,
  rev: i32 = 0): void {
  if (M <= 0 || N <= 0 || K <= 0) return;
  const np = (N + NR - 1) / NR;
  let kcMax = K;
  let mcMax = M;
  if (<i64>M * <i64>K > <i64>PACK_A_FLOATS) {
    kcMax = min<i32>(K, KC);
    mcMax = min<i32>(M, (PACK_A_FLOATS / kcMax) & ~1);
  } else if (M >= 8 && M * K > L1_A_FLOATS) {
    // few rows (a recurrent step): a depth block whose packed A fits L1 beside the B panel it meets
    kcMax = max<i32>(64, (L1_A_FLOATS / M) & ~7);
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
      for (let gi = 0; gi < G; gi++) {
        const g = rev != 0 ? G - 1 - gi : gi;
        const Bg = Bp + <usize>g * gB + f4(pc * NR);
        const cBlock = C + <usize>g * gC + <usize>ic * ldcB;
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
 * trans != 0 (A is [K, M] then, B is [N, K]). Cache-blocked, SIMD, on the calling thread. beta == 0 never reads C.
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
      packPanels(transB, B, ldb, pc, kc, jc, nc, packB, kc * NR);
      const a = transA != 0 ? A + f4(pc * lda) : A + f4(pc);
      gemmPacked(M, nc, kc, alpha, a, lda, transA, packB, kc * NR, pc == 0 ? beta : 1, C + f4(jc), ldc);
    }
  }
}

/**
 * Thread tid's share of sgemm: the rows of C are split in pairs, or, when M is too small to share, the
 * columns in whole panels. Every thread packs the op(B) it reads itself (no barrier inside).
 */
function sgemmPart(tid: i32, nt: i32, transA: i32, transB: i32, M: i32, N: i32, K: i32, alpha: f32, A: usize,
  lda: i32, B: usize, ldb: i32, beta: f32, C: usize, ldc: i32): void {
  if (nt <= 1) {
    sgemm(transA, transB, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
    return;
  }
  if (M >= 16 * nt || M >= N) {
    const r0 = shareLo(M, nt, tid, 2);
    const r1 = shareHi(M, nt, tid, 2);
    if (r1 <= r0) return;
    const a = transA != 0 ? A + f4(r0) : A + f4(r0 * lda);
    sgemm(transA, transB, r1 - r0, N, K, alpha, a, lda, B, ldb, beta, C + f4(r0 * ldc), ldc);
  } else {
    const c0 = shareLo(N, nt, tid, NR);
    const c1 = shareHi(N, nt, tid, NR);
    if (c1 <= c0) return;
    const b = transB != 0 ? B + f4(c0 * ldb) : B + f4(c0);
    sgemm(transA, transB, M, c1 - c0, K, alpha, A, lda, b, ldb, beta, C + f4(c0), ldc);
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
// Gate loops for backward, one batch row each, over n units (a thread's share; every pointer already offset
// to its first unit). Hb: bytes from one gate block to the next.

// rnn row backward: da[H] = (dy + dh) * act'(h); dG row gets da.
function rnnRowBackward(n: i32, relu: i32, h: usize, dy: usize, dh: usize, dG: usize): void {
  let j = 0;
  for (; j + 4 <= n; j += 4) {
    const o = f4(j);
    const hv = v128.load(h + o);
    const d = f32x4.add(v128.load(dy + o), v128.load(dh + o));
    const da = relu != 0
      ? v128.and(d, f32x4.gt(hv, f32x4.splat(0)))
      : f32x4.mul(d, f32x4.sub(f32x4.splat(1), f32x4.mul(hv, hv)));
    v128.store(dG + o, da);
  }
  for (; j < n; j++) {
    const o = f4(j);
    const hv = load<f32>(h + o);
    const d = load<f32>(dy + o) + load<f32>(dh + o);
    store<f32>(dG + o, relu != 0 ? (hv > 0 ? d : 0) : d * (1 - hv * hv));
  }
}

// lstm row backward: g[4H] activated gates, c[H] = c_t, cp[H] = c_prev, dy[H]; dh[H] in: dh_next;
// dc[H] in: dc_next, out: dc_prev. Writes dG[4H] pre-activation gradients.
function lstmRowBackward(n: i32, Hb: usize, g: usize, c: usize, cp: usize, dy: usize, dh: usize, dc: usize, dG: usize): void {
  const one = f32x4.splat(1);
  let j = 0;
  for (; j + 4 <= n; j += 4) {
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
  for (; j < n; j++) {
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

// gru row backward: g[3H] = r,z,n; ghn[H]; hp[H] = h_prev; dy[H]; dh[H] in: dh_next, out: the direct term dh*z.
// Writes dG[3H] = [da_r, da_z, da_n] (for W_ih), dgh[3H] = [da_r, da_z, da_n*r] (for this step's W_hh
// product) and dghn[H] = da_n*r (kept for the W_hh gradient GEMM).
function gruRowBackward(n: i32, Hb: usize, g: usize, ghn: usize, hp: usize, dy: usize, dh: usize,
  dG: usize, dgh: usize, dghn: usize): void {
  const H2 = Hb << 1;
  const one = f32x4.splat(1);
  let j = 0;
  for (; j + 4 <= n; j += 4) {
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
  for (; j < n; j++) {
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
// Cell forward / backward over a whole sequence.
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
//             gru only: [T, B, H] dgh_n | [2, B, G*H] dgh of the step (two, alternating: see cellBackwardPart)

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
  return kind == 3 ? 4 : gatesOf(kind);
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
  if (kind == 3) n += a16(T * B * H) + a16(2 * B * GH);
  return n;
}

/** The gate of W_ih / W_hh packed at position gi of a chunk (gru's W_ih: n, r, z; else in order). */
// @ts-ignore: decorator
@inline function gateAt(kind: i32, ih: i32, gi: i32): i32 {
  return kind == 3 && ih != 0 ? (gi == 0 ? 2 : gi - 1) : gi;
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
          if (kind != 3) v = load<f32>(bih + f4(q * H) + o) + load<f32>(bhh + f4(q * H) + o);
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
 * 2x16 tile accumulating into whole 16-column C rows: C[2,16] = (bias != 0 ? bias[16] on both rows : C) +
 * Apanel[2, kc] * Bpanel[kc, 16]: the recurrent step's tile for rows outside groups of six, and kernel2x16's
 * loop (from zero).
 */
function tile2x16(kc: i32, pa: usize, pb: usize, c: usize, ldcB: usize, bias: usize): void {
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
 * broadcasts of A per k: in V8 this ran ~1.2x the multiply-adds per second of tile2x16 (fewer loop and address
 * instructions per multiply-add; 15 of the 16 xmm registers, no spill in TurboFan's code).
 */
function tile6x8(kc: i32, pa: usize, pb: usize, c: usize, ldcB: usize, bias: usize): void {
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
function tile1x16(kc: i32, pa: usize, pb: usize, c: usize, bias: usize): void {
  if (bias != 0) memory.copy(c, bias, 64);
  kernel1x16(kc, pa, pb, c, 1, 1, 16); // C = 1 * (A B) + 1 * C, exactly C + A B
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

// Gate math of one chunk row: n <= 16 units, pre at the chunk's first column (blocks 64 bytes apart); outputs
// at the chunk's first unit. Workspace outputs (g, c / ghn) only when g != 0; Hb: their gate stride in bytes.

function rnnGates(n: i32, relu: i32, pre: usize, h: usize): void {
  let j = 0;
  for (; j + 4 <= n; j += 4) {
    const o = f4(j);
    const a = v128.load(pre + o);
    v128.store(h + o, relu != 0 ? f32x4.max(a, f32x4.splat(0)) : vtanh(a));
  }
  for (; j < n; j++) {
    const o = f4(j);
    const a = load<f32>(pre + o);
    store<f32>(h + o, relu != 0 ? max<f32>(a, 0) : tanh1(a)); // f32.max: NaN stays NaN, as in the vector loop
  }
}

/** lstm: blocks i, f, g, o; cp: c_prev (may be c itself: each element is read before it is written). */
function lstmGates(n: i32, pre: usize, cp: usize, c: usize, h: usize, g: usize, Hb: usize): void {
  let j = 0;
  for (; j + 4 <= n; j += 4) {
    const o = f4(j);
    const p = pre + o;
    const vi = vsigmoid(v128.load(p));
    const vf = vsigmoid(v128.load(p, 64));
    const vg = vtanh(v128.load(p, 128));
    const vo = vsigmoid(v128.load(p, 192));
    const vc = madd(vf, v128.load(cp + o), f32x4.mul(vi, vg));
    if (g != 0) {
      v128.store(g + o, vi);
      v128.store(g + Hb + o, vf);
      v128.store(g + 2 * Hb + o, vg);
      v128.store(g + 3 * Hb + o, vo);
    }
    v128.store(c + o, vc);
    v128.store(h + o, f32x4.mul(vo, vtanh(vc)));
  }
  for (; j < n; j++) {
    const o = f4(j);
    const p = pre + o;
    const si = sigmoid1(load<f32>(p));
    const sf = sigmoid1(load<f32>(p, 64));
    const sg = tanh1(load<f32>(p, 128));
    const so = sigmoid1(load<f32>(p, 192));
    const sc = sf * load<f32>(cp + o) + si * sg;
    if (g != 0) {
      store<f32>(g + o, si);
      store<f32>(g + Hb + o, sf);
      store<f32>(g + 2 * Hb + o, sg);
      store<f32>(g + 3 * Hb + o, so);
    }
    store<f32>(c + o, sc);
    store<f32>(h + o, so * tanh1(sc));
  }
}

/** gru: blocks n_i, r, z, n_h; hp: h_prev. Workspace: g = r, z, n; ghn = n_h. */
function gruGates(n: i32, pre: usize, hp: usize, h: usize, g: usize, ghn: usize, Hb: usize): void {
  let j = 0;
  for (; j + 4 <= n; j += 4) {
    const o = f4(j);
    const p = pre + o;
    const vr = vsigmoid(v128.load(p, 64));
    const vz = vsigmoid(v128.load(p, 128));
    const vgh = v128.load(p, 192);
    const vn = vtanh(f32x4.add(v128.load(p), f32x4.mul(vr, vgh)));
    const vh = f32x4.add(vn, f32x4.mul(vz, f32x4.sub(v128.load(hp + o), vn)));
    if (g != 0) {
      v128.store(g + o, vr);
      v128.store(g + Hb + o, vz);
      v128.store(g + 2 * Hb + o, vn);
      v128.store(ghn + o, vgh);
    }
    v128.store(h + o, vh);
  }
  for (; j < n; j++) {
    const o = f4(j);
    const p = pre + o;
    const sr = sigmoid1(load<f32>(p, 64));
    const sz = sigmoid1(load<f32>(p, 128));
    const sgh = load<f32>(p, 192);
    const sn = tanh1(load<f32>(p) + sr * sgh);
    const sh = sn + sz * (load<f32>(hp + o) - sn);
    if (g != 0) {
      store<f32>(g + o, sr);
      store<f32>(g + Hb + o, sz);
      store<f32>(g + 2 * Hb + o, sn);
      store<f32>(ghn + o, sgh);
    }
    store<f32>(h + o, sh);
  }
}

/**
 * 1x32 tile over two panels (psB bytes apart) of one row: C0[16] = (b0 != 0 ? b0 : C0) + a[kc] * panel 0,
 * C1[16] likewise with panel 1 (any two 16-column blocks of C).
 */
function tile1x32(kc: i32, pa: usize, pb: usize, psB: usize, c0p: usize, c1p: usize, b0: usize, b1: usize): void {
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
 * Batch-1 recurrent product over a thread's np = nch*G panels (packChunks order) at Bp: pre-activation row
 * pre (at the thread's first column) += h [H] times each panel, gru's n panels starting from the bias row.
 * Pairs of consecutive panels go through tile1x32 (a product of one row reads each weight once: it is
 * bound by the weights' bandwidth, the broadcast form measured faster in V8 than dot products over rows);
 * rev walks them from the last.
 */
function gemvPanels(kind: i32, H: i32, h: usize, Bp: usize, np: i32, pre: usize, bias: usize, rev: i32): void {
  const G = gatesOf(kind);
  const GB = blocksOf(kind);
  const gOff = kind == 3 ? 1 : 0;
  const nMask = kind == 3 ? 4 : 0;
  const psB = f4(H * NR);
  const n2 = np & ~1;
  // Two loops with different calls on purpose: tile1x32 called from one place is inlined, and V8 then keeps
  // an accumulator of its loop on the stack (measured 2x slower).
  if (rev == 0) {
    for (let j = 0; j < n2; j += 2) {
      const g0 = j % G, g1 = (j + 1) % G;
      const o0 = f4((j / G) * GB * NR + (g0 + gOff) * NR);
      const o1 = f4(((j + 1) / G) * GB * NR + (g1 + gOff) * NR);
      tile1x32(H, h, Bp + <usize>j * psB, psB, pre + o0, pre + o1, (nMask >> g0) & 1 ? bias + o0 : 0,
        (nMask >> g1) & 1 ? bias + o1 : 0);
    }
  }
  if (n2 < np) {
    const j = np - 1;
    const g0 = j % G;
    const o0 = f4((j / G) * GB * NR + (g0 + gOff) * NR);
    tile1x16(H, h, Bp + <usize>j * psB, pre + o0, (nMask >> g0) & 1 ? bias + o0 : 0);
  }
  if (rev != 0) {
    let pb = Bp + <usize>n2 * psB;
    for (let j = n2 - 2; j >= 0; j -= 2) {
      pb -= psB << 1;
      const g0 = j % G, g1 = (j + 1) % G;
      const o0 = f4((j / G) * GB * NR + (g0 + gOff) * NR);
      const o1 = f4(((j + 1) / G) * GB * NR + (g1 + gOff) * NR);
      tile1x32(H, h, pb, psB, pre + o0, pre + o1, (nMask >> g0) & 1 ? bias + o0 : 0,
        (nMask >> g1) & 1 ? bias + o1 : 0);
    }
  }
}

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
 * matrix-vector product) goes over the panels in pairs instead (gemvPanels), then the gate math. Chunks (panels)
 * alternate direction from step to step, so the weights the last step read most recently, still in cache, come
 * first. One barrier per step.
 */
function cellForwardPart(tid: i32, nt: i32, kind: i32, T: i32, B: i32, I: i32, H: i32, reverse: i32,
  x: usize, h0: usize, c0: usize, wih: usize, whh: usize, bih: usize, bhh: usize,
  y: usize, hT: usize, cT: usize, ws: usize, scratch: usize): void {
  const G = gatesOf(kind);
  const GB = blocksOf(kind);
  const GH = G * H;
  const P = pad16(H);
  const W = GB * P; // floats per pre-activation row
  const BH = B * H;
  const BGH = B * GH;
  const TC = stepChunk(T, B);
  const gemv = B == 1; // a matrix-vector product per step: gemvPanels
  const wihP = scratch;
  const whhP = wihP + f4(a16(G * P * I));
  const biasRow = whhP + f4(a16(G * P * H));
  const pre = biasRow + f4(a16(W));
  const wsS = ws + f4(T * BGH); // lstm: c_t; gru: ghn
  const Hb = f4(H);
  const GHb = f4(GH);
  const WB = f4(W);
  const chunkB = f4(GB * NR);
  const gOff = kind == 3 ? 1 : 0; // block of W_hh's first gate
  const nMask = kind == 3 ? 4 : 0; // W_hh panels that start from the bias row: gru's n
  const u0 = shareLo(H, nt, tid, NR);
  const u1 = shareHi(H, nt, tid, NR);
  const w = u1 - u0;
  const ch0 = u0 / NR;
  const nch = (w + NR - 1) / NR;
  const colB = <usize>ch0 * chunkB; // the thread's first column of a pre-activation row, in bytes
  const wihT = wihP + f4(ch0 * G * I * NR);
  const whhT = whhP + f4(ch0 * G * H * NR);
  const psB = f4(H * NR);
  // packed h_prev: all of packA and packB (contiguous), rows in blocks of mb
  const mb = min<i32>(B, max<i32>(1, (PACK_A_FLOATS + PACK_B_FLOATS) / H));

  if (w > 0) {
    packChunks(kind, 1, wih, I, H, ch0, ch0 + nch, wihT);
    packChunks(kind, 0, whh, H, H, ch0, ch0 + nch, whhT);
    fillBiasRow(kind, H, bih, bhh, ch0, ch0 + nch, biasRow);
  }
  // One block of batch rows (the usual case): h_prev is packed once per step and chunks are shared between
  // threads (claimChunk); more rows than the packing area holds: blocks of rows, each thread its own chunks.
  const share = mb >= B;
  let tLo = 0;
  for (let s = 0; s < T; s++) {
    const t = reverse != 0 ? T - 1 - s : s;
    const tp = reverse != 0 ? t + 1 : t - 1;
    const hp = s == 0 ? h0 : y + f4(tp * BH);
    if (s % TC == 0) {
      const n = min<i32>(TC, T - s);
      tLo = reverse != 0 ? T - s - n : s;
      if (w > 0) projectChunks(kind, n * B, I, x + f4(tLo * B * I), I, wihT, nch, pre + colB, W, biasRow + colB);
    }
    const preT = pre + <usize>((t - tLo) * B) * WB;
    const rev = s & 1;
    const cp = s == 0 ? c0 : ws != 0 ? wsS + f4(tp * BH) : cT;
    const cOut = ws != 0 ? wsS + f4(t * BH) : cT;
    for (let rb = 0; rb < B; rb += mb) {
      const mc = min<i32>(mb, B - rb);
      let kcMax = H;
      if (!gemv) {
        if (mc >= 2 && mc * H > L1_A_FLOATS) kcMax = max<i32>(64, (L1_A_FLOATS / mc) & ~7);
        for (let pc = 0; pc < H; pc += kcMax) {
          packABlock(0, hp + f4(rb * H + pc), H, mc, min<i32>(kcMax, H - pc), packA + f4(mc * pc), 1);
        }
      }
      if (share) openClaims(tid, s);
      const rowsT = preT + <usize>rb * WB;
      const owners = share ? nt : 1;
      for (let o = 0; o < owners; o++) {
        const owner = (tid + o) % nt;
        const oc0 = shareLo(H, nt, owner, NR) / NR;
        const onch = (shareHi(H, nt, owner, NR) - oc0 * NR + NR - 1) / NR;
        for (let i = 0; ; i++) {
          const q = share ? claimChunk(owner, s, onch) : i < onch ? i : -1;
          if (q < 0) break;
          if (ASC_FEATURE_THREADS) {
            if (o > 0) atomic.add<i32>(ctrl + SHARED_CHUNKS, 1);
            else if (testLagNs > 0) atomic.wait<i32>(ctrl + LAG_WORD, 0, <i64>testLagNs);
          }
          const c = oc0 + (rev != 0 ? onch - 1 - q : q);
          const preC = rowsT + <usize>c * chunkB;
          const biasC = biasRow + <usize>c * chunkB;
          const whhC = whhP + <usize>(c * G) * psB;
          if (gemv) {
            gemvPanels(kind, H, hp, whhC, G, preC, biasC, rev);
          } else {
            for (let pc = 0; pc < H; pc += kcMax) {
              chunkTiles(G, gOff, mc, min<i32>(kcMax, H - pc), packA + f4(mc * pc), whhC + f4(pc * NR), psB, preC,
                WB, biasC, pc == 0 ? nMask : 0);
            }
          }
          // gate math of the chunk, its rows still in cache
          const uc = c * NR;
          const n = min<i32>(NR, H - uc);
          for (let b = rb; b < rb + mc; b++) {
            const p = preC + <usize>(b - rb) * WB;
            const rowH = <usize>b * Hb + f4(uc);
            const hRow = y + f4(t * BH) + rowH;
            const gOut = ws != 0 ? ws + f4(t * BGH) + <usize>b * GHb + f4(uc) : 0;
            if (kind <= 1) rnnGates(n, kind, p, hRow);
            else if (kind == 2) lstmGates(n, p, cp + rowH, cOut + rowH, hRow, gOut, Hb);
            else gruGates(n, p, hp + rowH, hRow, gOut, gOut != 0 ? wsS + f4(t * BH) + rowH : 0, Hb);
          }
        }
      }
    }
    barrier(nt); // every unit of h_t is written before any thread reads it
  }
  if (tid == 0) {
    const tLast = reverse != 0 ? 0 : T - 1;
    memory.copy(hT, y + f4(tLast * BH), f4(BH));
    if (kind == 2 && ws != 0) memory.copy(cT, wsS + f4(tLast * BH), f4(BH));
  }
}

/** Column sums over thread tid's share of the columns (blocks of 16): dst[j] += Σ_r src[r*ld + j]. */
function colSumAddPart(tid: i32, nt: i32, dst: usize, src: usize, rows: i32, cols: i32, ld: i32): void {
  const c0 = shareLo(cols, nt, tid, 16);
  const c1 = shareHi(cols, nt, tid, 16);
  if (c1 > c0) colSumAdd(dst + f4(c0), src + f4(c0), rows, c1 - c0, ld);
}

// dW_hh[M rows, H] += Σ_t dgh[t]ᵀ Hprev[t], where dgh rows (t, b) are A + (t*B + b)*lda and Hprev[t] is h0 at the
// first processed position, else y at the previous one: two GEMMs over contiguous runs of y, split the same way
// between the threads (same M and N), so each thread accumulates into the same rows of C twice.
function addStateGradPart(tid: i32, nt: i32, M: i32, A: usize, lda: i32, C: usize, T: i32, B: i32, H: i32,
  reverse: i32, h0: usize, y: usize): void {
  const first = reverse != 0 ? T - 1 : 0;
  sgemmPart(tid, nt, 1, 0, M, H, B, 1, A + f4(first * B * lda), lda, h0, H, 1, C, H);
  if (T > 1) {
    if (reverse == 0) sgemmPart(tid, nt, 1, 0, M, H, (T - 1) * B, 1, A + f4(B * lda), lda, y, H, 1, C, H);
    else sgemmPart(tid, nt, 1, 0, M, H, (T - 1) * B, 1, A, lda, y + f4(B * H), H, 1, C, H);
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
function cellBackwardPart(tid: i32, nt: i32, kind: i32, T: i32, B: i32, I: i32, H: i32, reverse: i32,
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
  const u0 = shareLo(H, nt, tid, NR);
  const w = shareHi(H, nt, tid, NR) - u0;
  const u0b = f4(u0);

  if (w > 0) {
    packPanels(0, whh, H, 0, GH, u0, w, whhP + f4(u0 * GH), GH * NR);
    for (let b = 0; b < B; b++) {
      const o = <usize>b * Hb + u0b;
      memory.copy(dh0 + o, dhT + o, f4(w)); // dh0 carries dh_next through the loop
      if (kind == 2) memory.copy(dc0 + o, dcT + o, f4(w)); // and dc0 carries dc_next
    }
  }

  for (let s = T - 1; s >= 0; s--) {
    const t = reverse != 0 ? T - 1 - s : s;
    const tp = reverse != 0 ? t + 1 : t - 1;
    const dGt = dG + f4(t * BGH);
    const dghS = dgh + f4((s & 1) * BGH);
    if (w > 0) {
      for (let b = 0; b < B; b++) {
        const rowH = <usize>b * Hb + u0b;
        const rowG = <usize>b * GHb + u0b;
        const dyRow = dy + f4(t * BH) + rowH;
        const dhRow = dh0 + rowH;
        const dGRow = dGt + rowG;
        if (kind <= 1) {
          rnnRowBackward(w, kind, y + f4(t * BH) + rowH, dyRow, dhRow, dGRow);
        } else if (kind == 2) {
          const cp = s == 0 ? c0 : wsS + f4(tp * BH);
          lstmRowBackward(w, Hb, ws + f4(t * BGH) + rowG, wsS + f4(t * BH) + rowH, cp + rowH, dyRow, dhRow,
            dc0 + rowH, dGRow);
        } else {
          const hp = s == 0 ? h0 : y + f4(tp * BH);
          gruRowBackward(w, Hb, ws + f4(t * BGH) + rowG, wsS + f4(t * BH) + rowH, hp + rowH, dyRow, dhRow, dGRow,
            dghS + rowG, dghn + f4(t * BH) + rowH);
        }
      }
    }
    barrier(nt); // every unit's gate gradients of this step are written
    // dh_prev = dgh W_hh (+ the gru direct term already in dh0), this thread's columns
    if (w > 0) {
      if (kind == 3) gemmPacked(B, w, GH, 1, dghS, GH, 0, whhP + f4(u0 * GH), GH * NR, 1, dh0 + u0b, H, 1, 0, 0, s & 1);
      else gemmPacked(B, w, GH, 1, dGt, GH, 0, whhP + f4(u0 * GH), GH * NR, 0, dh0 + u0b, H, 1, 0, 0, s & 1);
    }
  }
  barrier(nt); // dG complete

  const TB = T * B;
  sgemmPart(tid, nt, 0, 0, TB, I, GH, 1, dG, GH, wih, I, 1, dx, I);
  sgemmPart(tid, nt, 1, 0, GH, I, TB, 1, dG, GH, x, I, 1, dwih, I);
  colSumAddPart(tid, nt, dbih, dG, TB, GH, GH);
  if (kind == 3) {
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

// ---------------------------------------------------------------------------------------------------------
// Dense operations for training (native/KERNELS.md, "Dense operations"). N rows, I inputs, O outputs,
// C classes, V vocabulary, D embedding width. Ids and targets are float32 holding exact integers.

/** An id usable as a row index: an integer in [0, limit). NaN and fractions are not. */
// @ts-ignore: decorator
@inline function validId(f: f32, limit: i32): bool {
  return f >= 0 && f < <f32>limit && <f32>(<i32>f) == f;
}

/**
 * Thread tid's part of linearForward: x [N,I], w [O,I], b [O] or 0 -> y [N,O] = x wᵀ + b. Rows of y are split
 * between the threads (columns when N is small); the same split as sgemmPart, so each thread sets the bias of
 * the part of y it then accumulates into.
 */
function linearForwardPart(tid: i32, nt: i32, N: i32, I: i32, O: i32, x: usize, w: usize, b: usize, y: usize): void {
  let r0 = 0, r1 = N, c0 = 0, c1 = O;
  if (nt > 1) {
    if (N >= 16 * nt || N >= O) {
      r0 = shareLo(N, nt, tid, 2);
      r1 = shareHi(N, nt, tid, 2);
    } else {
      c0 = shareLo(O, nt, tid, NR);
      c1 = shareHi(O, nt, tid, NR);
    }
  }
  for (let n = r0; n < r1 && c1 > c0; n++) {
    const row = y + f4(n * O + c0);
    if (b != 0) memory.copy(row, b + f4(c0), f4(c1 - c0));
    else memory.fill(row, 0, f4(c1 - c0));
  }
  sgemmPart(tid, nt, 0, 1, N, O, I, 1, x, I, w, I, 1, y, O);
  barrier(nt);
}

/**
 * Thread tid's part of linearBackward: x [N,I], w [O,I], dy [N,O] -> dx [N,I] = dy w (overwritten; skipped when
 * 0), dw [O,I] += dyᵀ x, db [O] += Σ dy.
 */
function linearBackwardPart(tid: i32, nt: i32, N: i32, I: i32, O: i32, x: usize, w: usize, dy: usize, dx: usize,
  dw: usize, db: usize): void {
  if (dx != 0) sgemmPart(tid, nt, 0, 0, N, I, O, 1, dy, O, w, I, 0, dx, I);
  sgemmPart(tid, nt, 1, 0, O, I, N, 1, dy, O, x, I, 1, dw, I);
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
