// Inference (W1, W2) and training-step (W3) benchmarks on every backend that loads, measured side by side in one run with tinybench.
// usage: npm run bench [-- W1 W2-lstm ...] [--time ms]
import os from 'node:os';
import { Bench } from 'tinybench';
import { loadBackend, BACKEND_NAMES } from '../dist/index.js';
import { WORKLOADS, TRAINING_WORKLOADS, forwardFlops, trainingFlops, inferenceRunner, trainingRunner } from './workloads.js';

const args = process.argv.slice(2);
const timeIdx = args.indexOf('--time');
const time = timeIdx >= 0 ? Number(args[timeIdx + 1]) : 2000;
const names = args.filter((a, i) => !a.startsWith('--') && args[i - 1] !== '--time');
const selected = names.length ? names : [...Object.keys(WORKLOADS), ...Object.keys(TRAINING_WORKLOADS)];

const backends = [];
for (const name of BACKEND_NAMES) {
  try { backends.push(loadBackend(name)); } catch (e) { console.log(`${name}: skipped (${e.message})`); }
}
console.log(`machine: ${os.cpus()[0]?.model ?? 'unknown CPU'}, ${os.cpus().length} cores, Node ${process.version}`);
for (const b of backends) console.log(`${b.name}: ${b.details}`);

const rows = [];
for (const wname of selected) {
  const training = TRAINING_WORKLOADS[wname];
  const w = training ?? WORKLOADS[wname];
  if (!w) throw new Error(`unknown workload ${wname}; known: ${[...Object.keys(WORKLOADS), ...Object.keys(TRAINING_WORKLOADS)].join(', ')}`);
  const flops = training ? trainingFlops(w) : forwardFlops(w);
  const bench = new Bench({ time, warmupTime: 300 });
  const runners = {};
  for (const b of backends) {
    const r = training ? trainingRunner(w, b.name) : inferenceRunner(w, b.name);
    r.run(); // warm-up outside the clock too (V8 tiers WASM up, buffers are allocated)
    runners[b.name] = r;
    bench.add(`${wname} ${b.name}`, () => { r.run(); });
  }
  await bench.run();
  const base = {};
  for (const t of bench.tasks) {
    const backend = t.name.split(' ')[1];
    const ms = t.result.latency.p50;
    base[backend] = ms;
    const row = { workload: wname, backend, 'median ms': ms.toFixed(3), 'GFLOP/s': (flops / ms / 1e6).toFixed(1) };
    if (training) row['tokens/s'] = Math.round((w.steps * w.batch * 1000) / ms);
    rows.push(row);
  }
  if (base.native && base.wasm) rows.push({ workload: wname, backend: 'wasm/native', 'median ms': (base.wasm / base.native).toFixed(2) + 'x' });
  for (const r of Object.values(runners)) r.dispose();
}
console.table(rows);
