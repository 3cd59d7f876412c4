// The cuda backend: the CUDA addon (native/cuda/, its own .node file, so the CPU addon never needs a CUDA library).
// Buffers live on the GPU and stay there between calls: a layer moves data with the backend's own operations
// (MoveOps) and reads a buffer only to hand a result back (`read`), so a forward pass costs one copy in and one
// copy out. Everything runs on one CUDA stream in call order; `read` waits for the work before it.
//
// Loaded only when asked for (`backend: 'cuda'`, RNNKIT_BACKEND=cuda): from build/cuda/ (built by
// `npm run build:native` where nvcc is found), else prebuilds/<platform>-<arch>/cuda/rnnkit_cuda.node. Without a
// driver, a device or cuBLAS (opened at run time: libcublas.so.13 or .12, RNNKIT_CUBLAS_DIR to look elsewhere
// first) the loader returns the addon's reason, which `rnnkit info` shows. RNNKIT_CUDA_PRECISION=tf32 or bf16 lets
// cuBLAS use tensor cores (opt-in; the vectors' 1e-5 tolerance then no longer holds).
//
// RNNKIT_CUDA_EMULATE=1 loads build/emulation/rnnkit_cuda_emu.node instead: the same algorithm and glue with the
// GPU replaced by host loops (native/cuda/exec_host.cc). It exists for the CPU-only test suite and is never packed.
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { RnnkitError } from '../errors.js';
import { checkBackwardArgs, checkDense, checkForwardArgs, checkGemmArgs } from './check.js';
import { checkBufferFloats } from './limits.js';
import { checkMoves } from './moves.js';
import { packageRoot } from './native.js';
import { readSetting, settingError } from './settings.js';
import type { Backend, Buf, CellBackwardArgs, CellForwardArgs } from './types.js';
import { CELL_CODES } from './types.js';

export type Id = number;
/** RNNKIT_CUDA_PRECISION: what cuBLAS may do with the GEMMs' fp32 operands (the elementwise math stays fp32). */
export type CudaPrecision = 'fp32' | 'tf32' | 'bf16';
/** The CUDA addon's functions (native/cuda/addon.cc); buffers are ids, 0 stands for null. */
export interface CudaAddon {
  open(precision: CudaPrecision): { ok: boolean; details?: string; reason?: string };
  alloc(n: number): Id;
  free(id: Id): void;
  upload(id: Id, offset: number, src: Float32Array): void;
  download(id: Id, offset: number, dst: Float32Array): void;
  fill(id: Id, offset: number, n: number, value: number): void;
  copy2d(rows: number, cols: number, src: Id, srcOffset: number, srcStride: number, dst: Id, dstOffset: number, dstStride: number): void;
  transpose01(A: number, B: number, C: number, src: Id, dst: Id): void;
  dropout(n: number, seed: number, threshold: number, scale: number, x: Id, y: Id): void;
  cellForward(...args: number[]): void;
  cellBackward(...args: number[]): void;
  sgemm(...args: (number | boolean)[]): void;
  linearForward(...args: number[]): void;
  linearBackward(...args: number[]): void;
  softmaxCrossEntropy(...args: number[]): number;
  embeddingForward(...args: number[]): void;
  embeddingBackward(...args: number[]): void;
  adamStep(...args: (number | boolean)[]): void;
  sgdStep(...args: (number | boolean)[]): void;
  sumSquares(n: number, x: Id): number;
  scale(n: number, x: Id, alpha: number): void;
  synchronize(): void;
}

/** A buffer on the GPU. It has no host view: read it with `backend.read`, write it with `backend.write`. */
class CudaBuf implements Buf {
  constructor(readonly id: Id, readonly length: number, readonly owner: CudaBackend) {}
  view(): Float32Array {
    throw new RnnkitError('E_BACKEND', 'a cuda buffer lives on the GPU and has no host view: use backend.read(buf) and backend.write(buf, data)');
  }
}

const ADDON_CODES = ['E_SHAPE', 'E_ARGUMENT', 'E_DTYPE', 'E_BACKEND'] as const;

/** Turns the addon's coded errors into RnnkitErrors with the same code; anything else is E_BACKEND. */
function call<T>(op: string, f: () => T): T {
  try {
    return f();
  } catch (e) {
    if (e instanceof RnnkitError) throw e;
    const found = (e as { code?: string }).code;
    const code = ADDON_CODES.find((c) => c === found) ?? 'E_BACKEND';
    throw new RnnkitError(code, `cuda ${op}: ${(e as Error).message}`, { cause: e });
  }
}

