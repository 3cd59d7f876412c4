// The WASM module's own test oracles, called on the built one-thread modules directly (dist/wasm/, plain and
// relaxed SIMD): sgemm against sgemmRef (its plain triple loop in float64), vecMath (the kernels' sigmoid and
// tanh) against Math, with row tails computing exactly what the 4-lane body does; and the module's exported
// constants against the TypeScript table they must agree with.
import { readFileSync } from 'node:fs';
import { setFlagsFromString } from 'node:v8';
import { describe, expect, it } from 'vitest';
import { CELL_CODES } from '../src/backend/types.js';
import { backendOf, MAX_THREADS } from '../src/backend/wasm-core.js';
import { errorOf, smallToTwo, worstTanhUlps } from './helpers.js';

interface Oracles {
  memory: WebAssembly.Memory;
  heapBase(): number;
  threadContextBytes(): number;
  setThread(ctx: number, spins: number, ctrl: number): void;
  buildFeatures(): number;
  sgemm(ta: number, tb: number, M: number, N: number, K: number, alpha: number, A: number, lda: number,
    B: number, ldb: number, beta: number, C: number, ldc: number): void;
  sgemmRef(ta: number, tb: number, M: number, N: number, K: number, alpha: number, A: number, lda: number,
    B: number, ldb: number, beta: number, C: number, ldc: number): void;
  vecMath(fn: number, n: number, x: number, y: number): void;
  [name: string]: unknown;
}

// Node 20 compiles relaxed SIMD only with this flag (src/backend/wasm-node.ts sets it the same way).
setFlagsFromString('--experimental-wasm-relaxed-simd');

/** A module with a bump allocator over its memory above heapBase and its thread context set. */
function open(file: string) {
  const bytes = readFileSync(new URL(`../dist/wasm/${file}`, import.meta.url));
  const k = new WebAssembly.Instance(new WebAssembly.Module(bytes)).exports as unknown as Oracles;
  let top = Math.ceil(k.heapBase() / 64) * 64;
  const alloc = (floats: number): number => {
    const ptr = top;
    top += Math.ceil((floats * 4) / 64) * 64;
    const need = top - k.memory.buffer.byteLength;
    if (need > 0) k.memory.grow(Math.ceil(need / 65536));
    return ptr;
  };
  const ctx = alloc(k.threadContextBytes() / 4);
  k.setThread(ctx, 0, alloc(1024));
  const f32 = (ptr: number, n: number) => new Float32Array(k.memory.buffer, ptr, n);
  return { k, alloc, f32 };
}

function fill(n: number, seed: number): Float32Array {
  return Float32Array.from({ length: n }, (_, i) => Math.sin(i * 0.731 + seed) * 0.9);
}

