// The backends' general matrix product against a float64 reference computed here, over the shapes whose edges
// the packed kernels treat specially: rows in groups of six, pairs and an odd row; columns in panels of 8, 16
// and 32 with a partial last one; depth blocks; both transposes; alpha and beta; leading dimensions wider than
// the matrix (the padding must be neither read into C nor written).
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { loadBackend } from '../src/backend/index.js';
import { BACKENDS } from './helpers.js';

function fill(n: number, seed: number): Float32Array {
  return Float32Array.from({ length: n }, (_, i) => Math.sin(i * 0.731 + seed) * 0.9);
}

describe.each(BACKENDS)('sgemm on the %s backend', (backend) => {
  const be = loadBackend(backend);
  const shapes: [number, number, number][] = [
    [1, 1, 1], [2, 9, 3], [5, 8, 7], [6, 16, 64], [7, 17, 33], [12, 24, 5], [13, 7, 300], [31, 33, 65],
    [37, 50, 129], [200, 40, 300], [6, 100, 1],
    [1, 300, 257], [1, 1000, 64], [1, 7, 1000], // one row: the unpacked product (native), on threads when large
  ];
  it.each(shapes)('M=%i N=%i K=%i, every transpose, alpha and beta, padded leading dimensions', (M, N, K) => {
    for (const [ta, tb] of [[false, false], [false, true], [true, false], [true, true]] as const) {
      for (const [alpha, beta] of [[1, 0], [0.5, 1], [-1.25, 0.75]] as const) {
        const pad = 3;
        const ar = ta ? K : M, ac = ta ? M : K, br = tb ? N : K, bc = tb ? K : N;
        const lda = ac + pad, ldb = bc + pad, ldc = N + pad;
        const A = be.alloc(ar * lda), B = be.alloc(br * ldb), C = be.alloc(M * ldc);
        A.view().set(fill(ar * lda, 1));
        B.view().set(fill(br * ldb, 2));
        const c0 = fill(M * ldc, 3);
        C.view().set(c0);
        be.sgemm(ta, tb, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
        const a = A.view(), b = B.view(), c = C.view();
        let worst = 0;
        for (let i = 0; i < M; i++) {
          for (let j = 0; j < ldc; j++) {
            const got = c[i * ldc + j]!;
            if (j >= N) {
              expect(got, `padding of C row ${i} column ${j}`).toBe(c0[i * ldc + j]);
              continue;
            }
            let s = 0, mag = 0;
            for (let k = 0; k < K; k++) {
              const x = ta ? a[k * lda + i]! : a[i * lda + k]!;
              const y = tb ? b[j * ldb + k]! : b[k * ldb + j]!;
              s += x * y;
              mag += Math.abs(x * y);
            }
            const want = alpha * s + beta * c0[i * ldc + j]!;
            const err = Math.abs(got - want) / (1e-6 + Math.abs(alpha) * mag + Math.abs(beta * c0[i * ldc + j]!));
            worst = Math.max(worst, err);
          }
        }
        expect(worst, `transA=${ta} transB=${tb} alpha=${alpha} beta=${beta}`).toBeLessThan(1e-5);
        for (const x of [A, B, C]) be.free(x);
      }
    }
  });

  it('an output that is also an input (C as A or B; a Linear\'s y, dx or dw as x, w or dy) is E_ARGUMENT', () => {
    const a = be.alloc(64), b = be.alloc(64), c = be.alloc(64);
    const code = (f: () => void) => { try { f(); } catch (e) { return `${(e as { code?: string }).code}: ${(e as Error).message}`; } return 'no error'; };
    expect(code(() => be.sgemm(false, false, 4, 4, 4, 1, a, 4, b, 4, 0, a, 4))).toBe('E_ARGUMENT: sgemm: C must be a different buffer from A and B');
    expect(code(() => be.sgemm(false, false, 4, 4, 4, 1, a, 4, b, 4, 0, b, 4))).toMatch(/^E_ARGUMENT/);
    expect(code(() => be.linearForward(4, 4, 4, a, b, null, a))).toBe('E_ARGUMENT: linearForward: y must be a different buffer from x');
    expect(code(() => be.linearBackward(4, 4, 4, a, b, c, c, be.alloc(16), null))).toBe('E_ARGUMENT: linearBackward: dx must be a different buffer from dy');
    expect(code(() => be.linearBackward(4, 4, 4, a, b, c, null, b, null))).toBe('E_ARGUMENT: linearBackward: dw must be a different buffer from w');
    const d = be.alloc(16);
    expect(code(() => be.linearBackward(4, 4, 4, a, b, c, d, d, null))).toBe('E_ARGUMENT: linearBackward: dx must be a different buffer from dw');
    expect(code(() => be.linearBackward(4, 4, 4, a, b, c, null, d, c))).toBe('E_ARGUMENT: linearBackward: db must be a different buffer from dy');
    be.free(d);
    expect(code(() => be.sgemm(false, false, 4, 4, 4, 1, a, 4, b, 4, 0, c, 4))).toBe('no error');
    for (const x of [a, b, c]) be.free(x);
  });
});

// The native product's threads: with fewer rows than columns each thread takes its own columns for every row (it
// packs only its own panels), so the rows keep a one-thread product's micro-tiles and the bits are one thread's;
// with more rows, each thread sets up (beta, bias) and computes its own rows. Thread counts are fixed per process:
// each count is a child process on the built dist/.
const root = fileURLToPath(new URL('..', import.meta.url));
const CHILD = `
const [root, spec] = process.argv.slice(1);
const { loadBackend } = await import(root + 'dist/index.js');
const be = loadBackend('native');
const [ta, tb, M, N, K, alpha, beta] = JSON.parse(spec);
const buf = (n, s) => { const b = be.alloc(n); b.view().set(Float32Array.from({ length: n }, (_, i) => Math.sin(i * 0.731 + s) * 0.9)); return b; };
const A = buf(M * K, 1), B = buf(K * N, 2), C = buf(M * N, 3), bias = buf(N, 4);
be.sgemm(ta, tb, M, N, K, alpha, A, ta ? M : K, B, tb ? K : N, beta, C, N);
const threads = be.addon.info().lastThreads;
// the same shape as a Linear layer's forward: y[M,N] = A[M,K] B[N,K]ᵀ + bias (rows start as the bias)
const W = buf(N * K, 5), Y = buf(M * N, 6);
be.linearForward(M, K, N, A, W, bias, Y);
const b64 = (b) => Buffer.from(b.view().slice().buffer).toString('base64');
process.stdout.write(JSON.stringify({ c: b64(C), y: b64(Y), threads, linearThreads: be.addon.info().lastThreads }), () => process.exit(0));
`;

function productIn(threads: number, spec: unknown[]) {
  const r = spawnSync(process.execPath, ['--input-type=module', '-e', CHILD, root, JSON.stringify(spec)], {
    env: { ...process.env, RNNKIT_THREADS: String(threads) },
    encoding: 'utf8',
    maxBuffer: 1 << 26,
  });
  if (r.status !== 0) throw new Error(`child failed (${r.status}): ${r.stderr}`);
  return JSON.parse(r.stdout) as { c: string; y: string; threads: number; linearThreads: number };
}

describe.runIf(BACKENDS.includes('native'))('sgemm on the native backend\'s threads', () => {
  it.each([
    [true, false, 65, 256, 2048, 1, 1], // a decoder's weight gradient dW += dyᵀ x (65 classes, 256 features)
    // split by rows, these differed: 5 rows as 2 + 3 (short micro-tiles), 74 as 37 + 37 (other 72-row blocks)
    [false, false, 5, 256, 300, 1, 1],
    [false, true, 74, 300, 129, -1.25, 0.75], // columns not a whole number of panels, beta
    [true, false, 6, 200, 300, 0.5, 0], // beta 0
    [false, true, 1, 4000, 300, 1, 0], // one row (a decoder's next token): dot products, each column one thread's
    [true, false, 1, 3000, 200, -0.5, 0.75], // one row, B as K x N: its rows added into each thread's columns
  ])('transA %s transB %s M=%i N=%i K=%i: fewer rows than columns give one thread\'s bits on two', (...spec) => {
    const two = productIn(2, spec);
    const one = productIn(1, spec);
    expect(two.threads).toBe(2);
    expect(one.threads).toBe(1);
    expect(two.c === one.c, 'C differs between one thread and two').toBe(true);
  });

  it('a Linear forward on two threads starts every row from the bias (against a float64 reference)', () => {
    const [M, K, N] = [300, 64, 40]; // rows > columns: each thread its own rows
    const two = productIn(2, [false, false, M, N, K, 1, 0]);
    expect(two.linearThreads).toBe(2);
    const y = new Float32Array(Buffer.from(two.y, 'base64').buffer.slice(0));
    const f = (n: number, s: number) => Float32Array.from({ length: n }, (_, i) => Math.sin(i * 0.731 + s) * 0.9);
    const a = f(M * K, 1), w = f(N * K, 5), bias = f(N, 4);
    let worst = 0;
    for (let i = 0; i < M; i++) {
      for (let j = 0; j < N; j++) {
        let s = bias[j]!, mag = Math.abs(bias[j]!);
        for (let k = 0; k < K; k++) { s += a[i * K + k]! * w[j * K + k]!; mag += Math.abs(a[i * K + k]! * w[j * K + k]!); }
        worst = Math.max(worst, Math.abs(y[i * N + j]! - s) / (1e-6 + mag));
      }
    }
    expect(worst).toBeLessThan(1e-5);
  });
});