class CudaBackend implements Backend {
  readonly name = 'cuda' as const;
  readonly details: string;
  private freed = new WeakSet<CudaBuf>();
  constructor(private readonly addon: CudaAddon, details: string, readonly path: string) {
    this.details = `CUDA addon, ${details} (${path})`;
  }

  alloc(n: number): Buf {
    checkBufferFloats('alloc', n);
    return new CudaBuf(call('alloc', () => this.addon.alloc(n)), n, this);
  }
  free(buf: Buf): void {
    const b = this.own(buf, 'buffer');
    if (this.freed.has(b)) throw new RnnkitError('E_ARGUMENT', 'free: buffer already freed');
    this.freed.add(b);
    call('free', () => this.addon.free(b.id));
  }
  private own(b: Buf, name: string): CudaBuf {
    if (!(b instanceof CudaBuf) || b.owner !== this) {
      throw new RnnkitError('E_ARGUMENT', `kernel buffer ${name}: not allocated by this cuda backend`);
    }
    if (this.freed.has(b)) throw new RnnkitError('E_ARGUMENT', `kernel buffer ${name}: used after free`);
    return b;
  }
  private d(b: Buf | null, name: string): Id {
    return b === null ? 0 : this.own(b, name).id;
  }

  // ---- data movement ----
  write(x: Buf, data: Float32Array, offset = 0): void {
    if (!(data instanceof Float32Array)) throw new RnnkitError('E_DTYPE', `write data: expected a Float32Array, found ${typeof data}`);
    checkMoves.span('write', x, offset, data.length);
    const id = this.d(x, 'x');
    call('write', () => this.addon.upload(id, offset, data));
  }
  read(x: Buf, offset = 0, n?: number): Float32Array {
    const len = checkMoves.span('read', x, offset, n);
    const out = new Float32Array(len);
    const id = this.d(x, 'x');
    call('read', () => this.addon.download(id, offset, out));
    return out;
  }
  fill(n: number, x: Buf, value: number, offset = 0): void {
    checkMoves.fill(n, x, value, offset);
    const id = this.d(x, 'x');
    call('fill', () => this.addon.fill(id, offset, n, value));
  }
  copy(rows: number, cols: number, src: Buf, srcOffset: number, srcStride: number, dst: Buf, dstOffset: number, dstStride: number): void {
    checkMoves.copy(rows, cols, src, srcOffset, srcStride, dst, dstOffset, dstStride);
    const s = this.d(src, 'src'), t = this.d(dst, 'dst');
    call('copy', () => this.addon.copy2d(rows, cols, s, srcOffset, srcStride, t, dstOffset, dstStride));
  }
  transpose01(A: number, B: number, C: number, src: Buf, dst: Buf): void {
    checkMoves.transpose01(A, B, C, src, dst);
    const s = this.d(src, 'src'), t = this.d(dst, 'dst');
    call('transpose01', () => this.addon.transpose01(A, B, C, s, t));
  }
  interleave(R: number, H: number, fwd: Buf, rev: Buf, out: Buf): void {
    checkMoves.interleave('interleave', R, H, fwd, rev, out);
    const f = this.d(fwd, 'fwd'), r = this.d(rev, 'rev'), o = this.d(out, 'out');
    call('interleave', () => {
      this.addon.copy2d(R, H, f, 0, H, o, 0, 2 * H);
      this.addon.copy2d(R, H, r, 0, H, o, H, 2 * H);
    });
  }
  deinterleave(R: number, H: number, inp: Buf, fwd: Buf, rev: Buf): void {
    checkMoves.interleave('deinterleave', R, H, fwd, rev, inp);
    const i = this.d(inp, 'inp'), f = this.d(fwd, 'fwd'), r = this.d(rev, 'rev');
    call('deinterleave', () => {
      this.addon.copy2d(R, H, i, 0, 2 * H, f, 0, H);
      this.addon.copy2d(R, H, i, H, 2 * H, r, 0, H);
    });
  }
  dropout(n: number, p: number, seed: number, x: Buf, y: Buf): void {
    const [threshold, scale] = checkMoves.dropout(n, p, seed, x, y);
    const a = this.d(x, 'x'), b = this.d(y, 'y');
    call('dropout', () => this.addon.dropout(n, seed, threshold, scale, a, b));
  }