describe.each([
  ['rnnkit.wasm', 0],
  ['rnnkit-relaxed.wasm', 1],
] as const)('%s', (file, features) => {
  const { k, alloc, f32 } = open(file);

  it('is the build it is named after', () => {
    expect(k.buildFeatures()).toBe(features);
  });

  it.each([
    [1, 1, 1], [2, 9, 3], [7, 17, 33], [13, 7, 300], [37, 50, 129], [6, 1030, 20], [130, 20, 260],
  ])('sgemm M=%i N=%i K=%i agrees with sgemmRef, every transpose, alpha and beta', (M, N, K) => {
    for (const [ta, tb] of [[0, 0], [0, 1], [1, 0], [1, 1]]) {
      for (const [alpha, beta] of [[1, 0], [0.5, 1], [-1.25, 0.75]]) {
        const pad = 3;
        const lda = (ta ? M : K) + pad, ldb = (tb ? K : N) + pad, ldc = N + pad;
        const A = alloc((ta ? K : M) * lda), B = alloc((tb ? N : K) * ldb);
        const C = alloc(M * ldc), R = alloc(M * ldc);
        f32(A, (ta ? K : M) * lda).set(fill((ta ? K : M) * lda, 1));
        f32(B, (tb ? N : K) * ldb).set(fill((tb ? N : K) * ldb, 2));
        const c0 = fill(M * ldc, 3);
        if (beta === 0) c0.fill(NaN); // beta 0 never reads C
        f32(C, M * ldc).set(c0);
        f32(R, M * ldc).set(c0);
        k.sgemm(ta, tb, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
        k.sgemmRef(ta, tb, M, N, K, alpha, A, lda, B, ldb, beta, R, ldc);
        const c = f32(C, M * ldc), r = f32(R, M * ldc);
        let worst = 0;
        let padding = 0;
        for (let i = 0; i < M; i++) {
          for (let j = 0; j < ldc; j++) {
            if (j >= N) padding += Object.is(c[i * ldc + j], c0[i * ldc + j]) ? 0 : 1;
            else {
              const d = Math.abs(c[i * ldc + j]! - r[i * ldc + j]!);
              worst = Number.isNaN(d) ? Infinity : Math.max(worst, d);
            }
          }
        }
        const at = `transA ${ta} transB ${tb} alpha ${alpha} beta ${beta}`;
        expect(padding, `padding columns written, ${at}`).toBe(0);
        // float32 sums of K products of magnitude < 1 against float64 ones
        expect(worst, at).toBeLessThanOrEqual(2e-6 * (K + 1));
      }
    }
  });

  const xs = [0, -0, 1e-8, -3e-4, 0.3, -0.62, 0.625, 0.63, -1, 2.5, -7, 9.99, 10.5, -20, 40, 87.5, -88.7, 100, -1e4];
  for (let i = 0; i < 400; i++) xs.push((i - 200) * 0.0731);

  it.each([
    ['sigmoid', 0, (x: number) => 1 / (1 + Math.exp(-x))],
    ['tanh', 1, Math.tanh],
  ] as const)('vecMath %s agrees with Math within 2e-7 absolute and 1e-6 relative', (_, fn, ref) => {
    const n = xs.length;
    const x = alloc(n), y = alloc(n);
    f32(x, n).set(xs);
    k.vecMath(fn, n, x, y);
    const got = f32(y, n);
    const x32 = f32(x, n);
    for (let i = 0; i < n; i++) {
      const want = ref(x32[i]!);
      expect(Math.abs(got[i]! - want), `${x32[i]}`).toBeLessThanOrEqual(2e-7 + 1e-6 * Math.abs(want));
    }
  });

  it('vecMath tanh is within 3 ulp of Math.tanh near 0 too (no cancellation: 1e-12 to 2, both signs)', () => {
    const n = 4096;
    const x = alloc(n), y = alloc(n);
    f32(x, n).set(smallToTwo(n));
    k.vecMath(1, n, x, y);
    const worst = worstTanhUlps(f32(x, n), f32(y, n));
    expect(worst.ulps, `at ${worst.at}`).toBeLessThanOrEqual(3);
  });

  it.each([1, 2, 3, 5, 6, 7])('vecMath: a row of %i floats computes in its tail what the body does, and writes no further', (n) => {
    for (const fn of [0, 1]) {
      const vals = Float32Array.from(xs.slice(0, 8));
      const body = alloc(8), bodyOut = alloc(8);
      f32(body, 8).set(vals);
      k.vecMath(fn, 8, body, bodyOut); // whole vectors only
      const x = alloc(n + 4), y = alloc(n + 4);
      f32(x, n + 4).set(vals.subarray(0, n));
      f32(y, n + 4).fill(12345);
      k.vecMath(fn, n, x, y);
      const want = f32(bodyOut, 8), got = f32(y, n + 4);
      for (let i = 0; i < n; i++) expect(Object.is(got[i], want[i]), `fn ${fn} lane ${i}`).toBe(true);
      for (let i = n; i < n + 4; i++) expect(got[i], `fn ${fn} past the row: ${i}`).toBe(12345);
    }
  });
});

describe('the WASM module and the TypeScript tables', () => {
  const { k } = open('rnnkit.wasm');
  const global = (name: string) => (k[name] as WebAssembly.Global).value as number;

  it('exports the cell kind codes of CELL_CODES', () => {
    expect({
      rnn_tanh: global('KIND_RNN_TANH'), rnn_relu: global('KIND_RNN_RELU'), lstm: global('KIND_LSTM'),
      gru: global('KIND_GRU'),
    }).toEqual(CELL_CODES);
  });

  it('every build has room for the threads the loader may start, and a build with less is refused', () => {
    for (const f of ['rnnkit.wasm', 'rnnkit-relaxed.wasm', 'rnnkit-mt.wasm', 'rnnkit-relaxed-mt.wasm']) {
      const exports = WebAssembly.Module.exports(new WebAssembly.Module(readFileSync(new URL(`../dist/wasm/${f}`, import.meta.url))));
      expect(exports.map((e) => e.name), f).toContain('CTRL_MAX_THREADS');
    }
    expect(global('CTRL_MAX_THREADS')).toBe(MAX_THREADS);
    // An instance like an older build's: the kernels, but a control block for 8 threads.
    const fake = { memory: new WebAssembly.Memory({ initial: 1 }), run: () => 0, setThread: () => 0,
      CTRL_SIZE: new WebAssembly.Global({ value: 'i32' }, 64), CTRL_MAX_THREADS: new WebAssembly.Global({ value: 'i32' }, 8) };
    const e = errorOf(() => backendOf({ exports: fake } as unknown as WebAssembly.Instance, 'old.wasm',
      { file: 'old.wasm', relaxed: false } as never, { memory: null, threads: 1, notes: [], candidates: [] }));
    expect(e.code).toBe('E_BACKEND');
    expect(e.message).toMatch(/old\.wasm has room for 8 threads, this loader may start 16: rebuild it/);
  });

  it('release builds hold no test hook; the test builds do', () => {
    for (const f of ['rnnkit.wasm', 'rnnkit-relaxed.wasm', 'rnnkit-mt.wasm', 'rnnkit-relaxed-mt.wasm']) {
      const names = WebAssembly.Module.exports(new WebAssembly.Module(readFileSync(new URL(`../dist/wasm/${f}`, import.meta.url))));
      expect(names.map((e) => e.name), f).not.toContain('setTestLag');
    }
    for (const f of ['rnnkit-mt-testhooks.wasm', 'rnnkit-relaxed-mt-testhooks.wasm']) {
      const names = WebAssembly.Module.exports(new WebAssembly.Module(readFileSync(new URL(`../dist/wasm/${f}`, import.meta.url))));
      expect(names.map((e) => e.name), f).toContain('setTestLag');
    }
  });
});
