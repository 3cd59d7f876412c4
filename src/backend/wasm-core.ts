// The WebAssembly backend's portable core: the AssemblyScript kernels (assembly/, entry assembly/index.ts, built
// by scripts/build-wasm.cjs into dist/wasm/) over one linear memory per backend, with a small first-fit allocator
// kept here in JavaScript, and the thread protocol over a shared memory. Nothing here imports from `node:` or
// reads the environment: the adapters do (wasm-node.ts for Node: files, worker_threads, V8 flags and the RNNKIT_*
// settings; wasm-browser.ts for browsers: fetch, Web Workers), read the build's bytes, compile it and hand the
// instance, the plan (planBuild) and a ThreadHost that starts workers to the WasmBackend here. The kernels never
// allocate: every buffer, workspace, scratch block and thread context comes from this allocator.
//
// Builds: relaxed SIMD (fused multiply-add) where the engine validates it, else plain SIMD128. Threads: the
// threaded builds run over one shared WebAssembly.Memory; the adapter's workers, started on the first call large
// enough to use them, each run their own instance of the same module over it. The calling thread is thread 0 and
// stays synchronous: it describes a job in a control block in the shared memory, wakes the workers, runs its own
// part and returns when every part is done (assembly/index.ts, run). Until the workers are up, for small work, or
// for a call shape whose threaded calls measured slower than its one-thread calls (cores busy with other work), a
// call runs on the calling thread alone. Barriers spin, then sleep in memory.atomic.wait; the calling thread
// spins `spins.main` polls first. Node allows it to sleep after that; a browser's main thread may not (the wait
// traps), so the browser adapter gives it a bound it never expects to reach, and a call that does reach it fails
// with E_BACKEND and leaves the backend on one thread (threadsFailed). A one-thread plan uses the non-shared build
// (no workers, no shared memory).
import { RnnkitError } from '../errors.js';
import { checkBackwardArgs, checkDense, checkForwardArgs, checkGemmArgs } from './check.js';
import { checkBufferFloats } from './limits.js';
import { checkMoves, type WasmMoveKernels } from './moves.js';
import type { Backend, Buf, CellBackwardArgs, CellForwardArgs, CellKind } from './types.js';
import { CELL_CODES, CELL_TABLE, GATES } from './types.js';

/** The builds in dist/wasm/ (the adapters read them from there, or from next to the browser bundle). */
export const FILES = {
  plain: 'rnnkit.wasm',
  relaxed: 'rnnkit-relaxed.wasm',
  plainMt: 'rnnkit-mt.wasm',
  relaxedMt: 'rnnkit-relaxed-mt.wasm',
  // the threaded builds plus setTestLag, loaded only for a test lag (wasm-node.ts: RNNKIT_TEST_LAG_US)
  plainMtHooks: 'rnnkit-mt-testhooks.wasm',
  relaxedMtHooks: 'rnnkit-relaxed-mt-testhooks.wasm',
} as const;
export type BuildFile = (typeof FILES)[keyof typeof FILES];

/** The threaded builds import a shared memory of these sizes (pages; scripts/build-wasm.cjs, the same numbers). */
const MT_INITIAL_PAGES = 32;
const MT_MAXIMUM_PAGES = 65536;
/** Inference packings a backend keeps (layers of a model, both directions), as the native addon's kMaxPacks. */
const PACKS_KEPT = 16;
/** The largest packing kept: weights and their packing of at most this many floats (64 MiB). */
const PACK_MAX_FLOATS = 1 << 24;

/** A kept packing: the weights' addresses, kind and sizes; the packing and the copy it was made from (heap). */
interface PackEntry {
  wih: number; whh: number; kind: number; I: number; H: number;
  /** Nothing packed yet: the kernel packs without comparing. */
  fresh: boolean;
  packed: number; packedBytes: number; src: number; srcBytes: number;
  /**
   * The weights' stamps (WasmBuf.stamp) as the last call that packed or checked them found them. A stamp is
   * given once, to one buffer: while both are the same and neither buffer was ever viewed, no byte of them was
   * written since, and the packing is used without comparing (PACK_KEPT).
   */
  seen: { wih: number; whh: number } | null;
}

/** Most threads a backend uses (each thread's packing area is 1.1 MiB); the build's CTRL_MAX_THREADS is checked against it. */
export const MAX_THREADS = 16;

/**
 * Barrier polls before sleeping (one poll is about a nanosecond): the calling thread (main) spins longer (a sleep
 * costs a wake-up of 10-35 µs, more than a batch-1 step), workers less. Between jobs a worker polls `idle`
 * times, then sleeps until the next job.
 */
export const SPINS = { main: 1 << 20, worker: 1 << 18, idle: 1 << 16 };
export type Spins = typeof SPINS;

/** Work below which a call stays on one thread: per recurrent step (2 B G H H flops), per GEMM (2 M N K). */
const MIN_STEP_FLOPS = 2e5;
const MIN_GEMM_FLOPS = 4e6;
/**
 * Elements a working thread of a dense pass gets at least (Adam, SGD, scale, fill, the sum of squares; the
 * cross-entropy's logits): ~30 µs of Adam, well over a job's start and end (a worker between jobs still polls:
 * ~1 µs). The pool's other threads only meet them at the job's end.
 */
const PASS_FLOATS = 32768;

/** A float64 job argument as the two 32-bit slots it takes (little-endian, as the kernels load it). */
const F64_ARG = new Float64Array(1);
const F64_WORDS = new Int32Array(F64_ARG.buffer);
/**
 * Threads only where they pay, judged per call shape from measured times (noteThreadedCall): when SLOW_CALLS
 * threaded calls in a row each take more than THREADED_MAX_RATIO times the shape's one-thread time (a running
 * average, weight EWMA on the newest; the cores are busy with other work, or the shape is too small), its next
 * BACKOFF_CALLS calls run on one thread, then threads are tried again. One slow call alone (a preempted core
 * on a virtual machine) decides nothing, nor does the first threaded call after one-thread calls (its worker
 * wakes from sleep, with the weights gone from its cache). A threaded call that had to sleep at over
 * OVERLOAD_FRACTION of its barriers, for a shape with no one-thread time yet, runs PROBE_CALLS calls on one
 * thread to get one.
 */