  // ---- cells ----
  cellForward(a: CellForwardArgs): void {
    checkForwardArgs(a);
    const ids = [this.d(a.x, 'x'), this.d(a.h0, 'h0'), this.d(a.c0, 'c0'), this.d(a.wih, 'wih'), this.d(a.whh, 'whh'),
      this.d(a.bih, 'bih'), this.d(a.bhh, 'bhh'), this.d(a.y, 'y'), this.d(a.hT, 'hT'), this.d(a.cT, 'cT'), this.d(a.ws, 'ws')];
    call('cellForward', () => this.addon.cellForward(CELL_CODES[a.kind], a.T, a.B, a.I, a.H, a.reverse ? 1 : 0, ...ids));
  }
  cellBackward(a: CellBackwardArgs): void {
    checkBackwardArgs(a);
    const ids = [this.d(a.x, 'x'), this.d(a.h0, 'h0'), this.d(a.c0, 'c0'), this.d(a.wih, 'wih'), this.d(a.whh, 'whh'),
      this.d(a.bih, 'bih'), this.d(a.bhh, 'bhh'), this.d(a.y, 'y'), this.d(a.ws, 'ws'), this.d(a.dy, 'dy'),
      this.d(a.dhT, 'dhT'), this.d(a.dcT, 'dcT'), this.d(a.dx, 'dx'), this.d(a.dh0, 'dh0'), this.d(a.dc0, 'dc0'),
      this.d(a.dwih, 'dwih'), this.d(a.dwhh, 'dwhh'), this.d(a.dbih, 'dbih'), this.d(a.dbhh, 'dbhh')];
    call('cellBackward', () => this.addon.cellBackward(CELL_CODES[a.kind], a.T, a.B, a.I, a.H, a.reverse ? 1 : 0, ...ids));
  }
  sgemm(transA: boolean, transB: boolean, M: number, N: number, K: number, alpha: number,
    A: Buf, lda: number, B: Buf, ldb: number, beta: number, C: Buf, ldc: number): void {
    checkGemmArgs(transA, transB, M, N, K, A, lda, B, ldb, C, ldc);
    const a = this.d(A, 'A'), b = this.d(B, 'B'), c = this.d(C, 'C');
    call('sgemm', () => this.addon.sgemm(transA, transB, M, N, K, alpha, a, lda, b, ldb, beta, c, ldc));
  }

  // ---- dense ops ----
  linearForward(N: number, I: number, O: number, x: Buf, w: Buf, b: Buf | null, y: Buf): void {
    checkDense.linearForward(N, I, O, x, w, b, y);
    const ids = [this.d(x, 'x'), this.d(w, 'w'), this.d(b, 'b'), this.d(y, 'y')];
    call('linearForward', () => this.addon.linearForward(N, I, O, ...ids));
  }
  linearBackward(N: number, I: number, O: number, x: Buf, w: Buf, dy: Buf, dx: Buf | null, dw: Buf, db: Buf | null): void {
    checkDense.linearBackward(N, I, O, x, w, dy, dx, dw, db);
    const ids = [this.d(x, 'x'), this.d(w, 'w'), this.d(dy, 'dy'), this.d(dx, 'dx'), this.d(dw, 'dw'), this.d(db, 'db')];
    call('linearBackward', () => this.addon.linearBackward(N, I, O, ...ids));
  }
  softmaxCrossEntropy(N: number, C: number, logits: Buf, targets: Buf, dlogits: Buf | null, scale: number): number {
    checkDense.softmaxCrossEntropy(N, C, logits, targets, dlogits);
    const ids = [this.d(logits, 'logits'), this.d(targets, 'targets'), this.d(dlogits, 'dlogits')];
    return call('softmaxCrossEntropy', () => this.addon.softmaxCrossEntropy(N, C, ids[0]!, ids[1]!, ids[2]!, scale));
  }
  embeddingForward(N: number, D: number, V: number, ids: Buf, table: Buf, out: Buf): void {
    checkDense.embedding(N, D, V, ids, table, out);
    const b = [this.d(ids, 'ids'), this.d(table, 'table'), this.d(out, 'out')];
    call('embeddingForward', () => this.addon.embeddingForward(N, D, V, ...b));
  }
  embeddingBackward(N: number, D: number, V: number, ids: Buf, dout: Buf, dtable: Buf): void {
    checkDense.embedding(N, D, V, ids, dtable, dout);
    const b = [this.d(ids, 'ids'), this.d(dout, 'dout'), this.d(dtable, 'dtable')];
    call('embeddingBackward', () => this.addon.embeddingBackward(N, D, V, ...b));
  }
  adamStep(n: number, p: Buf, g: Buf, m: Buf, v: Buf, lr: number, beta1: number, beta2: number, eps: number,
    weightDecay: number, decoupled: boolean, step: number): void {
    checkDense.adamStep(n, p, g, m, v);
    const b = [this.d(p, 'p'), this.d(g, 'g'), this.d(m, 'm'), this.d(v, 'v')] as const;
    call('adamStep', () => this.addon.adamStep(n, ...b, lr, beta1, beta2, eps, weightDecay, decoupled, step));
  }
  sgdStep(n: number, p: Buf, g: Buf, buf: Buf, lr: number, momentum: number, weightDecay: number, nesterov: boolean, first: boolean): void {
    checkDense.sgdStep(n, p, g, buf, momentum);
    const b = [this.d(p, 'p'), this.d(g, 'g'), this.d(buf, 'buf')] as const;
    call('sgdStep', () => this.addon.sgdStep(n, ...b, lr, momentum, weightDecay, nesterov, first));
  }
  sumSquares(n: number, x: Buf): number {
    checkDense.elementwise('sumSquares', n, ['x', x]);
    const id = this.d(x, 'x');
    return call('sumSquares', () => this.addon.sumSquares(n, id));
  }
  scale(n: number, x: Buf, alpha: number): void {
    checkDense.elementwise('scale', n, ['x', x]);
    const id = this.d(x, 'x');
    call('scale', () => this.addon.scale(n, id, alpha));
  }
  /** Waits for every call issued so far (benchmarks time with it; `read` already waits). */
  synchronize(): void {
    call('synchronize', () => this.addon.synchronize());
  }
}

