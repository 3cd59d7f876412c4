// The Backend interface: what every backend (native addon, WebAssembly) provides to the layers in src/nn.
// The unit of work is one layer, one direction, a whole sequence batch (native/KERNELS.md).

import type { CellKind } from './cells.js';

// The cell kinds (code, gates, workspace, cell state) are one table in cells.ts; re-exported here, where the
// backends and layers have always found them.
export { CELL_CODES, CELL_KINDS, CELL_TABLE, GATES, workspaceFloats, type CellKind, type CellSpec } from './cells.js';

/**
 * A float32 buffer owned by a backend. `view()` is valid until the backend next allocates
 * (WASM memory growth replaces the ArrayBuffer): take a fresh view after any allocation. Layers never take one:
 * they move data with the backend's MoveOps and `read()` only results (a device buffer has no cheap view).
 * A view reaches its own buffer only, while the buffer lives: memory beyond it (through the view's `.buffer`) and
 * a freed buffer's memory are the backend's (the WASM backend knows what can have written a buffer from its own
 * calls, write() and that buffer's views).
 */
export interface Buf {
  readonly length: number;
  view(): Float32Array;
}

/** Sizes and direction of one kernel call. */
export interface CellDims {
  kind: CellKind;
  T: number;
  B: number;
  I: number;
  H: number;
  reverse: boolean;
}

/** Weights of one layer and direction, in PyTorch's layouts. */
export interface CellWeights {
  wih: Buf; // [G*H, I]
  whh: Buf; // [G*H, H]
  bih: Buf; // [G*H]
  bhh: Buf; // [G*H]
}

export interface CellForwardArgs extends CellDims, CellWeights {
  x: Buf; // [T, B, I]
  h0: Buf; // [B, H]
  c0: Buf | null; // [B, H], LSTM only
  y: Buf; // [T, B, H] out
  hT: Buf; // [B, H] out
  cT: Buf | null; // [B, H] out, LSTM only
  ws: Buf | null; // workspace out, null for inference
}

export interface CellBackwardArgs extends CellDims, CellWeights {
  x: Buf;
  h0: Buf;
  c0: Buf | null;
  y: Buf;
  ws: Buf | null; // as written by forward (null only for rnn kinds)
  dy: Buf; // [T, B, H]
  dhT: Buf; // [B, H]
  dcT: Buf | null; // [B, H], LSTM only
  dx: Buf; // [T, B, I] accumulated
  dh0: Buf; // [B, H] overwritten
  dc0: Buf | null; // [B, H] overwritten, LSTM only
  dwih: Buf; // accumulated
  dwhh: Buf;
  dbih: Buf;
  dbhh: Buf;
}

/**
 * A backend's name: one registered in src/backend/index.ts (`native`, `wasm`, later `cuda`). The string type
 * stays open so that a backend registered later needs no change here; the registry is what checks a name.
 */
export type BackendName = 'native' | 'wasm' | 'cuda' | (string & {});

export interface Backend extends DenseOps, MoveOps {
  readonly name: BackendName;
  /** Human-readable details: SIMD level, build, threads. */
  readonly details: string;
  /** A zero-filled buffer of n floats; more than MAX_BUFFER_FLOATS (src/backend/limits.ts) is an E_ARGUMENT. */
  alloc(n: number): Buf;
  /** Give a buffer back; it must not be used afterwards. */
  free(buf: Buf): void;
  cellForward(args: CellForwardArgs): void;
  cellBackward(args: CellBackwardArgs): void;
  /** C = alpha * op(A) * op(B) + beta * C, op transposes when the flag is set (row-major, leading dims). */
  sgemm(
    transA: boolean, transB: boolean, M: number, N: number, K: number, alpha: number,
    A: Buf, lda: number, B: Buf, ldb: number, beta: number, C: Buf, ldc: number,
  ): void;
}

/**
 * Dense operations of a training step (native/KERNELS.md, "Dense operations"). Ids and class targets are
 * float32 buffers holding exact integers; callers validate them (range, integrality) before the call.
 */
