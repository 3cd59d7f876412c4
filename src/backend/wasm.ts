// The WebAssembly backend: the AssemblyScript kernels (assembly/kernels.ts, built by scripts/build-wasm.cjs into
// dist/wasm/rnnkit.wasm) over one linear memory per backend, with a small first-fit allocator kept here in
// JavaScript. The kernels never allocate: every buffer, workspace and scratch block comes from this allocator.
import { readFileSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { RnnkitError } from '../errors.js';
import { checkBackwardArgs, checkDense, checkForwardArgs, checkGemmArgs } from './check.js';
import type { Backend, Buf, CellBackwardArgs, CellForwardArgs, CellKind } from './types.js';
import { CELL_CODES } from './types.js';

/** Two levels below the package root both as src/backend/wasm.ts and as dist/backend/wasm.js. */
const WASM_URL = new URL('../../dist/wasm/rnnkit.wasm', import.meta.url);

/** The module's exports (assembly/kernels.ts). Pointers are byte offsets; sizes are float counts. */
interface Kernels {
  memory: WebAssembly.Memory;
  heapBase(): number;
  forwardScratchFloats(kind: number, T: number, B: number, I: number, H: number): number;
  backwardScratchFloats(kind: number, T: number, B: number, I: number, H: number): number;
  cellForward(...args: number[]): void;
  cellBackward(...args: number[]): void;
  sgemm(
    transA: number, transB: number, M: number, N: number, K: number, alpha: number,
    A: number, lda: number, B: number, ldb: number, beta: number, C: number, ldc: number,
  ): void;
  linearForward(N: number, I: number, O: number, x: number, w: number, b: number, y: number): void;
  linearBackward(N: number, I: number, O: number, x: number, w: number, dy: number, dx: number, dw: number, db: number): void;
  softmaxCrossEntropy(N: number, C: number, logits: number, targets: number, dlogits: number, scale: number): number;
  embeddingForward(N: number, D: number, V: number, ids: number, table: number, out: number): void;
  embeddingBackward(N: number, D: number, V: number, ids: number, dout: number, dtable: number): void;
  adamStep(
    n: number, p: number, g: number, m: number, v: number, lr: number, beta1: number, beta2: number, eps: number,
    weightDecay: number, decoupled: number, step: number,
  ): void;
  sgdStep(
    n: number, p: number, g: number, buf: number, lr: number, momentum: number, weightDecay: number,
    nesterov: number, first: number,
  ): void;
  sumSquares(n: number, x: number): number;
  scale(n: number, x: number, alpha: number): void;
}

const ALIGN = 64; // bytes: every block starts on a cache line
const PAGE = 65536;
const MAX_BYTES = 2 ** 32; // wasm32
const MIN_GROW_PAGES = 16;

const roundUp = (n: number, a: number): number => Math.ceil(n / a) * a;

/** A free block of linear memory. */
interface Span {
  ptr: number;
  bytes: number;
}

/**
 * First-fit allocator over [heapBase, top) with an address-ordered free list that coalesces neighbours; a block
 * freed at the top lowers the top. Grows the memory when a request fits nowhere. Never returns 0.
 */
class Heap {
  private top: number;
  private readonly spans: Span[] = [];

  constructor(private readonly memory: WebAssembly.Memory, base: number) {
    this.top = roundUp(Math.max(base, ALIGN), ALIGN);
  }

  alloc(bytes: number): number {
    const size = roundUp(Math.max(bytes, 1), ALIGN);
    for (let i = 0; i < this.spans.length; i++) {
      const s = this.spans[i]!;
      if (s.bytes < size) continue;
      const ptr = s.ptr;
      if (s.bytes === size) this.spans.splice(i, 1);
      else {
        s.ptr += size;
        s.bytes -= size;
      }
      return ptr;
    }
    const ptr = this.top;
    this.reserve(ptr + size);
    this.top = ptr + size;
    return ptr;
  }

  release(ptr: number, bytes: number): void {
    const size = roundUp(Math.max(bytes, 1), ALIGN);
    // index of the first span above ptr
    let lo = 0;
    let hi = this.spans.length;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (this.spans[mid]!.ptr < ptr) lo = mid + 1;
      else hi = mid;
    }
    const prev = lo > 0 ? this.spans[lo - 1]! : null;
    const next = lo < this.spans.length ? this.spans[lo]! : null;
    let span: Span;
    if (prev !== null && prev.ptr + prev.bytes === ptr) {
      prev.bytes += size;
      span = prev;
      if (next !== null && span.ptr + span.bytes === next.ptr) {
        span.bytes += next.bytes;
        this.spans.splice(lo, 1);
      }
    } else if (next !== null && ptr + size === next.ptr) {
      next.ptr = ptr;
      next.bytes += size;
      span = next;
    } else {
      span = { ptr, bytes: size };
      this.spans.splice(lo, 0, span);
    }
    if (span.ptr + span.bytes === this.top) {
      this.top = span.ptr;
      this.spans.pop(); // the span touching the top is always the last one
    }
  }

  private reserve(end: number): void {
    const have = this.memory.buffer.byteLength;
    if (end <= have) return;
    if (end > MAX_BYTES) {
      throw new RnnkitError('E_BACKEND', `WASM backend: out of memory (a 32-bit memory cannot hold ${end} bytes)`);
    }
    const need = Math.ceil((end - have) / PAGE);
    const maxPages = MAX_BYTES / PAGE - have / PAGE;
    const want = Math.min(maxPages, Math.max(need, MIN_GROW_PAGES, Math.floor(have / PAGE / 8)));
    try {
      this.memory.grow(want);
    } catch {
      try {
        this.memory.grow(need);
      } catch (e) {
        throw new RnnkitError('E_BACKEND', `WASM backend: out of memory (could not grow the memory to ${end} bytes)`, {
          cause: e,
        });
      }
    }
  }
}

