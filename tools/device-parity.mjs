#!/usr/bin/env node
// Training on the cuda backend against native, on a real GPU (tools/device-run.sh; the tests do the same with the
// host emulation, test/cuda-backend.test.ts): the same language model (2 GRU layers, dropout) and regressor
// (2 LSTM layers) trained side by side from the same seed; their loss curves and gradient norms must agree to
// a relative 1e-4 (fp32: cuBLAS sums in another order than the CPU kernels), or, under RNNKIT_CUDA_PRECISION,
// 1e-2 (tf32) or 5e-2 (bf16: GEMM operands with 8 significant bits; a few training steps compound it). Prints
// both curves and the largest differences; exits 1 on a disagreement or when a backend does not load. Needs a
// built dist/.
//   node tools/device-parity.mjs
const { LanguageModel, SequenceRegressor } = await import('../dist/index.js');
const { loadBackend } = await import('../dist/backend/index.js');

for (const b of ['native', 'cuda']) {
  try { console.log(`${b}: ${loadBackend(b).details}`); } catch (e) { console.error(`${b} does not load: ${e.message}`); process.exit(1); }
}
const text = 'the cat sat on the mat. the dog sat on the log. a cat and a dog. '.repeat(12);
const series = Array.from({ length: 200 }, (_, t) => 10 + 3 * Math.sin(t / 2) + Math.cos(t / 7));
const runs = {
  'language model, 2 GRU layers, dropout 0.25': async (backend) => {
    const m = new LanguageModel({ hiddenSize: 64, embeddingDim: 16, numLayers: 2, cell: 'gru', dropout: 0.25, seed: 7, backend });
    const r = await m.fit(text, { seqLen: 16, batchSize: 8, maxSteps: 20, lr: 1e-2, worker: false, progressIntervalMs: 0 });
    m.dispose();
    return { losses: r.history.map((h) => h.loss), norms: r.gradNorms.map((g) => g.norm) };
  },
  'regressor, 2 LSTM layers': async (backend) => {
    const m = new SequenceRegressor({ hiddenSize: 32, window: 24, numLayers: 2, seed: 3, backend });
    const r = await m.fit(series, { batchSize: 16, epochs: 2, worker: false, progressIntervalMs: 0 });
    m.dispose();
    return { losses: r.history.map((h) => h.loss), norms: r.gradNorms.map((g) => g.norm) };
  },
};
let failed = 0;
const rel = (a, b) => Math.abs(a - b) / Math.max(Math.abs(b), 1e-6);
const precision = (process.env.RNNKIT_CUDA_PRECISION || 'fp32').toLowerCase();
const TOLERANCE = { fp32: 1e-4, tf32: 1e-2, bf16: 5e-2 }[precision];
if (TOLERANCE === undefined) { console.error(`RNNKIT_CUDA_PRECISION=${precision}: expected fp32, tf32 or bf16`); process.exit(1); }
console.log(`precision ${precision}: tolerance ${TOLERANCE} relative`);
for (const [name, run] of Object.entries(runs)) {
  const n = await run('native'), c = await run('cuda');
  for (const k of ['losses', 'norms']) {
    const worst = n[k].length === c[k].length ? Math.max(0, ...n[k].map((v, i) => rel(c[k][i], v))) : Infinity;
    const ok = worst <= TOLERANCE;
    if (!ok) failed++;
    console.log(`${ok ? 'ok  ' : 'FAIL'} ${name}: ${k} (${n[k].length}) largest relative difference ${worst.toExponential(2)}`);
    console.log(`     native ${n[k].map((v) => v.toFixed(5)).join(' ')}\n     cuda   ${c[k].map((v) => v.toFixed(5)).join(' ')}`);
  }
}
console.log(`${4 - failed} passed, ${failed} failed`);
process.exit(failed ? 1 : 0);