const THREADED_MAX_RATIO = 1.1;
const SLOW_CALLS = 2;
const BACKOFF_CALLS = 16;
const PROBE_CALLS = 2;
const OVERLOAD_FRACTION = 0.25;
const EWMA = 0.5;
const MAX_SHAPES = 256;

/** What the backend knows about one call shape. */
export interface ShapePerf {
  single: number; // ms, running average of one-thread calls, 0 when unknown
  slow: number; // threaded calls in a row slower than THREADED_MAX_RATIO x single
  skip: number; // calls left to run on one thread
  warmup: boolean; // the next threaded call follows one-thread calls: not judged
}

/** A new shape's record: nothing measured yet. */
export function newShapePerf(): ShapePerf {
  return { single: 0, slow: 0, skip: 0, warmup: false };
}

/** Records a one-thread call of `ms` milliseconds. */
export function noteSingleCall(p: ShapePerf, ms: number): void {
  // A running average, not the fastest ever: native/KERNELS.md, "WASM measurements".
  p.single = p.single === 0 ? ms : EWMA * ms + (1 - EWMA) * p.single;
  p.warmup = true;
}

/**
 * Records a threaded call of `ms` milliseconds that slept at `slept` of its `barriers` barriers, and decides
 * (see THREADED_MAX_RATIO): 'backoff' (the next BACKOFF_CALLS calls on one thread), 'probe' (the next
 * PROBE_CALLS, to learn the one-thread time) or null (threads stay).
 */
export function noteThreadedCall(p: ShapePerf, ms: number, slept: number, barriers: number): 'backoff' | 'probe' | null {
  if (p.warmup) {
    p.warmup = false;
    return null;
  }
  if (p.single > 0) {
    p.slow = ms > THREADED_MAX_RATIO * p.single ? p.slow + 1 : 0;
    if (p.slow < SLOW_CALLS) return null;
    p.slow = 0;
    p.skip = BACKOFF_CALLS;
    return 'backoff';
  }
  if (slept > Math.max(2, barriers * OVERLOAD_FRACTION)) {
    p.skip = PROBE_CALLS;
    return 'probe';
  }
  return null;
}

/** An exported constant of the module. */
interface Constant {
  readonly value: number;
}

/** The module's exports (assembly/index.ts). Pointers are byte offsets; sizes are float counts. */
export interface Kernels {
  memory: WebAssembly.Memory;
  /** Job codes: what run() does (assembly/index.ts). */
  JOB_CELL_FORWARD: Constant;
  JOB_CELL_BACKWARD: Constant;
  JOB_SGEMM: Constant;
  JOB_LINEAR_FORWARD: Constant;
  JOB_LINEAR_BACKWARD: Constant;
  JOB_CROSS_ENTROPY: Constant;
  JOB_ADAM: Constant;
  JOB_SGD: Constant;
  JOB_SUM_SQUARES: Constant;
  JOB_SCALE: Constant;
  JOB_FILL: Constant;
  JOB_COPY: Constant;
  JOB_TRANSPOSE01: Constant;
  JOB_INTERLEAVE: Constant;
  JOB_DEINTERLEAVE: Constant;
  JOB_DROPOUT: Constant;
  LOSS_ROWS: Constant;
  SUM_BLOCK: Constant;
  /** How cellForward uses a kept packing (assembly/kernels.ts). */
  PACK_CHECK: Constant;
  PACK_NEW: Constant;
  PACK_KEPT: Constant;
  /** The control block: its size and the byte offsets of its fields (assembly/pool.ts). */
  CTRL_SIZE: Constant;
  CTRL_MAX_THREADS: Constant;
  CTRL_ARGS: Constant;
  CTRL_OP: Constant;
  CTRL_NT: Constant;
  CTRL_READY: Constant;
  CTRL_BAR_WAITS: Constant;
  CTRL_IDLE_WAITS: Constant;
  CTRL_SHARED_CHUNKS: Constant;
  CTRL_GROUP_CALLS: Constant;
  heapBase(): number;
  threadContextBytes(): number;
  setThread(ctx: number, spins: number, ctrl: number): void;
  buildFeatures(): number;
  /** Only in the test builds (*-testhooks.wasm). */
  setTestLag?(ns: number): void;
  run(): void;
  workerLoop(tid: number, idleSpins: number): void;
  forwardScratchFloats(kind: number, T: number, B: number, I: number, H: number): number;
  packedWeightFloats(kind: number, I: number, H: number): number;
  backwardScratchFloats(kind: number, T: number, B: number, I: number, H: number): number;
  // The dense passes, called directly on one thread (tid 0, nt 1); on more they run as jobs (JOB_*).
  softmaxCrossEntropy(
    tid: number, nt: number, N: number, C: number, logits: number, targets: number, dlogits: number, scale: number,
    part: number,
  ): void;
  adamStep(
    tid: number, nt: number, n: number, p: number, g: number, m: number, v: number, decoupled: number, step: number,
    lr: number, beta1: number, beta2: number, eps: number, weightDecay: number,
  ): void;
  sgdStep(
    tid: number, nt: number, n: number, p: number, g: number, buf: number, nesterov: number, first: number,
    lr: number, momentum: number, weightDecay: number,
  ): void;
  sumSquares(tid: number, nt: number, n: number, x: number, part: number): void;
  scale(tid: number, nt: number, n: number, x: number, alpha: number): void;
  embeddingForward(N: number, D: number, V: number, ids: number, table: number, out: number): void;
  embeddingBackward(N: number, D: number, V: number, ids: number, dout: number, dtable: number): void;
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
  /**
   * Renewed (from the backend's counter) whenever the buffer may be written: write() and every call that takes it
   * as an argument, except as cellForward's weights. A view handed out may write it at any time: `viewed` then
   * stays true.
   */
  stamp: number;
  viewed = false;
  constructor(
    readonly owner: WasmBackend,
    readonly ptr: number,
    readonly length: number,
    stamp: number,
  ) {
    this.stamp = stamp;
  }

  view(): Float32Array {
    if (this.freed) throw new RnnkitError('E_ARGUMENT', 'WASM buffer used after free');
    this.viewed = true;
    return new Float32Array(this.owner.memory.buffer, this.ptr, this.length);
  }
}