class WasmBuf implements Buf {
  freed = false;
  constructor(
    readonly owner: WasmBackend,
    readonly ptr: number,
    readonly length: number,
  ) {}

  view(): Float32Array {
    if (this.freed) throw new RnnkitError('E_ARGUMENT', 'WASM buffer used after free');
    return new Float32Array(this.owner.memory.buffer, this.ptr, this.length);
  }
}

class WasmBackend implements Backend {
  readonly name = 'wasm' as const;
  readonly details = 'AssemblyScript WASM SIMD128, 1 thread';
  readonly memory: WebAssembly.Memory;
  private readonly heap: Heap;
  private scratchPtr = 0;
  private scratchBytes = 0;

  constructor(private readonly k: Kernels) {
    this.memory = k.memory;
    this.heap = new Heap(k.memory, k.heapBase());
  }

  alloc(n: number): Buf {
    if (!Number.isInteger(n) || n < 0 || n > 2 ** 30) {
      throw new RnnkitError('E_ARGUMENT', `alloc: expected an integer number of floats in [0, 2^30], found ${n}`);
    }
    const ptr = this.heap.alloc(n * 4);
    new Float32Array(this.memory.buffer, ptr, n).fill(0);
    return new WasmBuf(this, ptr, n);
  }

  free(buf: Buf): void {
    const b = this.own(buf, 'free');
    b.freed = true;
    this.heap.release(b.ptr, b.length * 4);
  }

  /** The byte pointer of a live buffer of this backend. */
  private own(buf: Buf, name: string): WasmBuf {
    if (!(buf instanceof WasmBuf) || buf.owner !== this) {
      throw new RnnkitError('E_ARGUMENT', `${name}: buffer was not allocated by this WASM backend`);
    }
    if (buf.freed) throw new RnnkitError('E_ARGUMENT', `${name}: buffer was already freed`);
    return buf;
  }

  private p(buf: Buf | null, name: string): number {
    return buf === null ? 0 : this.own(buf, `kernel buffer ${name}`).ptr;
  }

  /** One scratch block, kept between calls and regrown only when a call needs more. */
  private scratch(floats: number): number {
    const bytes = Math.max(floats, 1) * 4;
    if (bytes > this.scratchBytes) {
      const grown = roundUp(Math.max(bytes, Math.floor(this.scratchBytes * 1.25)), ALIGN);
      if (this.scratchBytes > 0) this.heap.release(this.scratchPtr, this.scratchBytes);
      this.scratchBytes = 0;
      this.scratchPtr = this.heap.alloc(grown);
      this.scratchBytes = grown;
    }
    return this.scratchPtr;
  }