export interface DenseOps {
  /** y[N,O] = x[N,I] w[O,I]ᵀ + b */
  linearForward(N: number, I: number, O: number, x: Buf, w: Buf, b: Buf | null, y: Buf): void;
  /** dx = dy w (overwritten, skipped when null); dw += dyᵀ x; db += Σ dy */
  linearBackward(N: number, I: number, O: number, x: Buf, w: Buf, dy: Buf, dx: Buf | null, dw: Buf, db: Buf | null): void;
  /** Σ -log softmax(logits)[t] over rows whose target t is in [0, C); dlogits = scale (softmax - onehot). */
  softmaxCrossEntropy(N: number, C: number, logits: Buf, targets: Buf, dlogits: Buf | null, scale: number): number;
  embeddingForward(N: number, D: number, V: number, ids: Buf, table: Buf, out: Buf): void;
  /** dtable[ids[n]] += dout[n] */
  embeddingBackward(N: number, D: number, V: number, ids: Buf, dout: Buf, dtable: Buf): void;
  adamStep(
    n: number, p: Buf, g: Buf, m: Buf, v: Buf, lr: number, beta1: number, beta2: number, eps: number,
    weightDecay: number, decoupled: boolean, step: number,
  ): void;
  sgdStep(n: number, p: Buf, g: Buf, buf: Buf, lr: number, momentum: number, weightDecay: number, nesterov: boolean, first: boolean): void;
  sumSquares(n: number, x: Buf): number;
  scale(n: number, x: Buf, alpha: number): void;
}

/**
 * Data movement (DESIGN.md, "The kernel contract"): a layer moves data between its buffers with these and reads
 * a buffer (`read`) only to hand a result to its caller, so that on a device backend each step is a kernel on the
 * device, never a host round trip through `view()`. Offsets, strides and sizes count floats; every extent must
 * lie inside its buffer (else E_SHAPE), sizes and offsets are integers from 0 to MAX_BUFFER_FLOATS (else E_ARGUMENT).
 */
export interface MoveOps {
  /** Host to backend: x[offset, offset + data.length) = data. */
  write(x: Buf, data: Float32Array, offset?: number): void;
  /** Backend to host: a new array holding x[offset, offset + n) (n: the rest of x by default). */
  read(x: Buf, offset?: number, n?: number): Float32Array;
  /** x[offset, offset + n) = value */
  fill(n: number, x: Buf, value: number, offset?: number): void;
  /**
   * dst[dstOffset + r dstStride + c] = src[srcOffset + r srcStride + c] for r < rows, c < cols. src and dst are
   * different buffers.
   */
  copy(rows: number, cols: number, src: Buf, srcOffset: number, srcStride: number, dst: Buf, dstOffset: number, dstStride: number): void;
  /** src [A, B, C] -> dst [B, A, C]: batch-first <-> sequence-major. Different buffers. */
  transpose01(A: number, B: number, C: number, src: Buf, dst: Buf): void;
  /** fwd [R, H], rev [R, H] -> out [R, 2H], row r = fwd[r] then rev[r]: a bidirectional layer's output. */
  interleave(R: number, H: number, fwd: Buf, rev: Buf, out: Buf): void;
  /** inp [R, 2H] -> fwd [R, H], rev [R, H]: the inverse of interleave (each direction's output gradient). */
  deinterleave(R: number, H: number, inp: Buf, fwd: Buf, rev: Buf): void;
  /**
   * Dropout with a seeded mask, forward and backward alike: y[i] = x[i] * mask[i] for i < n, where mask[i] is 0
   * with probability p and 1 / (1 - p) otherwise. Element i is dropped exactly when number i + 1 of the
   * mulberry32 stream with state `seed` (src/nn/random.ts: `Random.next()` from that state) is below p, so the
   * same (seed, p) gives the same mask on every backend, and backward recomputes the forward's mask from the
   * seed instead of storing it. x and y may be the same buffer; seed is an integer in [0, 2^32), p in [0, 1).
   */
  dropout(n: number, p: number, seed: number, x: Buf, y: Buf): void;
}
