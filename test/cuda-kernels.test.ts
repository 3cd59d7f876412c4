// The CUDA backend's algorithm (native/cuda/driver.h, cell_ops.h) and its N-API glue, run on the host by the
// emulation addon (build/emulation/rnnkit_cuda_emu.node: the same code with loops for kernels and a column-major
// reference GEMM for cuBLAS). Checked against the PyTorch vectors of single layers and against the native CPU
// kernels on random shapes, both directions, every kind, forward, backward and the dense ops. What this cannot
// check is the CUDA runtime itself (launch sizes, cuBLAS, transfers): that needs a GPU.
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { execFileSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import type { CudaAddon, Id } from '../src/backend/cuda.js';
import { loadBackend } from '../src/backend/index.js';
import { CELL_CODES, CELL_KINDS, GATES, workspaceFloats, type Backend, type Buf, type CellKind } from '../src/backend/types.js';
import { expectClose, loadVector, randomData, VECTOR_FILES } from './helpers.js';

const require = createRequire(import.meta.url);
const emuPath = new URL('../build/emulation/rnnkit_cuda_emu.node', import.meta.url).pathname;
const cudaPath = new URL('../build/cuda/rnnkit_cuda.node', import.meta.url).pathname;

const emu = require(emuPath) as CudaAddon;
expect(emu.open('fp32').ok).toBe(true);

/** A device buffer holding `data` (or n zeros). */
function dev(data: Float32Array | number): Id {
  const n = typeof data === 'number' ? data : data.length;
  const id = emu.alloc(n);
  if (typeof data !== 'number') emu.upload(id, 0, data);
  return id;
}
function host(id: Id, n: number): Float32Array {
  const out = new Float32Array(n);
  emu.download(id, 0, out);
  return out;
}

const native = loadBackend('native');
function nbuf(b: Backend, data: Float32Array | number): Buf {
  const n = typeof data === 'number' ? data : data.length;
  const buf = b.alloc(n);
  if (typeof data !== 'number') buf.view().set(data);
  return buf;
}

describe('the CUDA algorithm (host emulation) against the PyTorch vectors of single layers', () => {
  const single = VECTOR_FILES.map(loadVector).filter((v) => v.config.numLayers === 1 && !v.config.bidirectional && !v.config.batchFirst);
  it('has single-layer vectors of every kind to run', () => {
    expect(new Set(single.map((v) => v.kind))).toEqual(new Set(CELL_KINDS));
  });
  it.each(single.map((v) => [v.name, v] as const))('%s: output, final states and every gradient', (_n, v) => {
    const [T, B, I] = v.input.shape as [number, number, number];
    const H = v.config.hiddenSize, G = GATES[v.kind], lstm = v.kind === 'lstm';
    const f = (t: { data: number[] } | null | undefined, n: number) => (t ? Float32Array.from(t.data) : new Float32Array(n));
    const x = dev(f(v.input, 0)), h0 = dev(f(v.h0, B * H)), c0 = lstm ? dev(f(v.c0, B * H)) : 0;
    const p = (k: string) => dev(Float32Array.from(v.params[k]!.data));
    const wih = p('weight_ih_l0'), whh = p('weight_hh_l0'), bih = p('bias_ih_l0'), bhh = p('bias_hh_l0');
    const y = dev(T * B * H), hT = dev(B * H), cT = lstm ? dev(B * H) : 0;
    const wsN = workspaceFloats(v.kind, T, B, H), ws = wsN ? dev(wsN) : 0;
    const code = CELL_CODES[v.kind];
    emu.cellForward(code, T, B, I, H, 0, x, h0, c0, wih, whh, bih, bhh, y, hT, cT, ws);
    expectClose('output', host(y, T * B * H), v.output.data, 1e-5, 1e-6);
    expectClose('hN', host(hT, B * H), v.hN.data, 1e-5, 1e-6);
    if (lstm) expectClose('cN', host(cT, B * H), v.cN!.data, 1e-5, 1e-6);
    const dy = dev(f(v.dOutput, 0)), dhT = dev(f(v.dhN, B * H)), dcT = lstm ? dev(f(v.dcN, B * H)) : 0;
    const dx = dev(T * B * I), dh0 = dev(B * H), dc0 = lstm ? dev(B * H) : 0;
    const dwih = dev(G * H * I), dwhh = dev(G * H * H), dbih = dev(G * H), dbhh = dev(G * H);
    emu.cellBackward(code, T, B, I, H, 0, x, h0, c0, wih, whh, bih, bhh, y, ws, dy, dhT, dcT, dx, dh0, dc0, dwih, dwhh, dbih, dbhh);
    const g = v.grads;
    expectClose('d input', host(dx, T * B * I), g.input.data, 1e-4, 1e-6);
    if (g.h0) expectClose('d h0', host(dh0, B * H), g.h0.data, 1e-4, 1e-6);
    if (lstm && g.c0) expectClose('d c0', host(dc0, B * H), g.c0.data, 1e-4, 1e-6);
    expectClose('d weight_ih', host(dwih, G * H * I), g.params.weight_ih_l0!.data, 1e-4, 1e-6);
    expectClose('d weight_hh', host(dwhh, G * H * H), g.params.weight_hh_l0!.data, 1e-4, 1e-6);
    expectClose('d bias_ih', host(dbih, G * H), g.params.bias_ih_l0!.data, 1e-4, 1e-6);
    expectClose('d bias_hh', host(dbhh, G * H), g.params.bias_hh_l0!.data, 1e-4, 1e-6);
  });
});

describe('the CUDA algorithm (host emulation) against the native kernels', () => {
  const cases: [CellKind, boolean][] = CELL_KINDS.flatMap((k) => [[k, false], [k, true]] as [CellKind, boolean][]);
  it.each(cases)('%s, reverse %s: T 7, B 3, I 5, H 6, forward and accumulated backward', (kind, reverse) => {
    const T = 7, B = 3, I = 5, H = 6, G = GATES[kind], lstm = kind === 'lstm';
    const seeds = { x: 1, h0: 2, c0: 3, wih: 4, whh: 5, bih: 6, bhh: 7, dy: 8, dhT: 9, dcT: 10, acc: 11 };
    const data = {
      x: randomData(T * B * I, seeds.x), h0: randomData(B * H, seeds.h0), c0: randomData(B * H, seeds.c0),
      wih: randomData(G * H * I, seeds.wih), whh: randomData(G * H * H, seeds.whh),
      bih: randomData(G * H, seeds.bih), bhh: randomData(G * H, seeds.bhh),
      dy: randomData(T * B * H, seeds.dy), dhT: randomData(B * H, seeds.dhT), dcT: randomData(B * H, seeds.dcT),
    };
    // Accumulated outputs start from the same non-zero values on both sides.
    const acc = { dx: randomData(T * B * I, 12), dwih: randomData(G * H * I, 13), dwhh: randomData(G * H * H, 14), dbih: randomData(G * H, 15), dbhh: randomData(G * H, 16) };
    const wsN = workspaceFloats(kind, T, B, H);
    // native
    const n = (d: Float32Array | number) => nbuf(native, d);
    const N = {
      x: n(data.x), h0: n(data.h0), c0: lstm ? n(data.c0) : null, wih: n(data.wih), whh: n(data.whh), bih: n(data.bih), bhh: n(data.bhh),
      y: n(T * B * H), hT: n(B * H), cT: lstm ? n(B * H) : null, ws: wsN ? n(wsN) : null,
    };
    native.cellForward({ kind, T, B, I, H, reverse, ...N });
    const NB = {
      dy: n(data.dy), dhT: n(data.dhT), dcT: lstm ? n(data.dcT) : null, dx: n(acc.dx), dh0: n(B * H), dc0: lstm ? n(B * H) : null,
      dwih: n(acc.dwih), dwhh: n(acc.dwhh), dbih: n(acc.dbih), dbhh: n(acc.dbhh),
    };
    native.cellBackward({ kind, T, B, I, H, reverse, ...N, ...NB });
    // emulation
    const E = {
      x: dev(data.x), h0: dev(data.h0), c0: lstm ? dev(data.c0) : 0, wih: dev(data.wih), whh: dev(data.whh), bih: dev(data.bih), bhh: dev(data.bhh),
      y: dev(T * B * H), hT: dev(B * H), cT: lstm ? dev(B * H) : 0, ws: wsN ? dev(wsN) : 0,
    };
    emu.cellForward(CELL_CODES[kind], T, B, I, H, reverse ? 1 : 0, E.x, E.h0, E.c0, E.wih, E.whh, E.bih, E.bhh, E.y, E.hT, E.cT, E.ws);
    expectClose('y', host(E.y, T * B * H), N.y.view(), 1e-5, 1e-6);
    expectClose('hT', host(E.hT, B * H), N.hT.view(), 1e-5, 1e-6);
    if (lstm) expectClose('cT', host(E.cT, B * H), N.cT!.view(), 1e-5, 1e-6);
    const EB = {
      dy: dev(data.dy), dhT: dev(data.dhT), dcT: lstm ? dev(data.dcT) : 0, dx: dev(acc.dx), dh0: dev(B * H), dc0: lstm ? dev(B * H) : 0,
      dwih: dev(acc.dwih), dwhh: dev(acc.dwhh), dbih: dev(acc.dbih), dbhh: dev(acc.dbhh),
    };
    emu.cellBackward(CELL_CODES[kind], T, B, I, H, reverse ? 1 : 0, E.x, E.h0, E.c0, E.wih, E.whh, E.bih, E.bhh, E.y, E.ws,
      EB.dy, EB.dhT, EB.dcT, EB.dx, EB.dh0, EB.dc0, EB.dwih, EB.dwhh, EB.dbih, EB.dbhh);
    expectClose('dx', host(EB.dx, T * B * I), NB.dx.view(), 1e-4, 1e-5);
    expectClose('dh0', host(EB.dh0, B * H), NB.dh0.view(), 1e-4, 1e-5);
    if (lstm) expectClose('dc0', host(EB.dc0, B * H), NB.dc0!.view(), 1e-4, 1e-5);
    expectClose('dwih', host(EB.dwih, G * H * I), NB.dwih.view(), 1e-4, 1e-5);
    expectClose('dwhh', host(EB.dwhh, G * H * H), NB.dwhh.view(), 1e-4, 1e-5);
    expectClose('dbih', host(EB.dbih, G * H), NB.dbih.view(), 1e-4, 1e-5);
    expectClose('dbhh', host(EB.dbhh, G * H), NB.dbhh.view(), 1e-4, 1e-5);
  });

  it('sgemm: every transpose pair with leading dimensions wider than the rows', () => {
    const M = 5, N = 4, K = 3, pad = 2;
    for (const ta of [false, true]) for (const tb of [false, true]) {
      const lda = (ta ? M : K) + pad, ldb = (tb ? K : N) + pad, ldc = N + pad;
      const A = randomData((ta ? K : M) * lda, 21), Bm = randomData((tb ? N : K) * ldb, 22), C = randomData(M * ldc, 23);
      const nc = nbuf(native, C);
      native.sgemm(ta, tb, M, N, K, 0.7, nbuf(native, A), lda, nbuf(native, Bm), ldb, 0.3, nc, ldc);
      const ec = dev(C);
      emu.sgemm(ta, tb, M, N, K, 0.7, dev(A), lda, dev(Bm), ldb, 0.3, ec, ldc);
      expectClose(`sgemm ${ta} ${tb}`, host(ec, M * ldc), nc.view(), 1e-5, 1e-6);
    }
  });

  it('the dense ops of a training step', () => {
    const Nr = 6, I = 5, O = 7, V = 9, D = 4;
    const x = randomData(Nr * I, 31), w = randomData(O * I, 32), b = randomData(O, 33), dy = randomData(Nr * O, 34);
    const ny = nbuf(native, Nr * O), ey = dev(Nr * O);
    native.linearForward(Nr, I, O, nbuf(native, x), nbuf(native, w), nbuf(native, b), ny);
    emu.linearForward(Nr, I, O, dev(x), dev(w), dev(b), ey);
    expectClose('linearForward', host(ey, Nr * O), ny.view(), 1e-5, 1e-6);
    const acc = randomData(O * I, 35), accb = randomData(O, 36);
    const ndx = nbuf(native, Nr * I), ndw = nbuf(native, acc), ndb = nbuf(native, accb);
    native.linearBackward(Nr, I, O, nbuf(native, x), nbuf(native, w), nbuf(native, dy), ndx, ndw, ndb);
    const edx = dev(Nr * I), edw = dev(acc), edb = dev(accb);
    emu.linearBackward(Nr, I, O, dev(x), dev(w), dev(dy), edx, edw, edb);
    expectClose('linearBackward dx', host(edx, Nr * I), ndx.view(), 1e-5, 1e-6);
    expectClose('linearBackward dw', host(edw, O * I), ndw.view(), 1e-5, 1e-6);
    expectClose('linearBackward db', host(edb, O), ndb.view(), 1e-5, 1e-6);

    const targets = Float32Array.from([0, 6, -1, 3, 2.5, 1]); // -1 and 2.5 are ignored rows
    const nd = nbuf(native, Nr * O), ed = dev(Nr * O);
    const nl = native.softmaxCrossEntropy(Nr, O, nbuf(native, dy), nbuf(native, targets), nd, 0.25);
    const el = emu.softmaxCrossEntropy(Nr, O, dev(dy), dev(targets), ed, 0.25);
    expect(el).toBeCloseTo(nl, 5);
    expectClose('softmax CE dlogits', host(ed, Nr * O), nd.view(), 1e-5, 1e-6);

    const ids = Float32Array.from([3, 0, 3, 8, 1, 3]), table = randomData(V * D, 37), dout = randomData(Nr * D, 38);
    const no = nbuf(native, Nr * D), eo = dev(Nr * D);
    native.embeddingForward(Nr, D, V, nbuf(native, ids), nbuf(native, table), no);
    emu.embeddingForward(Nr, D, V, dev(ids), dev(table), eo);
    expectClose('embeddingForward', host(eo, Nr * D), no.view(), 0, 0);
    const nt = nbuf(native, table), et = dev(table);
    native.embeddingBackward(Nr, D, V, nbuf(native, ids), nbuf(native, dout), nt);
    emu.embeddingBackward(Nr, D, V, dev(ids), dev(dout), et);
    expectClose('embeddingBackward', host(et, V * D), nt.view(), 1e-6, 1e-7);

    const n = 11, p = randomData(n, 41), g = randomData(n, 42), m = randomData(n, 43), v = randomData(n, 44).map(Math.abs);
    for (const decoupled of [false, true]) {
      const np = nbuf(native, p), nm = nbuf(native, m), nv = nbuf(native, v);
      native.adamStep(n, np, nbuf(native, g), nm, nv, 0.01, 0.9, 0.999, 1e-8, 0.1, decoupled, 3);
      const ep = dev(p), em = dev(m), ev = dev(v);
      emu.adamStep(n, ep, dev(g), em, ev, 0.01, 0.9, 0.999, 1e-8, 0.1, decoupled, 3);
      expectClose(`adam p (decoupled ${decoupled})`, host(ep, n), np.view(), 1e-6, 1e-7);
      expectClose('adam m', host(em, n), nm.view(), 1e-6, 1e-7);
      expectClose('adam v', host(ev, n), nv.view(), 1e-6, 1e-7);
    }
    for (const [nesterov, first] of [[false, true], [true, false]] as const) {
      const buf = randomData(n, 45);
      const np = nbuf(native, p), nb = nbuf(native, buf), ep = dev(p), eb = dev(buf);
      native.sgdStep(n, np, nbuf(native, g), nb, 0.1, 0.9, 0.01, nesterov, first);
      emu.sgdStep(n, ep, dev(g), eb, 0.1, 0.9, 0.01, nesterov, first);
      expectClose('sgd p', host(ep, n), np.view(), 1e-6, 1e-7);
      expectClose('sgd buf', host(eb, n), nb.view(), 1e-6, 1e-7);
    }
    const big = randomData(20000, 46);
    expect(emu.sumSquares(big.length, dev(big))).toBeCloseTo(native.sumSquares(big.length, nbuf(native, big)), 6);
    const s = dev(p);
    emu.scale(n, s, -2);
    expectClose('scale', host(s, n), p.map((a) => -2 * a), 0, 0);
  });
});

describe('the CUDA glue refuses what would write outside a device buffer', () => {
  it('a buffer too small for the call is E_SHAPE naming it; an unknown id is E_ARGUMENT', () => {
    const small = dev(3), ok = dev(100);
    const err = (fn: () => void) => { try { fn(); } catch (e) { return e as { code: string; message: string }; } throw new Error('no error'); };
    const e1 = err(() => emu.cellForward(0, 2, 2, 2, 2, 0, small, ok, 0, ok, ok, ok, ok, ok, ok, 0, 0));
    expect([e1.code, e1.message]).toEqual(['E_SHAPE', 'kernel buffer x: expected at least 8 floats, found 3']);
    const e2 = err(() => emu.download(987654, 0, new Float32Array(1)));
    expect(e2.code).toBe('E_ARGUMENT');
    const id = dev(4);
    emu.free(id);
    expect(err(() => emu.free(id)).code).toBe('E_ARGUMENT');
  });
});

// The real CUDA addon: CI compiles it (RNNKIT_CUDA=ON in .ci/run) and has no GPU; here it must load and say why
// it cannot run rather than crash. Where nvcc is missing it is not built, and the test says so.
const nvcc = (() => { try { execFileSync('nvcc', ['--version'], { stdio: 'ignore' }); return true; } catch { return false; } })();
describe.skipIf(!nvcc && !existsSync(cudaPath))('the CUDA addon built by nvcc', () => {
  it('loads without a GPU and names the reason it cannot run', () => {
    expect(existsSync(cudaPath), `${cudaPath} (nvcc is on the PATH, so npm run build:native must build it)`).toBe(true);
    const cuda = require(cudaPath) as CudaAddon;
    const r = cuda.open('fp32');
    if (r.ok) {
      expect(r.details).toMatch(/sm_\d+/); // a machine with a GPU
    } else {
      expect(r.reason).toMatch(/driver|device|cuBLAS/i);
      expect(() => cuda.alloc(1)).toThrow(/cuda backend not available/);
    }
  });
});