  cellForward(a: CellForwardArgs): void {
    checkForwardArgs(a);
    const lstm = a.kind === 'lstm';
    const ptrs = [
      this.p(a.x, 'x'), this.p(a.h0, 'h0'), lstm ? this.p(a.c0, 'c0') : 0,
      this.p(a.wih, 'wih'), this.p(a.whh, 'whh'), this.p(a.bih, 'bih'), this.p(a.bhh, 'bhh'),
      this.p(a.y, 'y'), this.p(a.hT, 'hT'), lstm ? this.p(a.cT, 'cT') : 0, this.p(a.ws, 'ws'),
    ];
    const code = kindCode(a.kind);
    const scratch = this.scratch(this.k.forwardScratchFloats(code, a.T, a.B, a.I, a.H));
    this.k.cellForward(code, a.T, a.B, a.I, a.H, a.reverse ? 1 : 0, ...ptrs, scratch);
  }

  cellBackward(a: CellBackwardArgs): void {
    checkBackwardArgs(a);
    const lstm = a.kind === 'lstm';
    const ptrs = [
      this.p(a.x, 'x'), this.p(a.h0, 'h0'), lstm ? this.p(a.c0, 'c0') : 0,
      this.p(a.wih, 'wih'), this.p(a.whh, 'whh'), this.p(a.bih, 'bih'), this.p(a.bhh, 'bhh'),
      this.p(a.y, 'y'), this.p(a.ws, 'ws'), this.p(a.dy, 'dy'), this.p(a.dhT, 'dhT'),
      lstm ? this.p(a.dcT, 'dcT') : 0, this.p(a.dx, 'dx'), this.p(a.dh0, 'dh0'), lstm ? this.p(a.dc0, 'dc0') : 0,
      this.p(a.dwih, 'dwih'), this.p(a.dwhh, 'dwhh'), this.p(a.dbih, 'dbih'), this.p(a.dbhh, 'dbhh'),
    ];
    const code = kindCode(a.kind);
    const scratch = this.scratch(this.k.backwardScratchFloats(code, a.T, a.B, a.I, a.H));
    this.k.cellBackward(code, a.T, a.B, a.I, a.H, a.reverse ? 1 : 0, ...ptrs, scratch);
  }

  sgemm(
    transA: boolean, transB: boolean, M: number, N: number, K: number, alpha: number,
    A: Buf, lda: number, B: Buf, ldb: number, beta: number, C: Buf, ldc: number,
  ): void {
    checkGemmArgs(transA, transB, M, N, K, A, lda, B, ldb, C, ldc);
    for (const [name, v] of [['lda', lda], ['ldb', ldb], ['ldc', ldc]] as const) {
      if (!Number.isInteger(v) || v > 2 ** 30) {
        throw new RnnkitError('E_ARGUMENT', `sgemm ${name}: expected an integer leading dimension, found ${v}`);
      }
    }
    const pa = this.p(A, 'A');
    const pb = this.p(B, 'B');
    const pc = this.p(C, 'C');
    this.k.sgemm(transA ? 1 : 0, transB ? 1 : 0, M, N, K, alpha, pa, lda, pb, ldb, beta, pc, ldc);
  }

  linearForward(N: number, I: number, O: number, x: Buf, w: Buf, b: Buf | null, y: Buf): void {
    checkDense.linearForward(N, I, O, x, w, b, y);
    this.k.linearForward(N, I, O, this.p(x, 'x'), this.p(w, 'w'), this.p(b, 'b'), this.p(y, 'y'));
  }

  linearBackward(N: number, I: number, O: number, x: Buf, w: Buf, dy: Buf, dx: Buf | null, dw: Buf, db: Buf | null): void {
    checkDense.linearBackward(N, I, O, x, w, dy, dx, dw, db);
    this.k.linearBackward(
      N, I, O, this.p(x, 'x'), this.p(w, 'w'), this.p(dy, 'dy'), this.p(dx, 'dx'), this.p(dw, 'dw'), this.p(db, 'db'),
    );
  }

  softmaxCrossEntropy(N: number, C: number, logits: Buf, targets: Buf, dlogits: Buf | null, scale: number): number {
    checkDense.softmaxCrossEntropy(N, C, logits, targets, dlogits);
    return this.k.softmaxCrossEntropy(
      N, C, this.p(logits, 'logits'), this.p(targets, 'targets'), this.p(dlogits, 'dlogits'), scale,
    );
  }

  embeddingForward(N: number, D: number, V: number, ids: Buf, table: Buf, out: Buf): void {
    checkDense.embedding(N, D, V, ids, table, out);
    this.k.embeddingForward(N, D, V, this.p(ids, 'ids'), this.p(table, 'table'), this.p(out, 'out'));
  }

