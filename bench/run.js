// Inference (W1, W2) and training-step (W3) benchmarks on every backend that loads, measured side by side in one run with tinybench.
// usage: npm run bench [-- W1 W2-lstm ...] [--time ms]
import os from 'node:os';
import { Bench } from 'tinybench';
import { GRU, LSTM, RNN, tensor, loadBackend, BACKEND_NAMES, Embedding, Linear, CrossEntropyLoss, Adam, clipGradNorm } from '../dist/index.js';
import { WORKLOADS, TRAINING_WORKLOADS, forwardFlops, trainingFlops } from './workloads.js';

const args = process.argv.slice(2);
const timeIdx = args.indexOf('--time');
const time = timeIdx >= 0 ? Number(args[timeIdx + 1]) : 2000;
const names = args.filter((a, i) => !a.startsWith('--') && args[i - 1] !== '--time');
const selected = names.length ? names : [...Object.keys(WORKLOADS), ...Object.keys(TRAINING_WORKLOADS)];

function layerFor(w, backend) {
  const opts = { inputSize: w.inputSize, hiddenSize: w.hiddenSize, backend, seed: 1 };
  const m = w.kind === 'lstm' ? new LSTM(opts) : w.kind === 'gru' ? new GRU(opts) : new RNN(opts);
  return m.eval();
}

const backends = [];
for (const name of BACKEND_NAMES) {
  try { backends.push(loadBackend(name)); } catch (e) { console.log(`${name}: skipped (${e.message})`); }
}
console.log(`machine: ${os.cpus()[0]?.model ?? 'unknown CPU'}, ${os.cpus().length} cores, Node ${process.version}`);
for (const b of backends) console.log(`${b.name}: ${b.details}`);

const rows = [];
/** One W3 step: embedding -> LSTM -> linear -> cross-entropy, backward through all, clip, Adam. */
function trainingStep(w, backend) {
  const emb = new Embedding({ numEmbeddings: w.vocab, embeddingDim: w.embedding, backend, seed: 1 });
  const lstm = new LSTM({ inputSize: w.embedding, hiddenSize: w.hiddenSize, backend, seed: 2 });
  const dec = new Linear({ inFeatures: w.hiddenSize, outFeatures: w.vocab, backend, seed: 3 });
  const be = loadBackend(backend);
  const ce = new CrossEntropyLoss(be);
  const params = [...emb.parameters(), ...lstm.parameters(), ...dec.parameters()];
  const opt = new Adam(params, be, { lr: 2e-3 });
  const n = w.steps * w.batch;
  const ids = Int32Array.from({ length: n }, (_, i) => (i * 7) % w.vocab);
  const targets = Int32Array.from({ length: n }, (_, i) => (i * 7 + 1) % w.vocab);
  const step = () => {
    const x = emb.forward({ data: ids, shape: [w.steps, w.batch] });
    const r = lstm.forward(x);
    const logits = dec.forward(tensor(r.output.data, [n, w.hiddenSize]));
    const loss = ce.compute(logits, targets);
    const dOut = dec.backward(loss.grad);
    const g = lstm.backward({ dOutput: tensor(dOut.data, [w.steps, w.batch, w.hiddenSize]) });
    emb.backward(g.dInput);
    clipGradNorm(params, be, 5);
    opt.step();
    opt.zeroGrad();
    return loss.loss;
  };
  return { step, dispose: () => { emb.dispose(); lstm.dispose(); dec.dispose(); ce.dispose(); } };
}

for (const wname of selected) {
  if (TRAINING_WORKLOADS[wname]) {
    const w = TRAINING_WORKLOADS[wname];
    const bench = new Bench({ time, warmupTime: 300 });
    const runs = {};
    for (const b of backends) {
      runs[b.name] = trainingStep(w, b.name);
      runs[b.name].step();
      bench.add(`${wname} ${b.name}`, () => { runs[b.name].step(); });
    }
    await bench.run();
    const base = {};
    for (const t of bench.tasks) {
      const backend = t.name.split(' ')[1];
      const ms = t.result.latency.p50;
      base[backend] = ms;
      rows.push({ workload: wname, backend, 'median ms': ms.toFixed(3), 'GFLOP/s': (trainingFlops(w) / ms / 1e6).toFixed(1), 'tokens/s': Math.round((w.steps * w.batch * 1000) / ms) });
    }
    if (base.native && base.wasm) rows.push({ workload: wname, backend: 'wasm/native', 'median ms': (base.wasm / base.native).toFixed(2) + 'x' });
    for (const r of Object.values(runs)) r.dispose();
    continue;
  }
  const w = WORKLOADS[wname];
  if (!w) throw new Error(`unknown workload ${wname}; known: ${[...Object.keys(WORKLOADS), ...Object.keys(TRAINING_WORKLOADS)].join(', ')}`);
  const x = new Float32Array(w.steps * w.batch * w.inputSize);
  for (let i = 0; i < x.length; i++) x[i] = Math.sin(i * 0.37);
  const input = tensor(x, [w.steps, w.batch, w.inputSize]);
  const bench = new Bench({ time, warmupTime: 300 });
  const layers = {};
  for (const b of backends) {
    const m = layerFor(w, b.name);
    m.forward(input); // warm-up outside the clock too (V8 tiers WASM up)
    layers[b.name] = m;
    bench.add(`${wname} ${b.name}`, () => { m.forward(input); });
  }
  await bench.run();
  const base = {};
  for (const t of bench.tasks) {
    const backend = t.name.split(' ')[1];
    const ms = t.result.latency.p50;
    base[backend] = ms;
    rows.push({ workload: wname, backend, 'median ms': ms.toFixed(3), 'GFLOP/s': (forwardFlops(w) / ms / 1e6).toFixed(1), samples: t.result.latency.samplesCount ?? t.result.latency.samples?.length });
  }
  if (base.native && base.wasm) rows.push({ workload: wname, backend: 'wasm/native', 'median ms': (base.wasm / base.native).toFixed(2) + 'x' });
  for (const m of Object.values(layers)) m.dispose();
}
console.table(rows);