/** What a worker needs (structured-cloneable): the module, the shared memory, its context and thread id, its spins. */
export interface WorkerData {
  module: WebAssembly.Module;
  memory: WebAssembly.Memory;
  ctx: number; // byte offset of its thread context (packing area)
  ctrl: number; // byte offset of the control block
  tid: number; // 1 .. threads - 1
  spins: number; // barrier polls before sleeping
  idleSpins: number; // polls between jobs before sleeping
}

/**
 * How an adapter starts a worker: one that makes its own instance of data.module over data.memory with
 * { env: { memory } }, calls setThread(ctx, spins, ctrl), then workerLoop(tid, idleSpins) (which returns only for
 * an exit job). `fail` is called when the worker fails or exits; the result ends it.
 */
export interface ThreadHost {
  /** What the workers are, for the backend's details: "worker_threads", "Web Workers". */
  readonly kind: string;
  start(data: WorkerData, fail: (why: string) => void): () => void;
}

/** Ends the workers of a backend that was garbage-collected (a process may load more than one backend). */
const reaper = new FinalizationRegistry<Array<() => void>>((ends) => {
  for (const end of ends) end();
});

/** The worker threads of one backend (threads - 1 of them), started on first use. */
class Workers {
  readonly ends: Array<() => void> = [];
  private started = false;
  /** Why the workers cannot be used (a worker failed or exited), or null. */
  broken: string | null = null;

  constructor(
    private readonly host: ThreadHost,
    private readonly module: WebAssembly.Module,
    private readonly memory: WebAssembly.Memory,
    private readonly ctrl: number,
    private readonly contexts: number[],
    private readonly spins: Spins,
  ) {}

  /** Starts the workers (once); true when all of them are in their loop. Never waits. */
  ready(readyCount: () => number): boolean {
    if (this.broken !== null) return false;
    if (!this.started) this.start();
    return this.broken === null && readyCount() === this.contexts.length;
  }

  private start(): void {
    this.started = true;
    try {
      this.contexts.forEach((ctx, i) => {
        const data: WorkerData = {
          module: this.module, memory: this.memory, ctx, ctrl: this.ctrl, tid: i + 1,
          spins: this.spins.worker, idleSpins: this.spins.idle,
        };
        this.ends.push(this.host.start(data, (why) => {
          this.broken ??= why;
        }));
      });
    } catch (e) {
      this.broken = `could not start a worker: ${(e as Error).message}`;
    }
  }
}

/** What loading found: the build in use and how many threads it may use. */
export interface BuildInfo {
  file: BuildFile;
  module: WebAssembly.Module;
  memory: WebAssembly.Memory | null; // the shared memory of a threaded build
  relaxed: boolean;
  threads: number;
  notes: string[];
  /** Barrier and idle polls (the adapter's: RNNKIT_WASM_SPINS in Node; the main thread's bound in a browser). */
  spins: Spins;
  /** Testing only: thread 0's pause before each of its own chunks, in µs (0: none; needs a test build). */
  lagUs: number;
  /** Starts the workers of a threaded build; null for one thread. */
  host: ThreadHost | null;
}

export class WasmBackend implements Backend {
  readonly name = 'wasm' as const;
  readonly details: string;
  readonly memory: WebAssembly.Memory;
  readonly threads: number;
  private readonly heap: Heap;
  private scratchPtr = 0;
  private scratchBytes = 0;
  // the control block and the byte offsets of its fields (placeControl; moved only after a threaded call failed)
  private ctrl = 0;
  private argsAt = 0;
  private opAt = 0;
  private ntAt = 0;
  private readyAt = 0;
  private waitsAt = 0;
  private idleAt = 0;
  private sharedAt = 0;
  private groupAt = 0;
  private readonly ctx0: number; // thread 0's context
  private readonly mainSpins: number;
  private readonly jobs: { cellForward: number; cellBackward: number; sgemm: number; linearForward: number;
    linearBackward: number; crossEntropy: number; adam: number; sgd: number; sumSquares: number; scale: number;
    fill: number; copy: number; transpose01: number; interleave: number; deinterleave: number; dropout: number };
  private readonly lossRows: number;
  private readonly sumBlock: number;
  private i32: Int32Array;
  private f32: Float32Array;
  private readonly workers: Workers | null = null;
  private readonly shapes = new Map<string, ShapePerf>();
  /** Inference packings kept between calls (cellForward's cache), most recently used first. */
  private packs: PackEntry[] = [];
  /** The last stamp given to a buffer (WasmBuf.stamp). */
  private stamps = 0;
  /** The packing of the cellForward job running now (a thread of a failed job may still be writing it). */
  private packInFlight: PackEntry | null = null;
  /**
   * A threaded call failed: one of its threads may still be writing any of that call's outputs, weights too (an
   * optimizer step), even between a packing and the copy it is compared with. No packing is kept from then on:
   * every call packs into its scratch, as a training call does (on one thread now, it costs little).
   */
  private callFailed = false;
  /** Counters for benchmarks and tests: jobs run on one thread / on all, barrier sleeps, back-offs, and calls
   * that found their weights' packing kept (packReuses; packsUnchecked of them used it without comparing the
   * weights, none written since) or made a new one (packsMade). */
  readonly stats = {
    single: 0, threaded: 0, barrierSleeps: 0, backoffs: 0, idleSleeps: 0, sharedChunks: 0, groupCalls: 0, packReuses: 0,
    packsUnchecked: 0, packsMade: 0,
  };