  embeddingBackward(N: number, D: number, V: number, ids: Buf, dout: Buf, dtable: Buf): void {
    checkDense.embedding(N, D, V, ids, dtable, dout);
    this.k.embeddingBackward(N, D, V, this.p(ids, 'ids'), this.p(dout, 'dout'), this.p(dtable, 'dtable'));
  }

  adamStep(
    n: number, p: Buf, g: Buf, m: Buf, v: Buf, lr: number, beta1: number, beta2: number, eps: number,
    weightDecay: number, decoupled: boolean, step: number,
  ): void {
    checkDense.elementwise('adamStep', n, ['p', p], ['g', g], ['m', m], ['v', v]);
    if (!Number.isInteger(step) || step < 1 || step > 2 ** 31 - 1) {
      throw new RnnkitError('E_ARGUMENT', `adamStep step: expected a positive integer, found ${step}`);
    }
    this.k.adamStep(
      n, this.p(p, 'p'), this.p(g, 'g'), this.p(m, 'm'), this.p(v, 'v'), lr, beta1, beta2, eps, weightDecay,
      decoupled ? 1 : 0, step,
    );
  }

  sgdStep(
    n: number, p: Buf, g: Buf, buf: Buf, lr: number, momentum: number, weightDecay: number, nesterov: boolean,
    first: boolean,
  ): void {
    checkDense.elementwise('sgdStep', n, ['p', p], ['g', g], ['buf', buf]);
    this.k.sgdStep(
      n, this.p(p, 'p'), this.p(g, 'g'), this.p(buf, 'buf'), lr, momentum, weightDecay, nesterov ? 1 : 0, first ? 1 : 0,
    );
  }

  sumSquares(n: number, x: Buf): number {
    checkDense.elementwise('sumSquares', n, ['x', x]);
    return this.k.sumSquares(n, this.p(x, 'x'));
  }

  scale(n: number, x: Buf, alpha: number): void {
    checkDense.elementwise('scale', n, ['x', x]);
    this.k.scale(n, this.p(x, 'x'), alpha);
  }
}

function kindCode(kind: CellKind): number {
  return CELL_CODES[kind];
}

function missing(cause: unknown): RnnkitError {
  const file = fileURLToPath(WASM_URL);
  const code = (cause as NodeJS.ErrnoException | null)?.code;
  if (code === 'ENOENT') {
    return new RnnkitError('E_BACKEND', `the WASM build is missing (${file}): run \`npm run build:wasm\``, { cause });
  }
  return new RnnkitError('E_BACKEND', `cannot read the WASM build ${file}: ${(cause as Error).message}`, { cause });
}

function instantiate(module: WebAssembly.Module): Backend {
  const instance = new WebAssembly.Instance(module, {});
  const k = instance.exports as unknown as Kernels;
  if (!(k.memory instanceof WebAssembly.Memory) || typeof k.cellForward !== 'function') {
    throw new RnnkitError('E_BACKEND', `the WASM build ${fileURLToPath(WASM_URL)} lacks the rnnkit kernels: rebuild it`);
  }
  return new WasmBackend(k);
}

function compileError(e: unknown): RnnkitError {
  if (e instanceof RnnkitError) return e;
  return new RnnkitError(
    'E_BACKEND',
    `cannot compile the WASM build ${fileURLToPath(WASM_URL)} (needs WebAssembly SIMD, Node >= 16.4): ${(e as Error).message}`,
    { cause: e },
  );
}

/** The WASM backend, compiled synchronously (the module is small: about 20 KB). */
export function loadWasmBackendSync(): Backend {
  let bytes: Uint8Array<ArrayBuffer>;
  try {
    bytes = new Uint8Array(readFileSync(WASM_URL));
  } catch (e) {
    throw missing(e);
  }
  try {
    return instantiate(new WebAssembly.Module(bytes));
  } catch (e) {
    throw compileError(e);
  }
}

/** The WASM backend, compiled off the main thread's critical path. */
export async function loadWasmBackend(): Promise<Backend> {
  let bytes: Uint8Array<ArrayBuffer>;
  try {
    bytes = new Uint8Array(await readFile(WASM_URL));
  } catch (e) {
    throw missing(e);
  }
  try {
    return instantiate(await WebAssembly.compile(bytes));
  } catch (e) {
    throw compileError(e);
  }
}
