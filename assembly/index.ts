// rnnkit's WebAssembly kernels: the module's exports and the job protocol JavaScript drives them with
// (src/backend/wasm-core.ts), as native/addon.cc is the native kernels' glue. The kernels themselves, mirroring
// native/ file by file (native/KERNELS.md, "Source files"): kernels.ts cells, dense.ts dense operations,
// gemm.ts GEMM and packing, vecmath.ts vector math, pool.ts threads.
//
// Every pointer is a byte offset into linear memory; JavaScript owns all memory above heapBase(): these
// functions never allocate. One source, four release builds (scripts/build-wasm.cjs): plain SIMD128 or relaxed
// SIMD (f32x4.relaxed_madd, a fused multiply-add), each with a private memory (one thread) or an imported
// shared memory (threads); and two test builds (testhooks.ts). Threaded calls are jobs: JavaScript writes a
// JOB_* code, the thread count and the arguments into the control block, then calls run(); the workers run
// workerLoop.
import { cellBackward, cellForward, gemmPart, GRU, LSTM, RNN_RELU, RNN_TANH } from './kernels';
import { adamStep, linearBackward, linearForward, scale, sgdStep, softmaxCrossEntropy, sumSquares } from './dense';
import { copyStrided, deinterleave, dropout, fill, interleave, transpose01 } from './moves';
import { packingAreaBytes, setPackingArea } from './gemm';
import {
  argD, argF, argI, argP, ARGS, awaitJob, BAR_WAITS, barrier, CTRL_BYTES, GROUP_CALLS, IDLE_WAITS, jobOp, jobThreads, MAX_ARGS, MAX_THREADS, NT, OP, READY, setControl, SHARED_CHUNKS, startJob, workerReady,
} from './pool';

export {
  backwardScratchFloats, forwardScratchFloats, PACK_CHECK, PACK_KEPT, PACK_NEW, packedWeightFloats,
} from './kernels';
// The dense passes and the data movement also run as jobs (JOB_CROSS_ENTROPY ... JOB_DROPOUT); called directly,
// with tid 0 and nt 1.
export {
  adamStep, embeddingBackward, embeddingForward, LOSS_ROWS, scale, sgdStep, softmaxCrossEntropy, SUM_BLOCK, sumSquares,
} from './dense';
export {
  copyStrided, deinterleave, dropout, fill, interleave, mulberry32At, transpose01,
} from './moves';
// Test oracles (test/wasm-oracles.test.ts): one-thread sgemm against its plain triple loop, and the vector math.
export { sgemm, sgemmRef } from './gemm';
export { vecMath } from './vecmath';

/** Job codes (OP in the control block); src/backend/wasm-core.ts reads these exports. */
export const JOB_CELL_FORWARD: i32 = 1;
export const JOB_CELL_BACKWARD: i32 = 2;
export const JOB_SGEMM: i32 = 3;
export const JOB_LINEAR_FORWARD: i32 = 4;
export const JOB_LINEAR_BACKWARD: i32 = 5;
export const JOB_CROSS_ENTROPY: i32 = 6;
export const JOB_ADAM: i32 = 7;
export const JOB_SGD: i32 = 8;
export const JOB_SUM_SQUARES: i32 = 9;
export const JOB_SCALE: i32 = 10;
export const JOB_FILL: i32 = 11;
export const JOB_COPY: i32 = 12;
export const JOB_TRANSPOSE01: i32 = 13;
export const JOB_INTERLEAVE: i32 = 14;
export const JOB_DEINTERLEAVE: i32 = 15;
export const JOB_DROPOUT: i32 = 16;

/** Cell kind codes (kernels.ts), exported so that tests check them against src/backend/types.ts. */
export const KIND_RNN_TANH: i32 = RNN_TANH;
export const KIND_RNN_RELU: i32 = RNN_RELU;
export const KIND_LSTM: i32 = LSTM;
export const KIND_GRU: i32 = GRU;

/** The control block's size and the byte offsets JavaScript reads or writes (pool.ts). */
export const CTRL_SIZE: i32 = CTRL_BYTES;
export const CTRL_ARGS: i32 = <i32>ARGS;
export const CTRL_MAX_ARGS: i32 = MAX_ARGS;
export const CTRL_OP: i32 = <i32>OP;
export const CTRL_NT: i32 = <i32>NT;
export const CTRL_READY: i32 = <i32>READY;
export const CTRL_BAR_WAITS: i32 = <i32>BAR_WAITS;
export const CTRL_IDLE_WAITS: i32 = <i32>IDLE_WAITS;
export const CTRL_SHARED_CHUNKS: i32 = <i32>SHARED_CHUNKS;
export const CTRL_GROUP_CALLS: i32 = <i32>GROUP_CALLS;
/** The threads the control block has room for (claim counters): the loader's MAX_THREADS must not exceed it. */
export const CTRL_MAX_THREADS: i32 = MAX_THREADS;

/** First free byte: JavaScript's allocator starts here (rounded up to 64). */
export function heapBase(): usize {
  return __heap_base;
}