  constructor(
    private readonly k: Kernels,
    info: BuildInfo,
  ) {
    this.memory = k.memory;
    this.heap = new Heap(this.memory, k.heapBase());
    this.placeControl();
    this.jobs = {
      cellForward: k.JOB_CELL_FORWARD.value, cellBackward: k.JOB_CELL_BACKWARD.value, sgemm: k.JOB_SGEMM.value,
      linearForward: k.JOB_LINEAR_FORWARD.value, linearBackward: k.JOB_LINEAR_BACKWARD.value,
      crossEntropy: k.JOB_CROSS_ENTROPY.value, adam: k.JOB_ADAM.value, sgd: k.JOB_SGD.value,
      sumSquares: k.JOB_SUM_SQUARES.value, scale: k.JOB_SCALE.value, fill: k.JOB_FILL.value, copy: k.JOB_COPY.value,
      transpose01: k.JOB_TRANSPOSE01.value, interleave: k.JOB_INTERLEAVE.value, deinterleave: k.JOB_DEINTERLEAVE.value,
      dropout: k.JOB_DROPOUT.value,
    };
    this.lossRows = k.LOSS_ROWS.value;
    this.sumBlock = k.SUM_BLOCK.value;
    // Testing only (test/forward-threads.test.ts): the main thread pauses before each of its own chunks. Only
    // the test builds have setTestLag; pick() loads one when the lag is set and the build is threaded.
    if (info.lagUs > 0 && k.setTestLag !== undefined) k.setTestLag(info.lagUs * 1000);
    const contexts = Array.from({ length: info.threads }, () => this.heap.alloc(k.threadContextBytes()));
    const spins = info.spins;
    this.ctx0 = contexts[0]!;
    this.mainSpins = spins.main;
    k.setThread(this.ctx0, spins.main, this.ctrl);
    this.threads = info.threads;
    if (info.threads > 1 && info.memory !== null && info.host !== null) {
      this.workers = new Workers(info.host, info.module, info.memory, this.ctrl, contexts.slice(1), spins);
      reaper.register(this, this.workers.ends);
    }
    this.i32 = new Int32Array(this.memory.buffer);
    this.f32 = new Float32Array(this.memory.buffer);
    const simd = info.relaxed ? 'SIMD128 + relaxed SIMD (fused multiply-add)' : 'SIMD128';
    const threads = info.threads > 1
      ? `${info.threads} threads (${info.host?.kind ?? 'workers'} over a shared memory)`
      : '1 thread';
    const notes = info.notes.length ? `; ${info.notes.join('; ')}` : '';
    this.details = `AssemblyScript WASM ${simd}, ${threads}, ${info.file}${notes}`;
  }

  /** A new zeroed control block for thread 0 (the workers were given the one in place when they started). */
  private placeControl(): void {
    const k = this.k;
    const ctrlBytes = k.CTRL_SIZE.value;
    this.ctrl = this.heap.alloc(ctrlBytes);
    new Uint8Array(this.memory.buffer, this.ctrl, ctrlBytes).fill(0);
    this.argsAt = this.ctrl + k.CTRL_ARGS.value;
    this.opAt = this.ctrl + k.CTRL_OP.value;
    this.ntAt = this.ctrl + k.CTRL_NT.value;
    this.readyAt = this.ctrl + k.CTRL_READY.value;
    this.waitsAt = this.ctrl + k.CTRL_BAR_WAITS.value;
    this.idleAt = this.ctrl + k.CTRL_IDLE_WAITS.value;
    this.sharedAt = this.ctrl + k.CTRL_SHARED_CHUNKS.value;
    this.groupAt = this.ctrl + k.CTRL_GROUP_CALLS.value;
  }

  /**
   * A threaded call trapped part-way (in a browser: thread 0's barrier ran past its spin bound, as the main thread
   * may not sleep): the other threads may still be inside that job. They are ended, and thread 0 moves to a new
   * control block and scratch (the old ones are left to them, never reused), so later calls run on one thread
   * with nothing shared. The call's outputs are undefined; the error says so.
   */
  private threadsFailed(nt: number, e: unknown): RnnkitError {
    const why = e instanceof Error ? e.message : String(e);
    this.workers!.broken ??= `a threaded call failed: ${why}`;
    for (const end of this.workers!.ends) end();
    this.scratchPtr = 0;
    this.scratchBytes = 0;
    this.callFailed = true;
    // The failed job's packing is left to its threads (one may still be packing into it); the others are freed.
    for (const p of this.packs) if (p !== this.packInFlight) this.releasePack(p);
    this.packs = [];
    this.packInFlight = null;
    this.placeControl();
    this.k.setThread(this.ctx0, this.mainSpins, this.ctrl);
    return new RnnkitError(
      'E_BACKEND', `WASM backend: a call on ${nt} threads failed (${why}); its outputs are undefined and later calls run on one thread`, { cause: e },
    );
  }

  alloc(n: number): Buf {
    checkBufferFloats('alloc', n);
    const ptr = this.heap.alloc(n * 4);
    new Float32Array(this.memory.buffer, ptr, n).fill(0);
    return new WasmBuf(this, ptr, n, ++this.stamps);
  }

  free(buf: Buf): void {
    const b = this.own(buf, 'free');
    b.freed = true;
    // Kept packings of weights at this address would only hold memory now (up to PACKS_KEPT of them).
    for (let i = this.packs.length - 1; i >= 0; i--) {
      const p = this.packs[i]!;
      if (p.wih === b.ptr || p.whh === b.ptr) this.releasePack(this.packs.splice(i, 1)[0]!);
    }
    this.heap.release(b.ptr, b.length * 4);
  }

  /**
   * Resolves true once the worker threads are running (starting them if needed), false when this backend has
   * none or they cannot start within timeoutMs. Calls never wait for them; this is for tests and benchmarks.
   */
  async threadsReady(timeoutMs = 5000): Promise<boolean> {
    if (this.workers === null) return false;
    const end = Date.now() + timeoutMs;
    while (!this.workers.ready(() => this.readyCount())) {
      if (this.workers.broken !== null || Date.now() > end) return false;
      await new Promise((r) => setTimeout(r, 2));
    }
    return true;
  }

  private readyCount(): number {
    return Atomics.load(this.ints(), this.readyAt >> 2);
  }

  /** Views of the whole memory, renewed after it grew (a grown memory has a new buffer). */
  private ints(): Int32Array {
    const buffer = this.memory.buffer;
    if (this.i32.buffer !== buffer) {
      this.i32 = new Int32Array(buffer);
      this.f32 = new Float32Array(buffer);
    }
    return this.i32;
  }

  /** buf as this backend's live buffer, or an E_ARGUMENT naming it. */
  private own(buf: Buf, name: string): WasmBuf {
    if (!(buf instanceof WasmBuf) || buf.owner !== this) {
      throw new RnnkitError('E_ARGUMENT', `${name}: buffer was not allocated by this WASM backend`);
    }
    if (buf.freed) throw new RnnkitError('E_ARGUMENT', `${name}: buffer was already freed`);
    return buf;
  }

