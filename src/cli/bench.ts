// `rnnkit bench`: the standard workloads (W1, W2, W3) on the backends that load here, timed side by side,
// with a progress line on stderr and a table (or JSON) on stdout. For peers, see bench/peers in the repository.
import { BACKEND_NAMES, loadBackend, type BackendName } from '../backend/index.js';
import { option, type Args, type Command } from './args.js';
import { selectBenchmarks, type Runner } from './workloads.js';

export const BENCH: Command = {
  name: 'bench',
  usage: 'rnnkit bench [W1 W2 W2-lstm W2-gru W2-rnn W3 W4 W5] [--backend native|wasm|cuda] [--time <ms>]',
  summary: 'Times the standard workloads (DESIGN.md: W1 streaming LSTM inference, W2 batched LSTM/GRU/RNN ' +
    'inference, W3 a character-model training step) on every backend that loads, and prints medians.',
  maxPositionals: 6,
  options: {
    backend: option('<name>', 'only this backend (native, wasm or cuda)'),
    time: option('<ms>', 'time budget per workload and backend (default 2000)'),
  },
  run: runBench,
};

interface Row { workload: string; backend: BackendName; medianMs: number; runs: number; gflops: number }

const nextTick = () => new Promise<void>((r) => setImmediate(r));

async function time(runner: Runner, budgetMs: number): Promise<{ median: number; runs: number }> {
  runner.run(); // warm-up: V8 tiers WASM up, buffers are allocated
  runner.run();
  const samples: number[] = [];
  const end = performance.now() + budgetMs;
  while ((performance.now() < end || samples.length < 5) && samples.length < 10000) {
    const t0 = performance.now();
    runner.run();
    samples.push(performance.now() - t0);
    await nextTick(); // keep the event loop (and Ctrl-C) responsive between runs
  }
  samples.sort((a, b) => a - b);
  return { median: samples[Math.floor(samples.length / 2)]!, runs: samples.length };
}

async function runBench(a: Args): Promise<number> {
  const benchmarks = selectBenchmarks(a.positionals);
  const only = a.choice('backend', BACKEND_NAMES as BackendName[]);
  const budget = a.int('time', 50, 600000) ?? 2000;
  const backends = (only ? [only] : [...BACKEND_NAMES]).filter((b) => {
    try { loadBackend(b); return true; } catch (e) {
      if (only) throw e;
      process.stderr.write(`rnnkit bench: ${b} skipped (${(e as Error).message})\n`);
      return false;
    }
  });
  const rows: Row[] = [];
  const total = benchmarks.length * backends.length;
  for (const w of benchmarks) {
    for (const b of backends) {
      const line = `rnnkit bench: ${rows.length + 1}/${total} ${w.name} on ${b}...`;
      process.stderr.write(process.stderr.isTTY ? `\r${line.padEnd(60)}` : `${line}\n`);
      const runner = w.runner(b);
      try {
        const r = await time(runner, budget);
        rows.push({ workload: w.name, backend: b, medianMs: r.median, runs: r.runs, gflops: w.flops / r.median / 1e6 });
      } finally {
        runner.dispose();
      }
    }
  }
  if (process.stderr.isTTY) process.stderr.write('\r' + ' '.repeat(60) + '\r');
  if (a.flag('json')) {
    const details = Object.fromEntries(backends.map((b) => [b, loadBackend(b).details]));
    process.stdout.write(JSON.stringify({ backends: details, rows }, null, 2) + '\n');
    return 0;
  }
  for (const b of backends) process.stdout.write(`${b}: ${loadBackend(b).details}\n`);
  process.stdout.write(`${'workload'.padEnd(10)}${'backend'.padEnd(9)}${'median ms'.padStart(11)}${'GFLOP/s'.padStart(9)}${'runs'.padStart(7)}${'vs native'.padStart(11)}\n`);
  for (const r of rows) {
    const native = rows.find((x) => x.workload === r.workload && x.backend === 'native');
    const ratio = native ? `${(r.medianMs / native.medianMs).toFixed(2)}x` : '';
    process.stdout.write(`${r.workload.padEnd(10)}${r.backend.padEnd(9)}${r.medianMs.toFixed(3).padStart(11)}${r.gflops.toFixed(1).padStart(9)}${String(r.runs).padStart(7)}${ratio.padStart(11)}\n`);
  }
  return 0;
}