/** Bytes of one thread's packing area (setThread). */
export function threadContextBytes(): i32 {
  return packingAreaBytes();
}

/**
 * Gives this instance (thread) its packing area (64-byte aligned, threadContextBytes long), its barrier spins and
 * the control block (zeroed, CTRL_SIZE bytes, the same for every thread). Memory, not a static data segment: a
 * threaded build's data segments are written again by every instance that starts.
 */
export function setThread(ctx: usize, spins: i32, control: usize): void {
  setControl(control, spins);
  setPackingArea(ctx);
}

/** Which build this is: bit 0 relaxed SIMD, bit 1 threads (shared memory). */
export function buildFeatures(): i32 {
  return (ASC_FEATURE_RELAXED_SIMD ? 1 : 0) | (ASC_FEATURE_THREADS ? 2 : 0);
}

/** Runs this thread's part of the job in the control block. */
function runJob(tid: i32): void {
  const op = jobOp();
  const nt = jobThreads();
  if (op == JOB_CELL_FORWARD) {
    cellForward(tid, nt, argI(0), argI(1), argI(2), argI(3), argI(4), argI(5),
      argP(6), argP(7), argP(8), argP(9), argP(10), argP(11), argP(12), argP(13), argP(14), argP(15), argP(16),
      argP(17), argP(18), argP(19), argI(20));
  } else if (op == JOB_CELL_BACKWARD) {
    cellBackward(tid, nt, argI(0), argI(1), argI(2), argI(3), argI(4), argI(5),
      argP(6), argP(7), argP(8), argP(9), argP(10), argP(11), argP(12), argP(13), argP(14), argP(15), argP(16),
      argP(17), argP(18), argP(19), argP(20), argP(21), argP(22), argP(23), argP(24), argP(25));
  } else if (op == JOB_SGEMM) {
    gemmPart(tid, nt, argI(0), argI(1), argI(2), argI(3), argI(4), argF(5), argP(6), argI(7), argP(8), argI(9),
      argF(10), argP(11), argI(12));
    barrier(nt);
  } else if (op == JOB_LINEAR_FORWARD) {
    linearForward(tid, nt, argI(0), argI(1), argI(2), argP(3), argP(4), argP(5), argP(6));
  } else if (op == JOB_LINEAR_BACKWARD) {
    linearBackward(tid, nt, argI(0), argI(1), argI(2), argP(3), argP(4), argP(5), argP(6), argP(7), argP(8));
  } else {
    // The dense passes of a training step and the layers' data movement: slot 0 holds the threads that take part
    // (nw, at most nt: one per PASS_FLOATS elements, src/backend/wasm-core.ts); a thread beyond them gets an empty
    // range, and all nt meet at the end (every woken worker runs every job: it must pass the barrier of nt).
    const nw = argI(0);
    if (op == JOB_CROSS_ENTROPY) {
      softmaxCrossEntropy(tid, nw, argI(1), argI(2), argP(3), argP(4), argP(5), argF(6), argP(7));
    } else if (op == JOB_ADAM) {
      adamStep(tid, nw, argI(1), argP(2), argP(3), argP(4), argP(5), argI(6), argI(7), argD(8), argD(10), argD(12),
        argD(14), argD(16));
    } else if (op == JOB_SGD) {
      sgdStep(tid, nw, argI(1), argP(2), argP(3), argP(4), argI(5), argI(6), argD(7), argD(9), argD(11));
    } else if (op == JOB_SUM_SQUARES) {
      sumSquares(tid, nw, argI(1), argP(2), argP(3));
    } else if (op == JOB_SCALE) {
      scale(tid, nw, argI(1), argP(2), argF(3));
    } else if (op == JOB_FILL) {
      fill(tid, nw, argI(1), argP(2), argF(3));
    } else if (op == JOB_COPY) {
      copyStrided(tid, nw, argI(1), argI(2), argP(3), argI(4), argP(5), argI(6));
    } else if (op == JOB_TRANSPOSE01) {
      transpose01(tid, nw, argI(1), argI(2), argI(3), argP(4), argP(5));
    } else if (op == JOB_INTERLEAVE) {
      interleave(tid, nw, argI(1), argI(2), argP(3), argP(4), argP(5));
    } else if (op == JOB_DEINTERLEAVE) {
      deinterleave(tid, nw, argI(1), argI(2), argP(3), argP(4), argP(5));
    } else if (op == JOB_DROPOUT) {
      dropout(tid, nw, argI(1), <u32>argI(2), argD(3), argF(5), argP(6), argP(7));
    }
    barrier(nt);
  }
}

/**
 * Thread 0 (the caller) runs the job in the control block on its nt threads: wakes the workers when nt > 1,
 * does its part, and returns when every part is done.
 */
export function run(): void {
  startJob();
  runJob(0);
}

/**
 * A worker's life: announce itself (READY), then run thread tid's part of every job until a job with OP 0.
 * Between jobs it polls idleSpins times, then sleeps.
 */
export function workerLoop(tid: i32, idleSpins: i32): void {
  if (ASC_FEATURE_THREADS) {
    workerReady();
    while (awaitJob(idleSpins)) runJob(tid);
  }
}
