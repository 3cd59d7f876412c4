// Inference (W1, W2) and training-step (W3) benchmarks on every backend that loads, measured side by side in one run with tinybench.
// usage: npm run bench [-- W1 W2 W2-lstm ...] [--time ms]
// The workloads, their runners and their names are those of `rnnkit bench` (src/cli/workloads.ts, built into dist/);
// only the timing (tinybench here, a median loop there) differs.
import os from 'node:os';
import { Bench } from 'tinybench';
import { loadBackend, BACKEND_NAMES } from '../dist/index.js';
import { selectBenchmarks } from '../dist/cli/workloads.js';

const args = process.argv.slice(2);
const timeIdx = args.indexOf('--time');
const time = timeIdx >= 0 ? Number(args[timeIdx + 1]) : 2000;
let selected;
try {
  selected = selectBenchmarks(args.filter((a, i) => !a.startsWith('--') && args[i - 1] !== '--time'), 'bench/run.js');
} catch (e) {
  console.error(`bench/run.js: ${e.message}`); // an unknown workload: the known ones, no stack trace
  process.exit(2);
}

const backends = [];
for (const name of BACKEND_NAMES) {
  try { backends.push(loadBackend(name)); } catch (e) { console.log(`${name}: skipped (${e.message})`); }
}
console.log(`machine: ${os.cpus()[0]?.model ?? 'unknown CPU'}, ${os.cpus().length} cores, Node ${process.version}`);
for (const b of backends) console.log(`${b.name}: ${b.details}`);

const rows = [];
for (const w of selected) {
  const bench = new Bench({ time, warmupTime: 300 });
  const runners = {};
  for (const b of backends) {
    const r = w.runner(b.name);
    r.run(); // warm-up outside the clock too (V8 tiers WASM up, buffers are allocated)
    runners[b.name] = r;
    bench.add(`${w.name} ${b.name}`, () => { r.run(); });
  }
  await bench.run();
  const base = {};
  for (const t of bench.tasks) {
    const backend = t.name.split(' ')[1];
    const ms = t.result.latency.p50;
    base[backend] = ms;
    const row = { workload: w.name, backend, 'median ms': ms.toFixed(3), 'GFLOP/s': (w.flops / ms / 1e6).toFixed(1) };
    if (w.tokens !== null) row['tokens/s'] = Math.round((w.tokens * 1000) / ms);
    rows.push(row);
  }
  if (base.native && base.wasm) rows.push({ workload: w.name, backend: 'wasm/native', 'median ms': (base.wasm / base.native).toFixed(2) + 'x' });
  for (const r of Object.values(runners)) r.dispose();
}
console.table(rows);
