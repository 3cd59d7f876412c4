// The native backend: the C++ addon (native/) loaded with node-gyp-build. Buffers are plain Float32Arrays that
// the addon reads in place, so passing weights costs nothing.
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';
import { RnnkitError } from '../errors.js';
import { checkBackwardArgs, checkForwardArgs, checkGemmArgs } from './check.js';
import type { Backend, Buf, CellBackwardArgs, CellForwardArgs } from './types.js';
import { CELL_CODES } from './types.js';

type F = Float32Array | null;
interface Addon {
  cellForward(...args: (number | F)[]): void;
  cellBackward(...args: (number | F)[]): void;
  sgemm(...args: (number | boolean | F)[]): void;
  info(): { isa: string; threads: number };
}

class NativeBuf implements Buf {
  constructor(readonly data: Float32Array, readonly owner: NativeBackend) {}
  get length(): number { return this.data.length; }
  view(): Float32Array { return this.data; }
}

/** The package root: two levels above this file in src/backend and in dist/backend. */
export const packageRoot = fileURLToPath(new URL('../../', import.meta.url));

class NativeBackend implements Backend {
  readonly name = 'native' as const;
  readonly details: string;
  private freed = new WeakSet<NativeBuf>();
  constructor(private readonly addon: Addon, readonly path: string) {
    const i = addon.info();
    this.details = `C++ addon, ${i.isa} kernels, ${i.threads} thread${i.threads === 1 ? '' : 's'} (${path})`;
  }

  alloc(n: number): Buf {
    if (!Number.isInteger(n) || n < 0) throw new RnnkitError('E_ARGUMENT', `alloc: expected a non-negative integer, found ${n}`);
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
    this.addon.cellForward(
      CELL_CODES[a.kind], a.T, a.B, a.I, a.H, a.reverse ? 1 : 0,
      this.d(a.x, 'x'), this.d(a.h0, 'h0'), this.d(a.c0, 'c0'), this.d(a.wih, 'wih'), this.d(a.whh, 'whh'),
      this.d(a.bih, 'bih'), this.d(a.bhh, 'bhh'), this.d(a.y, 'y'), this.d(a.hT, 'hT'), this.d(a.cT, 'cT'),
      this.d(a.ws, 'ws'),
    );
  }

  cellBackward(a: CellBackwardArgs): void {
    checkBackwardArgs(a);
    this.addon.cellBackward(
      CELL_CODES[a.kind], a.T, a.B, a.I, a.H, a.reverse ? 1 : 0,
      this.d(a.x, 'x'), this.d(a.h0, 'h0'), this.d(a.c0, 'c0'), this.d(a.wih, 'wih'), this.d(a.whh, 'whh'),
      this.d(a.bih, 'bih'), this.d(a.bhh, 'bhh'), this.d(a.y, 'y'), this.d(a.ws, 'ws'), this.d(a.dy, 'dy'),
      this.d(a.dhT, 'dhT'), this.d(a.dcT, 'dcT'), this.d(a.dx, 'dx'), this.d(a.dh0, 'dh0'), this.d(a.dc0, 'dc0'),
      this.d(a.dwih, 'dwih'), this.d(a.dwhh, 'dwhh'), this.d(a.dbih, 'dbih'), this.d(a.dbhh, 'dbhh'),
    );
  }

  sgemm(
    transA: boolean, transB: boolean, M: number, N: number, K: number, alpha: number,
    A: Buf, lda: number, B: Buf, ldb: number, beta: number, C: Buf, ldc: number,
  ): void {
    checkGemmArgs(transA, transB, M, N, K, A, lda, B, ldb, C, ldc);
    this.addon.sgemm(transA ? 1 : 0, transB ? 1 : 0, M, N, K, alpha, this.d(A, 'A'), lda, this.d(B, 'B'), ldb, beta, this.d(C, 'C'), ldc);
  }
}

/** Loads the addon (build/Release, then prebuilds/<platform>-<arch>) or throws E_BACKEND saying why. */
export function loadNativeBackend(): Backend {
  const require = createRequire(import.meta.url);
  let load: ((dir: string) => Addon) & { resolve?: (dir: string) => string };
  try {
    load = require('node-gyp-build');
  } catch (e) {
    throw new RnnkitError('E_BACKEND', `native backend: node-gyp-build is not installed (${(e as Error).message})`, { cause: e });
  }
  let path = '(unknown path)';
  try {
    path = load.resolve ? load.resolve(packageRoot) : packageRoot;
    return new NativeBackend(load(packageRoot), path);
  } catch (e) {
    throw new RnnkitError(
      'E_BACKEND',
      `native backend: the addon could not be loaded: ${(e as Error).message.split('\n')[0]}. ` +
        `Build it with \`npm rebuild rnnkit\` (needs cmake and a C++17 compiler; under npm's allowScripts, ` +
        `approve it first with \`npm install-scripts approve rnnkit\`).`,
      { cause: e },
    );
  }
}