  /**
   * The byte pointer of a kernel's buffer (0 for null), checked to be this backend's and live. The buffer is
   * stamped as written (any argument may be an output: a kept packing of it is checked again before its next use).
   */
  private ptr(buf: Buf | null, name: string): number {
    if (buf === null) return 0;
    const b = this.own(buf, `kernel buffer ${name}`);
    b.stamp = ++this.stamps;
    return b.ptr;
  }

  /**
   * The kernels' scratch size (computed in i32 there), checked against a float64 bound: sizes whose scratch
   * cannot fit a 32-bit memory are an out-of-memory error, never a wrapped size.
   */
  private scratchFloats(floats: number, a: { kind: CellKind; T: number; B: number; I: number; H: number }): number {
    const G = GATES[a.kind];
    const P = roundUp(a.H, 16);
    const bound = G * P * (a.I + a.H) + (a.T + 2) * a.B * G * a.H + a.T * a.B * a.H + 256;
    if (floats <= 0 || bound > MAX_BYTES / 4) {
      throw new RnnkitError('E_BACKEND', `WASM backend: out of memory (a call this size needs ${Math.ceil(bound * 4)} bytes of scratch)`);
    }
    return floats;
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

  /** The record of a call shape (a key of sizes), made on first use. */
  private shape(key: string): ShapePerf {
    let p = this.shapes.get(key);
    if (p === undefined) {
      if (this.shapes.size >= MAX_SHAPES) this.shapes.clear();
      p = newShapePerf();
      this.shapes.set(key, p);
    }
    return p;
  }

  /**
   * Threads for a call of `flops` (per recurrent step, or in all for a GEMM) against `min`, and the shape record
   * to time it against (null when threads are not in question).
   */
  private threadsFor(key: string, flops: number, min: number): [number, ShapePerf | null] {
    if (this.workers === null || flops < min) return [1, null];
    const p = this.shape(key);
    if (p.skip > 0) {
      p.skip--;
      return [1, p];
    }
    return [this.workers.ready(() => this.readyCount()) ? this.threads : 1, p];
  }

  /**
   * Runs a job: arguments into the control block's slots in order (f marks the arguments that are float32, d
   * those that are float64, two slots each; the rest are integers), then the kernels' run on nt threads.
   * `barriers` (how many barriers the job passes) and the shape record `p` feed the choice of threads.
   */
  private job(
    op: number, [nt, p]: [number, ShapePerf | null], args: readonly number[], barriers = 1, f: readonly number[] = [],
    d: readonly number[] = [],
  ): void {
    const i32 = this.ints();
    let slot = this.argsAt >> 2;
    for (let i = 0; i < args.length; i++) {
      if (d.includes(i)) {
        F64_ARG[0] = args[i]!;
        i32[slot++] = F64_WORDS[0]!;
        i32[slot++] = F64_WORDS[1]!;
      } else if (f.includes(i)) {
        this.f32[slot++] = args[i]!;
      } else {
        i32[slot++] = args[i]! | 0;
      }
    }
    i32[this.opAt >> 2] = op;
    i32[this.ntAt >> 2] = nt;
    const waits = Atomics.load(i32, this.waitsAt >> 2);
    const start = performance.now();
    try {
      this.k.run();
    } catch (e) {
      // A trap part-way leaves the other threads at a barrier: no more threaded calls on this backend.
      if (nt > 1 && this.workers !== null) throw this.threadsFailed(nt, e);
      throw e;
    }
    const ms = performance.now() - start;
    if (nt === 1) {
      this.stats.single++;
      if (p !== null) noteSingleCall(p, ms);
      return;
    }
    this.stats.threaded++;
    const slept = Atomics.load(this.ints(), this.waitsAt >> 2) - waits;
    this.stats.barrierSleeps += slept;
    this.stats.idleSleeps = Atomics.load(this.i32, this.idleAt >> 2);
    this.stats.sharedChunks = Atomics.load(this.i32, this.sharedAt >> 2);
    this.stats.groupCalls = Atomics.load(this.i32, this.groupAt >> 2);
    if (p !== null && noteThreadedCall(p, ms, slept, barriers) === 'backoff') this.stats.backoffs++;
  }

  /**
   * A dense pass over n elements (key: its kind and sizes): a direct call where it stays on one thread for its
   * size, else a job whose work goes to one thread per PASS_FLOATS elements, at most all (the job runs on all of
   * them: a woken worker must reach the job's barrier; timed for the back-off like the other jobs).
   * `args` are the kernel's after tid and nt; f and d mark its float32 and float64 arguments (job).
   */
  private pass(
    op: number, key: string, n: number, args: readonly number[], direct: (tid: number, nt: number, ...a: number[]) => void,
    f: readonly number[] = [], d: readonly number[] = [],
  ): void {
    const [nt, p] = this.threadsFor(key, n, 2 * PASS_FLOATS);
    if (p === null) {
      direct.call(this.k, 0, 1, ...args);
      return;
    }
    // slot 0: the threads that work; every thread of the pool still runs the job to its closing barrier
    const shift = (at: readonly number[]) => at.map((i) => i + 1);
    this.job(op, [nt, p], [Math.min(nt, Math.floor(n / PASS_FLOATS)), ...args], 1, shift(f), shift(d));
  }

  /**
   * A pass whose threads write one float64 per block (the cross-entropy's rows, the sum of squares' floats) to
   * the scratch at the address `run` is given; the blocks are then added in order: the same bits on any thread
   * count.
   */
  private blockSum(blocks: number, run: (part: number) => void): number {
    if (blocks === 0) return 0;
    const part = this.scratch(2 * blocks);
    run(part);
    const sums = new Float64Array(this.memory.buffer, part, blocks);
    let s = 0;
    for (let b = 0; b < blocks; b++) s += sums[b]!;
    return s;
  }

  /** Threads for a recurrent call: its hidden units split in whole 16-unit panels, so at least two of them. */
  private cellThreads(op: number, kind: CellKind, T: number, B: number, I: number, H: number): [number, ShapePerf | null] {
    if (H < 32) return [1, null];
    return this.threadsFor(`${op}:${kind}:${T}:${B}:${I}:${H}`, 2 * B * GATES[kind] * H * H, MIN_STEP_FLOPS);
  }

  cellForward(a: CellForwardArgs): void {
    checkForwardArgs(a);
    const lstm = CELL_TABLE[a.kind].hasCellState;
    // The weights are read, not stamped; their stamps are taken before the other arguments', so that an output
    // that is also a weight leaves a stamp newer than the one the packing records.
    const wih = this.own(a.wih, 'kernel buffer wih'), whh = this.own(a.whh, 'kernel buffer whh');
    const stamps = [wih.stamp, whh.stamp] as const;
    const ptrs = [
      this.ptr(a.x, 'x'), this.ptr(a.h0, 'h0'), lstm ? this.ptr(a.c0, 'c0') : 0,
      wih.ptr, whh.ptr, this.ptr(a.bih, 'bih'), this.ptr(a.bhh, 'bhh'),
      this.ptr(a.y, 'y'), this.ptr(a.hT, 'hT'), lstm ? this.ptr(a.cT, 'cT') : 0, this.ptr(a.ws, 'ws'),
    ];
    const code = CELL_CODES[a.kind];
    // Inference (no workspace) keeps its weights' packing between calls, as the native addon does.
    const pack = a.ws ? null : this.packFor(a.kind, wih.ptr, whh.ptr, a.I, a.H);
    let mode = this.k.PACK_CHECK.value;
    if (pack?.fresh) mode = this.k.PACK_NEW.value;
    else if (pack?.seen?.wih === stamps[0] && pack.seen.whh === stamps[1] && !wih.viewed && !whh.viewed) {
      mode = this.k.PACK_KEPT.value;
    }
    const scratch = this.scratch(this.scratchFloats(this.k.forwardScratchFloats(code, a.T, a.B, a.I, a.H), a));
    const nt = this.cellThreads(this.jobs.cellForward, a.kind, a.T, a.B, a.I, a.H);
    this.packInFlight = pack;
    try {
      this.job(this.jobs.cellForward, nt, [code, a.T, a.B, a.I, a.H, a.reverse ? 1 : 0, ...ptrs, scratch,
        pack?.packed ?? 0, pack?.src ?? 0, mode], a.T);
    } finally {
      this.packInFlight = null;
    }
    if (pack) {
      // (not reached when the job threw: the packing then is checked, or made, again)
      if (mode === this.k.PACK_KEPT.value) this.stats.packsUnchecked++;
      pack.fresh = false;
      pack.seen = { wih: stamps[0], whh: stamps[1] };
    }
  }

  /**
   * The kept packing of these weights (by address, cell kind and sizes; made if new, the oldest of PACKS_KEPT
   * evicted), or null when weights and packing together exceed PACK_MAX_FLOATS or the heap has no room to keep
   * them (the call then packs into its scratch, as a training call does). The kernel compares the weights with the entry's copy of
   * them before using it and repacks what differs, so an address reused for other weights, or weights changed in
   * place, are never served stale; it skips the comparison when the weights' buffers say no byte of them was
   * written since the last call (PackEntry.seen: W1's weights are 1.3 MB, some 2% of its call).
   */
  private packFor(cell: CellKind, wih: number, whh: number, I: number, H: number): PackEntry | null {
    if (this.callFailed) return null;
    const kind = CELL_CODES[cell];
    const i = this.packs.findIndex((p) => p.wih === wih && p.whh === whh && p.kind === kind && p.I === I && p.H === H);
    if (i >= 0) {
      const hit = this.packs.splice(i, 1)[0]!;
      this.packs.unshift(hit);
      this.stats.packReuses++;
      return hit;
    }
    const srcBytes = GATES[cell] * H * (I + H) * 4;
    const packedBytes = this.k.packedWeightFloats(kind, I, H) * 4;
    if (srcBytes + packedBytes > PACK_MAX_FLOATS * 4) return null;
    let packed: number | null = null;
    let src: number;
    try {
      packed = this.heap.alloc(packedBytes);
      src = this.heap.alloc(srcBytes);
    } catch {
      if (packed !== null) this.heap.release(packed, packedBytes);
      return null;
    }
    const entry: PackEntry = { wih, whh, kind, I, H, fresh: true, packed, packedBytes, src, srcBytes, seen: null };
    this.packs.unshift(entry);
    this.stats.packsMade++;
    while (this.packs.length > PACKS_KEPT) this.releasePack(this.packs.pop()!);
    return entry;
  }

  private releasePack(p: PackEntry): void {
    this.heap.release(p.packed, p.packedBytes);
    this.heap.release(p.src, p.srcBytes);
  }

  cellBackward(a: CellBackwardArgs): void {
    checkBackwardArgs(a);
    const lstm = CELL_TABLE[a.kind].hasCellState;
    const ptrs = [
      this.ptr(a.x, 'x'), this.ptr(a.h0, 'h0'), lstm ? this.ptr(a.c0, 'c0') : 0,
      this.ptr(a.wih, 'wih'), this.ptr(a.whh, 'whh'), this.ptr(a.bih, 'bih'), this.ptr(a.bhh, 'bhh'),
      this.ptr(a.y, 'y'), this.ptr(a.ws, 'ws'), this.ptr(a.dy, 'dy'), this.ptr(a.dhT, 'dhT'),
      lstm ? this.ptr(a.dcT, 'dcT') : 0, this.ptr(a.dx, 'dx'), this.ptr(a.dh0, 'dh0'), lstm ? this.ptr(a.dc0, 'dc0') : 0,
      this.ptr(a.dwih, 'dwih'), this.ptr(a.dwhh, 'dwhh'), this.ptr(a.dbih, 'dbih'), this.ptr(a.dbhh, 'dbhh'),
    ];
    const code = CELL_CODES[a.kind];
    const scratch = this.scratch(this.scratchFloats(this.k.backwardScratchFloats(code, a.T, a.B, a.I, a.H), a));
    const nt = this.cellThreads(this.jobs.cellBackward, a.kind, a.T, a.B, a.I, a.H);
    this.job(this.jobs.cellBackward, nt, [code, a.T, a.B, a.I, a.H, a.reverse ? 1 : 0, ...ptrs, scratch], a.T + 2);
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
    const pa = this.ptr(A, 'A');
    const pb = this.ptr(B, 'B');
    const pc = this.ptr(C, 'C');
    const nt = this.threadsFor(`g${+transA}${+transB}:${M}:${N}:${K}`, 2 * M * N * K, MIN_GEMM_FLOPS);
    this.job(this.jobs.sgemm, nt, [transA ? 1 : 0, transB ? 1 : 0, M, N, K, alpha, pa, lda, pb, ldb, beta, pc, ldc], 1, [5, 10]);
  }

  linearForward(N: number, I: number, O: number, x: Buf, w: Buf, b: Buf | null, y: Buf): void {
    checkDense.linearForward(N, I, O, x, w, b, y);
    const nt = this.threadsFor(`lf:${N}:${I}:${O}`, 2 * N * I * O, MIN_GEMM_FLOPS);
    this.job(this.jobs.linearForward, nt, [N, I, O, this.ptr(x, 'x'), this.ptr(w, 'w'), this.ptr(b, 'b'), this.ptr(y, 'y')]);
  }

  linearBackward(N: number, I: number, O: number, x: Buf, w: Buf, dy: Buf, dx: Buf | null, dw: Buf, db: Buf | null): void {
    checkDense.linearBackward(N, I, O, x, w, dy, dx, dw, db);
    const nt = this.threadsFor(`lb:${N}:${I}:${O}`, 4 * N * I * O, MIN_GEMM_FLOPS);
    this.job(this.jobs.linearBackward, nt, [
      N, I, O, this.ptr(x, 'x'), this.ptr(w, 'w'), this.ptr(dy, 'dy'), this.ptr(dx, 'dx'), this.ptr(dw, 'dw'), this.ptr(db, 'db'),
    ]);
  }

  softmaxCrossEntropy(N: number, C: number, logits: Buf, targets: Buf, dlogits: Buf | null, scale: number): number {
    checkDense.softmaxCrossEntropy(N, C, logits, targets, dlogits);
    const args = [N, C, this.ptr(logits, 'logits'), this.ptr(targets, 'targets'), this.ptr(dlogits, 'dlogits'), scale];
    return this.blockSum(Math.ceil(N / this.lossRows), (part) => {
      this.pass(this.jobs.crossEntropy, `ce:${N}:${C}`, N * C, [...args, part], this.k.softmaxCrossEntropy, [5]);
    });
  }

  embeddingForward(N: number, D: number, V: number, ids: Buf, table: Buf, out: Buf): void {
    checkDense.embedding(N, D, V, ids, table, out);
    this.k.embeddingForward(N, D, V, this.ptr(ids, 'ids'), this.ptr(table, 'table'), this.ptr(out, 'out'));
  }

  embeddingBackward(N: number, D: number, V: number, ids: Buf, dout: Buf, dtable: Buf): void {
    checkDense.embedding(N, D, V, ids, dtable, dout);
    this.k.embeddingBackward(N, D, V, this.ptr(ids, 'ids'), this.ptr(dout, 'dout'), this.ptr(dtable, 'dtable'));
  }

  adamStep(
    n: number, p: Buf, g: Buf, m: Buf, v: Buf, lr: number, beta1: number, beta2: number, eps: number,
    weightDecay: number, decoupled: boolean, step: number,
  ): void {
    checkDense.adamStep(n, p, g, m, v);
    if (!Number.isInteger(step) || step < 1 || step > 2 ** 31 - 1) {
      throw new RnnkitError('E_ARGUMENT', `adamStep step: expected a positive integer, found ${step}`);
    }
    const ptrs = [this.ptr(p, 'p'), this.ptr(g, 'g'), this.ptr(m, 'm'), this.ptr(v, 'v')];
    this.pass(this.jobs.adam, `adam:${n}`, n, [n, ...ptrs, decoupled ? 1 : 0, step, lr, beta1, beta2, eps, weightDecay],
      this.k.adamStep, [], [7, 8, 9, 10, 11]);
  }

  sgdStep(
    n: number, p: Buf, g: Buf, buf: Buf, lr: number, momentum: number, weightDecay: number, nesterov: boolean,
    first: boolean,
  ): void {
    checkDense.sgdStep(n, p, g, buf, momentum);
    const ptrs = [this.ptr(p, 'p'), this.ptr(g, 'g'), this.ptr(buf, 'buf')];
    this.pass(this.jobs.sgd, `sgd:${n}`, n, [n, ...ptrs, nesterov ? 1 : 0, first ? 1 : 0, lr, momentum, weightDecay],
      this.k.sgdStep, [], [6, 7, 8]);
  }

  sumSquares(n: number, x: Buf): number {
    checkDense.elementwise('sumSquares', n, ['x', x]);
    const px = this.ptr(x, 'x');
    return this.blockSum(Math.ceil(n / this.sumBlock), (part) => {
      this.pass(this.jobs.sumSquares, `ss:${n}`, n, [n, px, part], this.k.sumSquares);
    });
  }

  scale(n: number, x: Buf, alpha: number): void {
    checkDense.elementwise('scale', n, ['x', x]);
    this.pass(this.jobs.scale, `scale:${n}`, n, [n, this.ptr(x, 'x'), alpha], this.k.scale, [2]);
  }

  // ---- Data movement (MoveOps, src/backend/moves.ts; kernels in assembly/moves.ts). Thin: check, then call. ----
  private get moves(): WasmMoveKernels {
    const k = this.k as unknown as Partial<WasmMoveKernels>;
    if (typeof k.dropout !== 'function') {
      throw new RnnkitError('E_BACKEND', 'the WASM build lacks the data-movement kernels (assembly/moves.ts): rebuild it (npm run build:wasm)');
    }
    return k as WasmMoveKernels;
  }
  write(x: Buf, data: Float32Array, offset = 0): void {
    const b = this.own(x, 'write x');
    b.stamp = ++this.stamps;
    if (!(data instanceof Float32Array)) throw new RnnkitError('E_DTYPE', 'write data: expected a Float32Array');
    checkMoves.span('write', x, offset, data.length);
    new Float32Array(this.memory.buffer, b.ptr + offset * 4, data.length).set(data);
  }
  read(x: Buf, offset = 0, n?: number): Float32Array {
    const b = this.own(x, 'read x');
    const len = checkMoves.span('read', x, offset, n);
    // a copy made by the constructor (not set() into a new array: that zero-fills it first; 15.7 -> 14.2 us p50
    // for W1's output of 100 KB)
    return new Float32Array(new Float32Array(this.memory.buffer, b.ptr + offset * 4, len));
  }
  fill(n: number, x: Buf, value: number, offset = 0): void {
    checkMoves.fill(n, x, value, offset);
    this.pass(this.jobs.fill, `fill:${n}`, n, [n, this.ptr(x, 'x') + offset * 4, value], this.moves.fill, [2]);
  }
  copy(rows: number, cols: number, src: Buf, srcOffset: number, srcStride: number, dst: Buf, dstOffset: number, dstStride: number): void {
    checkMoves.copy(rows, cols, src, srcOffset, srcStride, dst, dstOffset, dstStride);
    const from = this.ptr(src, 'src') + srcOffset * 4, to = this.ptr(dst, 'dst') + dstOffset * 4;
    const args = [rows, cols, from, srcStride, to, dstStride] as const;
    // destination rows that overlap are copied in order (the last wins): on one thread
    if (rows > 1 && dstStride < cols) this.moves.copyStrided(0, 1, ...args);
    else this.pass(this.jobs.copy, `copy:${rows}:${cols}`, rows * cols, args, this.moves.copyStrided);
  }
  transpose01(A: number, B: number, C: number, src: Buf, dst: Buf): void {
    checkMoves.transpose01(A, B, C, src, dst);
    this.pass(this.jobs.transpose01, `t01:${A}:${B}:${C}`, A * B * C, [A, B, C, this.ptr(src, 'src'), this.ptr(dst, 'dst')],
      this.moves.transpose01);
  }
  interleave(R: number, H: number, fwd: Buf, rev: Buf, out: Buf): void {
    checkMoves.interleave('interleave', R, H, fwd, rev, out);
    this.pass(this.jobs.interleave, `il:${R}:${H}`, 2 * R * H,
      [R, H, this.ptr(fwd, 'fwd'), this.ptr(rev, 'rev'), this.ptr(out, 'out')], this.moves.interleave);
  }
  deinterleave(R: number, H: number, inp: Buf, fwd: Buf, rev: Buf): void {
    checkMoves.interleave('deinterleave', R, H, fwd, rev, inp);
    this.pass(this.jobs.deinterleave, `dil:${R}:${H}`, 2 * R * H,
      [R, H, this.ptr(inp, 'inp'), this.ptr(fwd, 'fwd'), this.ptr(rev, 'rev')], this.moves.deinterleave);
  }
  dropout(n: number, p: number, seed: number, x: Buf, y: Buf): void {
    const [threshold, scale] = checkMoves.dropout(n, p, seed, x, y);
    this.pass(this.jobs.dropout, `drop:${n}`, n, [n, seed, threshold, scale, this.ptr(x, 'x'), this.ptr(y, 'y')],
      this.moves.dropout, [3], [2]);
  }
  // ---- end of data movement ----
}


/** A build to try: its file and whether it is the relaxed-SIMD one (to be validated before use). */
export interface Candidate {
  file: BuildFile;
  relaxed: boolean;
}

/** What planBuild settled: the shared memory (threads > 1) and the builds to try, best first. */
export interface BuildPlan {
  memory: WebAssembly.Memory | null;
  threads: number;
  notes: string[];
  candidates: Candidate[];
}

/**
 * The builds for `threads` threads: threaded when threads > 1 and a shared memory can be made (a browser page
 * that is not cross-origin isolated cannot), relaxed first when `relaxed`; `hooks` picks the test builds (only
 * threaded ones have them: the lag means thread 0 pausing while another takes its chunks).
 */
export function planBuild(threads: number, relaxed: boolean, hooks: boolean): BuildPlan {
  const notes: string[] = [];
  let memory: WebAssembly.Memory | null = null;
  if (threads > 1) {
    try {
      memory = new WebAssembly.Memory({ initial: MT_INITIAL_PAGES, maximum: MT_MAXIMUM_PAGES, shared: true });
    } catch (e) {
      notes.push(`threads off: cannot create a shared memory (${(e as Error).message})`);
      threads = 1;
    }
  }
  const mt = memory !== null;
  const test = mt && hooks;
  const candidates: Candidate[] = [];
  if (relaxed) candidates.push({ file: test ? FILES.relaxedMtHooks : mt ? FILES.relaxedMt : FILES.relaxed, relaxed: true });
  candidates.push({ file: test ? FILES.plainMtHooks : mt ? FILES.plainMt : FILES.plain, relaxed: false });
  return { memory, threads, notes, candidates };
}

/** The imports of a build: the shared memory of a threaded one. */
export function buildImports(plan: BuildPlan): WebAssembly.Imports {
  return plan.memory !== null ? { env: { memory: plan.memory } } : {};
}

/**
 * The backend over an instance of the build `where` names (a path or URL, for errors). An instance without the
 * rnnkit kernels (an older build, before the CTRL_* exports, counts as not ours: rebuilt, it is) is E_BACKEND.
 */
export function backendOf(
  instance: WebAssembly.Instance, where: string, info: Omit<BuildInfo, 'memory' | 'threads' | 'notes'>, plan: BuildPlan,
): Backend {
  const k = instance.exports as unknown as Kernels;
  if (!(k.memory instanceof WebAssembly.Memory) || typeof k.run !== 'function' || typeof k.setThread !== 'function'
    || !(k.CTRL_SIZE instanceof WebAssembly.Global)) {
    throw new RnnkitError('E_BACKEND', `the WASM build ${where} lacks the rnnkit kernels: rebuild it`);
  }
  // The control block holds a claim counter per thread: a build with room for fewer threads than this loader
  // starts would share counters between threads.
  const room = k.CTRL_MAX_THREADS instanceof WebAssembly.Global ? k.CTRL_MAX_THREADS.value as number : 0;
  if (room < MAX_THREADS) {
    throw new RnnkitError('E_BACKEND', `the WASM build ${where} has room for ${room} threads, this loader may start ${MAX_THREADS}: rebuild it (npm run build:wasm)`);
  }
  return new WasmBackend(k, { ...info, memory: plan.memory, threads: plan.threads, notes: plan.notes });
}
