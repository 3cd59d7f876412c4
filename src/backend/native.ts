// The native backend: the C++ addon (native/) loaded with node-gyp-build. Buffers are plain Float32Arrays that
// the addon reads in place, so passing weights costs nothing.
import { readdirSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { RnnkitError, useFiniteScan } from '../errors.js';
import { checkBackwardArgs, checkDense, checkForwardArgs, checkGemmArgs } from './check.js';
import { checkBufferFloats } from './limits.js';
import { checkMoves } from './moves.js';
import { settingError } from './settings.js';
import type { Backend, Buf, CellBackwardArgs, CellForwardArgs, DenseOps, MoveOps } from './types.js';
import { CELL_CODES } from './types.js';

type F = Float32Array | null;
/** What the addon says about itself; the fields marked optional are absent from older addons. */
interface AddonInfo {
  isa: string;
  threads: number; // the pool's size: the most threads a call runs on (RNNKIT_THREADS, at most `cpus`)
  threadsAsked?: number; // RNNKIT_THREADS, else the usable CPUs
  cpus?: number; // CPUs this process may use (affinity mask and cgroup CPU quota)
  /** RNNKIT_THREADS / RNNKIT_ISA values that are not allowed ones. */
  badSettings?: { name: string; value: string; allowed: string }[];
  sharedChunks?: number; // forward/backward chunks a thread took over from a slower one
  backoffs?: number; // back-off steps down (a call shape's threads halved after slow barriers)
  backoffCalls?: number; // calls run on fewer threads than their work asks for, because of a back-off
  backoffProbes?: number; // calls that measured the next step up after a back-off's pause
  backoffRecoveries?: number; // steps up (the measuring call was faster)
  threadedRuns?: number; // parallel regions that ran on more than one thread
  lastThreads?: number; // threads the latest parallel region ran on
  lastBatchGroups?: number; // groups of batch rows the latest multi-row cell call split its threads into
  testHooks?: boolean; // the test-hooks build (CMakeLists.txt): honours RNNKIT_TEST_LAG_US
}
interface Addon {
  /** false when the call stopped early because Node is stopping this thread (undefined from older addons). */
  cellForward(...args: (number | F)[]): boolean | undefined;
  cellBackward(...args: (number | F)[]): boolean | undefined;
  sgemm(...args: (number | boolean | F)[]): void;
  info(): AddonInfo;
  linearForward(...args: (number | F)[]): boolean | undefined;
  linearBackward(...args: (number | F)[]): boolean | undefined;
  softmaxCrossEntropy(...args: (number | F)[]): number;
  embeddingForward(...args: (number | F)[]): void;
  embeddingBackward(...args: (number | F)[]): void;
  adamStep(...args: (number | F)[]): void;
  sgdStep(...args: (number | F)[]): void;
  sumSquares(n: number, x: F): number;
  scale(n: number, x: F, alpha: number): void;
  firstNonFinite?(x: Float32Array): number; // absent from addons built before it existed
  // data movement (native/moves.h); absent from addons built before it existed (openAddon says: rebuild)
  fill(n: number, x: F, offset: number, value: number): void;
  copy(rows: number, cols: number, src: F, srcOffset: number, srcStride: number, dst: F, dstOffset: number, dstStride: number): void;
  transpose01(A: number, B: number, C: number, src: F, dst: F): void;
  interleave(R: number, H: number, fwd: F, rev: F, out: F): void;
  deinterleave(R: number, H: number, inp: F, fwd: F, rev: F): void;
  dropout(n: number, seed: number, threshold: number, scale: number, x: F, y: F): void;
}

class NativeBuf implements Buf {
  constructor(readonly data: Float32Array, readonly owner: NativeBackend) {}
  get length(): number { return this.data.length; }
  view(): Float32Array { return this.data; }
}

/** A kernel call that stopped early: Node is stopping this thread, so normally no JavaScript runs to see this. */
const stopped = (op: string) =>
  new RnnkitError('E_ABORTED', `${op}: stopped early because Node is stopping this thread (worker.terminate() or exit)`);

/** The package root: two levels above this file in src/backend and in dist/backend. */
export const packageRoot = fileURLToPath(new URL('../../', import.meta.url));

class NativeBackend implements Backend, DenseOps, MoveOps {
  readonly name = 'native' as const;
  readonly details: string;
  /** The thread pool's size (RNNKIT_THREADS, else the number of cores). */
  readonly threads: number;
  private freed = new WeakSet<NativeBuf>();
  constructor(private readonly addon: Addon, readonly path: string) {
    const i = addon.info();
    const bad = i.badSettings?.[0];
    if (bad) throw settingError(bad.name, bad.value, bad.allowed);
    this.threads = i.threads;
    this.details = `C++ addon, ${i.isa} kernels, ${i.threads} thread${i.threads === 1 ? '' : 's'} (${path})`;
  }

  /**
   * Counters for benchmarks and tests, over the whole process (one addon, one pool): parallel regions run on more
   * than one thread, chunks taken over from a slower thread, back-offs to one thread; testHooks: the test-hooks build.
   */
  get stats(): { threaded: number; sharedChunks: number; backoffs: number; testHooks: boolean } {
    const i = this.addon.info();
    return { threaded: i.threadedRuns ?? 0, sharedChunks: i.sharedChunks ?? 0, backoffs: i.backoffs ?? 0, testHooks: i.testHooks ?? false };
  }

  alloc(n: number): Buf {
    checkBufferFloats('alloc', n);
    return new NativeBuf(new Float32Array(n), this);
  }

  free(buf: Buf): void {
    const b = this.own(buf, 'buffer');
    if (this.freed.has(b)) throw new RnnkitError('E_ARGUMENT', 'free: buffer already freed');
    this.freed.add(b);
  }

  private own(b: Buf, name: string): NativeBuf {
    if (!(b instanceof NativeBuf) || b.owner !== this) {
      throw new RnnkitError('E_ARGUMENT', `kernel buffer ${name}: not allocated by this native backend`);
    }
    return b;
  }
  private d(b: Buf | null, name: string): F {
    return b === null ? null : this.own(b, name).data;
  }

  cellForward(a: CellForwardArgs): void {
    checkForwardArgs(a);
    const done = this.addon.cellForward(
      CELL_CODES[a.kind], a.T, a.B, a.I, a.H, a.reverse ? 1 : 0,
      this.d(a.x, 'x'), this.d(a.h0, 'h0'), this.d(a.c0, 'c0'), this.d(a.wih, 'wih'), this.d(a.whh, 'whh'),
      this.d(a.bih, 'bih'), this.d(a.bhh, 'bhh'), this.d(a.y, 'y'), this.d(a.hT, 'hT'), this.d(a.cT, 'cT'),
      this.d(a.ws, 'ws'),
    );
    if (done === false) throw stopped('cellForward');
  }

  cellBackward(a: CellBackwardArgs): void {
    checkBackwardArgs(a);
    const done = this.addon.cellBackward(
      CELL_CODES[a.kind], a.T, a.B, a.I, a.H, a.reverse ? 1 : 0,
      this.d(a.x, 'x'), this.d(a.h0, 'h0'), this.d(a.c0, 'c0'), this.d(a.wih, 'wih'), this.d(a.whh, 'whh'),
      this.d(a.bih, 'bih'), this.d(a.bhh, 'bhh'), this.d(a.y, 'y'), this.d(a.ws, 'ws'), this.d(a.dy, 'dy'),
      this.d(a.dhT, 'dhT'), this.d(a.dcT, 'dcT'), this.d(a.dx, 'dx'), this.d(a.dh0, 'dh0'), this.d(a.dc0, 'dc0'),
      this.d(a.dwih, 'dwih'), this.d(a.dwhh, 'dwhh'), this.d(a.dbih, 'dbih'), this.d(a.dbhh, 'dbhh'),
    );
    if (done === false) throw stopped('cellBackward');
  }

  sgemm(
    transA: boolean, transB: boolean, M: number, N: number, K: number, alpha: number,
    A: Buf, lda: number, B: Buf, ldb: number, beta: number, C: Buf, ldc: number,
  ): void {
    checkGemmArgs(transA, transB, M, N, K, A, lda, B, ldb, C, ldc);
    this.addon.sgemm(transA ? 1 : 0, transB ? 1 : 0, M, N, K, alpha, this.d(A, 'A'), lda, this.d(B, 'B'), ldb, beta, this.d(C, 'C'), ldc);
  }

  linearForward(N: number, I: number, O: number, x: Buf, w: Buf, b: Buf | null, y: Buf): void {
    checkDense.linearForward(N, I, O, x, w, b, y);
    const done = this.addon.linearForward(N, I, O, this.d(x, 'x'), this.d(w, 'w'), this.d(b, 'b'), this.d(y, 'y'));
    if (done === false) throw stopped('linearForward');
  }
  linearBackward(N: number, I: number, O: number, x: Buf, w: Buf, dy: Buf, dx: Buf | null, dw: Buf, db: Buf | null): void {
    checkDense.linearBackward(N, I, O, x, w, dy, dx, dw, db);
    const done = this.addon.linearBackward(
      N, I, O, this.d(x, 'x'), this.d(w, 'w'), this.d(dy, 'dy'), this.d(dx, 'dx'), this.d(dw, 'dw'), this.d(db, 'db'),
    );
    if (done === false) throw stopped('linearBackward');
  }
  softmaxCrossEntropy(N: number, C: number, logits: Buf, targets: Buf, dlogits: Buf | null, scale: number): number {
    checkDense.softmaxCrossEntropy(N, C, logits, targets, dlogits);
    return this.addon.softmaxCrossEntropy(N, C, this.d(logits, 'logits'), this.d(targets, 'targets'), this.d(dlogits, 'dlogits'), scale);
  }
  embeddingForward(N: number, D: number, V: number, ids: Buf, table: Buf, out: Buf): void {
    checkDense.embedding(N, D, V, ids, table, out);
    this.addon.embeddingForward(N, D, V, this.d(ids, 'ids'), this.d(table, 'table'), this.d(out, 'out'));
  }
  embeddingBackward(N: number, D: number, V: number, ids: Buf, dout: Buf, dtable: Buf): void {
    checkDense.embedding(N, D, V, ids, dtable, dout);
    this.addon.embeddingBackward(N, D, V, this.d(ids, 'ids'), this.d(dout, 'dout'), this.d(dtable, 'dtable'));
  }
  adamStep(n: number, p: Buf, g: Buf, m: Buf, v: Buf, lr: number, beta1: number, beta2: number, eps: number,
    weightDecay: number, decoupled: boolean, step: number): void {
    checkDense.adamStep(n, p, g, m, v);
    this.addon.adamStep(n, this.d(p, 'p'), this.d(g, 'g'), this.d(m, 'm'), this.d(v, 'v'), lr, beta1, beta2, eps, weightDecay, decoupled ? 1 : 0, step);
  }
  sgdStep(n: number, p: Buf, g: Buf, buf: Buf, lr: number, momentum: number, weightDecay: number, nesterov: boolean, first: boolean): void {
    checkDense.sgdStep(n, p, g, buf, momentum);
    this.addon.sgdStep(n, this.d(p, 'p'), this.d(g, 'g'), this.d(buf, 'buf'), lr, momentum, weightDecay, nesterov ? 1 : 0, first ? 1 : 0);
  }
  sumSquares(n: number, x: Buf): number {
    checkDense.elementwise('sumSquares', n, ['x', x]);
    return this.addon.sumSquares(n, this.d(x, 'x'));
  }
  scale(n: number, x: Buf, alpha: number): void {
    checkDense.elementwise('scale', n, ['x', x]);
    this.addon.scale(n, this.d(x, 'x'), alpha);
  }

  // Data movement (MoveOps). The buffers are JavaScript memory, so the host transfers are typed-array copies.
  write(x: Buf, data: Float32Array, offset = 0): void {
    const b = this.own(x, 'x');
    if (!(data instanceof Float32Array)) throw new RnnkitError('E_DTYPE', 'write data: expected a Float32Array');
    checkMoves.span('write', x, offset, data.length);
    b.data.set(data, offset);
  }
  read(x: Buf, offset = 0, n?: number): Float32Array {
    const b = this.own(x, 'x');
    const len = checkMoves.span('read', x, offset, n);
    return b.data.slice(offset, offset + len);
  }
  fill(n: number, x: Buf, value: number, offset = 0): void {
    checkMoves.fill(n, x, value, offset);
    this.addon.fill(n, this.d(x, 'x'), offset, value);
  }
  copy(rows: number, cols: number, src: Buf, srcOffset: number, srcStride: number, dst: Buf, dstOffset: number, dstStride: number): void {
    checkMoves.copy(rows, cols, src, srcOffset, srcStride, dst, dstOffset, dstStride);
    this.addon.copy(rows, cols, this.d(src, 'src'), srcOffset, srcStride, this.d(dst, 'dst'), dstOffset, dstStride);
  }
  transpose01(A: number, B: number, C: number, src: Buf, dst: Buf): void {
    checkMoves.transpose01(A, B, C, src, dst);
    this.addon.transpose01(A, B, C, this.d(src, 'src'), this.d(dst, 'dst'));
  }
  interleave(R: number, H: number, fwd: Buf, rev: Buf, out: Buf): void {
    checkMoves.interleave('interleave', R, H, fwd, rev, out);
    this.addon.interleave(R, H, this.d(fwd, 'fwd'), this.d(rev, 'rev'), this.d(out, 'out'));
  }
  deinterleave(R: number, H: number, inp: Buf, fwd: Buf, rev: Buf): void {
    checkMoves.interleave('deinterleave', R, H, fwd, rev, inp);
    this.addon.deinterleave(R, H, this.d(inp, 'inp'), this.d(fwd, 'fwd'), this.d(rev, 'rev'));
  }
  dropout(n: number, p: number, seed: number, x: Buf, y: Buf): void {
    const [threshold, scale] = checkMoves.dropout(n, p, seed, x, y);
    this.addon.dropout(n, seed, threshold, scale, this.d(x, 'x'), this.d(y, 'y'));
  }
}

/**
 * The test-hooks build of the addon (CMakeLists.txt): the release kernels plus the hooks tests set through the
 * environment (RNNKIT_TEST_LAG_US, test/forward-threads.test.ts). Built beside the release addon, never packed.
 */
export const TEST_HOOKS_ADDON = 'build/testhooks/rnnkit_testhooks.node';

/**
 * Loads the addon (build/Release, then prebuilds/<platform>-<arch>) or throws E_BACKEND saying why. When
 * RNNKIT_TEST_LAG_US is set it loads the test-hooks build instead, since only that one honours it.
 */
export function loadNativeBackend(): Backend {
  const require = createRequire(import.meta.url);
  if (process.env.RNNKIT_TEST_LAG_US) {
    return openAddon(require, () => join(packageRoot, TEST_HOOKS_ADDON), 'the test-hooks addon',
      `RNNKIT_TEST_LAG_US is set, which only that build honours: \`npm run build:native\` builds it ` +
      `(${TEST_HOOKS_ADDON}); unset the variable to use the release addon.`);
  }
  let gypBuild: { resolve(dir: string): string };
  try {
    gypBuild = require('node-gyp-build');
  } catch (e) {
    throw new RnnkitError('E_BACKEND', `native backend: node-gyp-build is not installed (${(e as Error).message})`, { cause: e });
  }
  return openAddon(require, () => findAddon(gypBuild), 'the addon',
    `To get native, build it: \`npm rebuild rnnkit\` (needs cmake and a C++17 compiler; under npm's allowScripts, ` +
    `approve it first with \`npm install-scripts approve rnnkit\`).`);
}

/**
 * node-gyp-build's path to the addon. When it finds none, an error that names this platform and the ones the
 * package has prebuilds for (prebuilds/<platform>-<arch>, scripts/prepack.cjs), instead of its list of tags.
 */
function findAddon(gypBuild: { resolve(dir: string): string }): string {
  try {
    return gypBuild.resolve(packageRoot);
  } catch (e) {
    if (!/^No native build was found/.test((e as Error).message)) throw e;
    let prebuilt: string[] = [];
    try {
      prebuilt = readdirSync(join(packageRoot, 'prebuilds')).sort();
    } catch {
      // a clone of the repository: no prebuilds/
    }
    throw new Error(`no prebuilt addon for ${process.platform}-${process.arch} in this package ` +
      `(prebuilt: ${prebuilt.length ? `${prebuilt.join(', ')}, for glibc` : 'none'}) and none built in build/Release`, { cause: e });
  }
}

/** The backend over the addon at find()'s path, or E_BACKEND naming `what` failed to load, why, and `remedy`. */
function openAddon(require: NodeJS.Require, find: () => string, what: string, remedy: string): Backend {
  try {
    const path = find();
    const addon = require(path) as Addon;
    if (typeof addon.dropout !== 'function') {
      throw new Error(`${path} is an older build without the data-movement kernels (native/moves.cc)`);
    }
    const backend = new NativeBackend(addon, path);
    if (typeof addon.firstNonFinite === 'function') useFiniteScan(addon.firstNonFinite.bind(addon));
    return backend;
  } catch (e) {
    if (e instanceof RnnkitError) throw e;
    throw new RnnkitError(
      'E_BACKEND',
      `native backend: ${what} could not be loaded: ${(e as Error).message.split('\n')[0]}. ${remedy}`,
      { cause: e },
    );
  }
}
