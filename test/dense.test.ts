// The dense training operations (Linear, cross-entropy, Embedding, optimizers, clipping) against PyTorch
// (tools/make-dense-vectors.py), on every backend.
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { loadBackend } from '../src/backend/index.js';
import { Embedding } from '../src/nn/embedding.js';
import { Linear } from '../src/nn/linear.js';
import { newParameter } from '../src/nn/module.js';
import { CrossEntropyLoss } from '../src/train/losses.js';
import { Adam, AdamW, clipGradNorm, SGD, type Optimizer } from '../src/train/optim.js';
import { BACKENDS, expectClose, toTensor, type JsonTensor } from './helpers.js';

const V = JSON.parse(readFileSync(new URL('./vectors-dense/dense.json', import.meta.url), 'utf8'));
const F = [1e-5, 1e-6] as const;

describe.each(BACKENDS)('dense operations on the %s backend', (backend) => {
  const be = loadBackend(backend);

  it('Linear forward and backward match PyTorch', () => {
    const c = V.linear;
    const lin = new Linear({ inFeatures: c.I, outFeatures: c.O, backend });
    lin.loadStateDict({ weight: toTensor(c.w), bias: toTensor(c.b) });
    const y = lin.forward(toTensor(c.x));
    expectClose('y', y.data, c.y.data, ...F);
    const dx = lin.backward(toTensor(c.dy));
    expectClose('dx', dx.data, c.dx.data, ...F);
    const g = lin.grads();
    expectClose('dw', g.weight!.data, c.dw.data, ...F);
    expectClose('db', g.bias!.data, c.db.data, ...F);
    lin.backward(toTensor(c.dy));
    expectClose('dw accumulates', lin.grads().weight!.data, c.dw.data.map((v: number) => 2 * v), ...F);
    lin.dispose();
  });

  it('cross-entropy matches PyTorch, ignoring target -1', () => {
    const c = V.crossEntropy;
    const ce = new CrossEntropyLoss(be);
    const r = ce.compute(toTensor(c.logits), c.targets);
    expect(r.count).toBe(5);
    expect(r.loss).toBeCloseTo(c.loss, 5);
    expectClose('dlogits', r.grad.data, c.dlogits.data, ...F);
    ce.dispose();
  });

  it('cross-entropy gives a masked logit (-inf) and one under exp\'s range an exactly zero gradient', () => {
    // (the vector exp clamps its input at -87: without the mask these came out as ~1e-38)
    const z = be.alloc(6), t = be.alloc(2), d = be.alloc(6);
    be.write(z, Float32Array.from([0, -Infinity, 1, 0, -88, -90]));
    be.write(t, Float32Array.from([2, 0]));
    const loss = be.softmaxCrossEntropy(2, 3, z, t, d, 1);
    const ref = Math.log(1 + Math.E) - 1 + Math.log(1 + Math.exp(-88) + Math.exp(-90));
    expect(loss).toBeCloseTo(ref, 7);
    const g = be.read(d);
    expect([g[1], g[4], g[5]]).toEqual([0, 0, 0]);
    expect(g[0]).toBeCloseTo(1 / (1 + Math.E), 6);
    for (const b of [z, t, d]) be.free(b);
  });

  // Sizes large enough that the native backend splits the work over its threads (rows, elements).
  it('cross-entropy on 4096 rows matches a float64 reference computed here', () => {
    const N = 4096, C = 65;
    const logits = Float32Array.from({ length: N * C }, (_, i) => Math.sin(i * 0.7) * 6);
    const targets = Float32Array.from({ length: N }, (_, n) => (n % 97 === 0 ? -1 : (n * 31) % C));
    const lb = be.alloc(N * C), tb = be.alloc(N), db = be.alloc(N * C);
    lb.view().set(logits);
    tb.view().set(targets);
    const count = targets.filter((t) => t >= 0).length;
    const loss = be.softmaxCrossEntropy(N, C, lb, tb, db, 1 / count);
    let ref = 0;
    const dref = new Float64Array(N * C);
    for (let n = 0; n < N; n++) {
      if (targets[n]! < 0) continue;
      const z = logits.subarray(n * C, (n + 1) * C);
      const mx = Math.max(...z);
      const sum = z.reduce((a, v) => a + Math.exp(v - mx), 0);
      ref += Math.log(sum) + mx - z[targets[n]!]!;
      for (let c = 0; c < C; c++) dref[n * C + c] = (Math.exp(z[c]! - mx) / sum - (c === targets[n] ? 1 : 0)) / count;
    }
    expect(Math.abs(loss - ref) / ref).toBeLessThan(1e-6);
    expectClose('dlogits', db.view(), Array.from(dref), ...F);
    for (const b of [lb, tb, db]) be.free(b);
  });

  it.each([false, true])('Adam (decoupled %s) on 100003 parameters matches a float64 reference computed here', (decoupled) => {
    const n = 100003, lr = 1e-2, b1 = 0.9, b2 = 0.999, eps = 1e-8, wd = 0.1;
    const p0 = Float32Array.from({ length: n }, (_, i) => Math.cos(i * 0.3));
    const bufs = [be.alloc(n), be.alloc(n), be.alloc(n), be.alloc(n)] as const;
    const [p, g, m, v] = bufs;
    p.view().set(p0);
    const rp = Float64Array.from(p0), rm = new Float64Array(n), rv = new Float64Array(n);
    for (let step = 1; step <= 3; step++) {
      const grad = Float32Array.from({ length: n }, (_, i) => Math.sin(i * 0.11 + step));
      g.view().set(grad);
      be.adamStep(n, p, g, m, v, lr, b1, b2, eps, wd, decoupled, step);
      for (let i = 0; i < n; i++) {
        let gi = grad[i]!;
        if (decoupled) rp[i] -= lr * wd * rp[i]!;
        else gi += wd * rp[i]!;
        rm[i] = b1 * rm[i]! + (1 - b1) * gi;
        rv[i] = b2 * rv[i]! + (1 - b2) * gi * gi;
        rp[i] -= (lr / (1 - b1 ** step)) * rm[i]! / (Math.sqrt(rv[i]! / (1 - b2 ** step)) + eps);
      }
    }
    expectClose('p', p.view(), Array.from(rp), ...F);
    for (const b of bufs) be.free(b);
  });

  it.each([
    [0, 0, false], [0, 0.01, false], [0.9, 0, false], [0.9, 0.01, false], [0.9, 0.01, true],
  ])('SGD (momentum %s, weight decay %s, Nesterov %s) on 100003 parameters matches a float64 reference', (mom, wd, nesterov) => {
    const n = 100003, lr = 0.1;
    const p0 = Float32Array.from({ length: n }, (_, i) => Math.cos(i * 0.3));
    const bufs = [be.alloc(n), be.alloc(n), be.alloc(n)] as const;
    const [p, g, buf] = bufs;
    p.view().set(p0);
    const rp = Float64Array.from(p0), rb = new Float64Array(n);
    for (let step = 0; step < 3; step++) {
      const grad = Float32Array.from({ length: n }, (_, i) => Math.sin(i * 0.11 + step));
      g.view().set(grad);
      be.sgdStep(n, p, g, buf, lr, mom, wd, nesterov, step === 0);
      for (let i = 0; i < n; i++) {
        let gi = grad[i]! + wd * rp[i]!;
        if (mom !== 0) {
          rb[i] = step === 0 ? gi : mom * rb[i]! + gi;
          gi = nesterov ? gi + mom * rb[i]! : rb[i]!;
        }
        rp[i] -= lr * gi;
      }
    }
    expectClose('p', p.view(), Array.from(rp), ...F);
    if (mom !== 0) expectClose('buf', buf.view(), Array.from(rb), ...F);
    for (const b of bufs) be.free(b);
  });

  it('the optimizer steps refuse one buffer in two roles (E_ARGUMENT), except an SGD buffer momentum does not use', () => {
    const [a, b, c, d] = [be.alloc(8), be.alloc(8), be.alloc(8), be.alloc(8)];
    const code = (f: () => void) => { try { f(); return ''; } catch (e) { return `${(e as { code: string }).code}: ${(e as Error).message}`; } };
    expect(code(() => be.adamStep(8, a, a, c, d, 0.1, 0.9, 0.999, 1e-8, 0, false, 1))).toBe('E_ARGUMENT: adamStep: p must be a different buffer from g');
    expect(code(() => be.adamStep(8, a, b, c, c, 0.1, 0.9, 0.999, 1e-8, 0, false, 1))).toBe('E_ARGUMENT: adamStep: m must be a different buffer from v');
    expect(code(() => be.sgdStep(8, a, a, c, 0.1, 0, 0, false, false))).toBe('E_ARGUMENT: sgdStep: p must be a different buffer from g');
    expect(code(() => be.sgdStep(8, a, b, b, 0.1, 0.9, 0, false, false))).toBe('E_ARGUMENT: sgdStep: g must be a different buffer from buf');
    expect(code(() => be.sgdStep(8, a, b, a, 0.1, 0, 0, false, false))).toBe(''); // weight averaging's use (train/trainer.ts)
    for (const x of [a, b, c, d]) be.free(x);
  });

  it('Embedding forward and backward match PyTorch with repeated ids', () => {
    const c = V.embedding;
    const emb = new Embedding({ numEmbeddings: c.V, embeddingDim: c.D, backend });
    emb.loadStateDict({ weight: toTensor(c.table) });
    const out = emb.forward(c.ids);
    expect(out.shape).toEqual([2, 3, c.D]);
    expectClose('out', out.data, c.out.data.map(Math.fround), 0, 0); // a gather is exact
    emb.backward(toTensor(c.dout));
    expectClose('dtable', emb.grads().weight!.data, c.dtable.data, ...F);
    emb.dispose();
  });

  it('Embedding rejects an id outside the vocabulary', () => {
    const emb = new Embedding({ numEmbeddings: 5, embeddingDim: 2, backend });
    expect(() => emb.forward({ data: [1, 5], shape: [2] })).toThrow(/element 1 is 5; expected an integer in \[0, 5\)/);
  });

  const makers: Record<string, (ps: ReturnType<typeof newParameter>[]) => Optimizer> = {
    sgd: (ps) => new SGD(ps, be, { lr: 0.1 }),
    sgd_momentum_wd: (ps) => new SGD(ps, be, { lr: 0.1, momentum: 0.9, weightDecay: 0.01 }),
    sgd_nesterov: (ps) => new SGD(ps, be, { lr: 0.1, momentum: 0.9, nesterov: true }),
    adam: (ps) => new Adam(ps, be, { lr: 0.01 }),
    adam_wd: (ps) => new Adam(ps, be, { lr: 0.01, weightDecay: 0.1, betas: [0.8, 0.99], eps: 1e-6 }),
    adamw: (ps) => new AdamW(ps, be, { lr: 0.01, weightDecay: 0.1 }),
  };
  it.each(V.optimizers.map((o: { name: string }) => o.name))('%s: three steps match PyTorch', (name) => {
    const c = V.optimizers.find((o: { name: string }) => o.name === name);
    const p = newParameter(be, 'p', [c.p0.data.length]);
    p.value.view().set(c.p0.data);
    const opt = makers[name]!([p]);
    for (const g of c.grads as JsonTensor[]) {
      p.grad.view().set(g.data);
      opt.step();
    }
    expectClose(name, p.value.view(), c.p.data, 1e-5, 1e-6);
  });

  it('clipGradNorm matches torch.nn.utils.clip_grad_norm_', () => {
    const c = V.clip;
    const ps = (c.grads as JsonTensor[]).map((g, i) => {
      const p = newParameter(be, `p${i}`, g.shape);
      p.grad.view().set(g.data);
      return p;
    });
    const norm = clipGradNorm(ps, be, c.maxNorm);
    expect(norm).toBeCloseTo(c.norm, 5);
    ps.forEach((p, i) => expectClose(`clipped ${i}`, p.grad.view(), c.clipped[i].data, 1e-5, 1e-6));
  });

});
