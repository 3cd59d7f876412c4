#!/usr/bin/env node
// The bundled models' outputs on one backend, as one JSON line, for comparing two builds of it (the x64 and the
// arm64 addon, scripts/arm64-vectors.sh): shapes the PyTorch vectors are too small for. models/names is a
// 2-layer LSTM of 256 (batch-1 steps: the one-row kernels, 86 panels of 12 on arm64); evaluate() on Moby Dick
// runs batches of 8 x 64 steps (input projections of 512 rows, depth blocks, 8-row tiles in every step).
//   node tools/model-outputs.mjs --backend native|wasm          prints the outputs
//   node tools/model-outputs.mjs --compare a.json b.json        exits 1 unless they agree within 1e-4 relative
import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';

const { values: opts, positionals } = parseArgs({
  options: { backend: { type: 'string' }, compare: { type: 'boolean' } },
  allowPositionals: true,
});

if (opts.compare) {
  const [a, b] = positionals.map((f) => JSON.parse(readFileSync(f, 'utf8')));
  const bad = [];
  const close = (x, y) => Math.abs(x - y) <= 1e-6 + 1e-4 * Math.abs(y);
  for (const [prefix, top] of Object.entries(b.names)) {
    const mine = a.names[prefix] ?? [];
    top.forEach((t, i) => {
      if (mine[i]?.token !== t.token || !close(mine[i].probability, t.probability)) {
        bad.push(`names "${prefix}" #${i + 1}: ${JSON.stringify(mine[i])}, expected ${JSON.stringify(t)}`);
      }
    });
  }
  if (!close(a.mobyLoss, b.mobyLoss)) bad.push(`moby-dick loss ${a.mobyLoss}, expected ${b.mobyLoss}`);
  // Sums of many terms: relative to the sum of squares' scale, as a single element would be.
  for (const [name, want] of Object.entries(b.lstm)) {
    const got = a.lstm[name];
    const scale = Math.sqrt(want.sq);
    if (!got || Math.abs(got.sum - want.sum) > 1e-4 * scale + 1e-6 || !close(got.sq, want.sq)) {
      bad.push(`lstm ${name}: sum ${got?.sum} and sum of squares ${got?.sq}, expected ${want.sum} and ${want.sq}`);
    }
    const i = want.sample.findIndex((v, k) => !(Math.abs(got?.sample[k] - v) <= 1e-5 + 1e-4 * Math.abs(v)));
    if (i >= 0) bad.push(`lstm ${name}: element ${i * 97} is ${got?.sample[i]}, expected ${want.sample[i]}`);
  }
  console.log(`${a.backend}\nagainst ${b.backend}:`);
  console.log(bad.length ? `model outputs differ:\n  ${bad.join('\n  ')}`
    : `model outputs agree: ${Object.keys(b.names).length} name prefixes (top 5 each), Moby Dick loss ` +
      `${b.mobyLoss.toFixed(6)}, LSTM 520 forward and backward (${Object.keys(b.lstm).length} results)`);
  process.exit(bad.length ? 1 : 0);
}

if (!opts.backend) {
  console.error('usage: node tools/model-outputs.mjs --backend <name> | --compare <a.json> <b.json>');
  process.exit(2);
}
const { LanguageModel, LSTM, loadBackend, tensor } = await import('../dist/index.js');
const models = new URL('../models/', import.meta.url);
const names = await LanguageModel.load(new URL('names.safetensors', models).pathname, { backend: opts.backend });
const moby = await LanguageModel.load(new URL('moby-dick.safetensors', models).pathname, { backend: opts.backend });
const out = { backend: `${loadBackend(opts.backend).details} on ${process.arch}`, names: {}, mobyLoss: 0 };
for (const prefix of ['Joh', 'Mar', 'Alexandr', 'Q']) out.names[prefix] = names.predictNext(prefix, 5);
// A fixed text: 8 sequences of 64 characters in one batch.
const text = 'Call me Ishmael. Some years ago, never mind how long precisely, having little or no money in my purse, '
  + 'and nothing particular to interest me on shore, I thought I would sail about a little and see the watery part '
  + 'of the world. It is a way I have of driving off the spleen and regulating the circulation. Whenever I find '
  + 'myself growing grim about the mouth; whenever it is a damp, drizzly November in my soul; whenever I find '
  + 'myself involuntarily pausing before coffin warehouses, and bringing up the rear of every funeral I meet.';
out.mobyLoss = moby.evaluate(text, { seqLen: 64, batchSize: 8 }).loss;

// Training shapes: an LSTM of 520 (seeded, so the same weights everywhere), T 20 x B 16 x I 64, forward and
// backward. Its GEMMs go past every blocking edge: recurrent depth 520 > 512 (KCP), weight gradients of 2080
// rows (MC blocks) over depth T*B = 320 > 256 (KC). Each result as its sum, sum of squares and every 97th element.
const lstm = new LSTM({ inputSize: 64, hiddenSize: 520, seed: 7, backend: opts.backend });
const wave = (shape, f) => tensor(Float32Array.from({ length: shape.reduce((a, b) => a * b) }, (_, i) => Math.sin(i * f) * 0.8), shape);
const y = lstm.forward(wave([20, 16, 64], 0.37));
const g = lstm.backward({ dOutput: wave([20, 16, 520], 0.11), dhN: wave([1, 16, 520], 0.05) });
const summary = (d) => {
  let sum = 0, sq = 0;
  for (const v of d) { sum += v; sq += v * v; }
  return { sum, sq, sample: Array.from(d.filter((_, i) => i % 97 === 0)) };
};
out.lstm = { output: summary(y.output.data), dInput: summary(g.dInput.data) };
for (const [name, t] of Object.entries(lstm.grads())) out.lstm[name] = summary(t.data);
console.log(JSON.stringify(out));
