// The backends' general matrix product against a float64 reference computed here, over the shapes whose edges
// the packed kernels treat specially: rows in groups of six, pairs and an odd row; columns in panels of 8, 16
// and 32 with a partial last one; depth blocks; both transposes; alpha and beta; leading dimensions wider than
// the matrix (the padding must be neither read into C nor written).
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
});