/** The CUDA addon's files, relative to the package root. */
export const CUDA_ADDON = 'build/cuda/rnnkit_cuda.node';
export const CUDA_EMULATION_ADDON = 'build/emulation/rnnkit_cuda_emu.node';

/** The cuda backend, or the reason it cannot load here (registered in index.ts; never chosen by `auto`). */
export function loadCudaBackend(): Backend | string {
  const emulate = readSetting('RNNKIT_CUDA_EMULATE');
  if (emulate !== '' && emulate !== '0' && emulate !== '1') throw settingError('RNNKIT_CUDA_EMULATE', emulate, '0 or 1');
  // fp32 keeps the PyTorch vectors' tolerances; tf32 lets cuBLAS use TF32 tensor cores (faster, ~1e-3 relative);
  // bf16 lets cuBLAS round the GEMMs' operands to bfloat16 (or TF32) for the tensor cores (cublasGemmEx,
  // CUBLAS_COMPUTE_32F_FAST_16BF: fastest, ~1e-2 relative), storage and sums staying fp32.
  const precision = readSetting('RNNKIT_CUDA_PRECISION').toLowerCase() || 'fp32';
  if (precision !== 'fp32' && precision !== 'tf32' && precision !== 'bf16') {
    throw settingError('RNNKIT_CUDA_PRECISION', precision, 'fp32, tf32 or bf16');
  }
  const candidates = emulate === '1'
    ? [CUDA_EMULATION_ADDON]
    // In its own folder under prebuilds/: node-gyp-build would take an untagged .node beside the CPU addon for it.
    : [CUDA_ADDON, `prebuilds/${process.platform}-${process.arch}/cuda/rnnkit_cuda.node`];
  const path = candidates.map((p) => join(packageRoot, p)).find((p) => existsSync(p));
  if (path === undefined) {
    return emulate === '1'
      ? `RNNKIT_CUDA_EMULATE=1 but the emulation addon (${CUDA_EMULATION_ADDON}) is not built: npm run build:native`
      : `the CUDA addon is not built here (${CUDA_ADDON}): \`npm run build:native\` builds it where the CUDA toolkit (nvcc) is installed`;
  }
  let addon: CudaAddon;
  try {
    addon = createRequire(import.meta.url)(path) as CudaAddon;
  } catch (e) {
    return `the CUDA addon ${path} could not be loaded: ${(e as Error).message.split('\n')[0]}`;
  }
  const r = addon.open(precision);
  if (!r.ok) return r.reason ?? 'the CUDA addon gave no reason';
  return new CudaBackend(addon, r.details ?? '', path);
}
