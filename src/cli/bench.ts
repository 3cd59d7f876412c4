// `rnnkit bench`: the standard workloads (W1, W2, W3) on the backends that load here, timed side by side,
// with a progress line on stderr and a table (or JSON) on stdout. For peers, see bench/peers in the repository.
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { BACKEND_NAMES, loadBackend, type BackendName } from '../backend/index.js';
import { option, UsageError, type Args, type Command } from './args.js';
import { selectBenchmarks, type Runner } from './workloads.js';

export const BENCH: Command = {
  name: 'bench',
  usage: 'rnnkit bench [W1 W2 W2-lstm W2-gru W2-rnn W3 W4 W5] [--backend native|wasm|cuda] [--time <ms>] [--threads 1,2,4]',
  summary: 'Times the standard workloads (DESIGN.md: W1 streaming LSTM inference, W2 batched LSTM/GRU/RNN ' +
    'inference, W3 a character-model training step) on every backend that loads, and prints medians.',
  maxPositionals: 6,
  options: {
    backend: option('<name>', 'only this backend (native, wasm or cuda)'),
    time: option('<ms>', 'time budget per workload and backend (default 2000)'),
    threads: option('<n,n,...>', 'a sweep: each workload again at each thread count (RNNKIT_THREADS and RNNKIT_WASM_THREADS), one child process per count'),
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

/** The thread counts of --threads: distinct integers 1..256, in the order given. */
function threadCounts(a: Args): number[] | undefined {
  const raw = a.str('threads');
  if (raw === undefined) return undefined;
  const counts = raw.split(',').map((s) => s.trim());
  if (counts.some((c) => !/^\d+$/.test(c) || Number(c) < 1 || Number(c) > 256)) {
    throw new UsageError(`--threads: expected thread counts from 1 to 256 separated by commas, found "${raw}"`, 'bench');
  }
  return [...new Set(counts.map(Number))];
}

interface SweepRow extends Row { threads: number; details: string }

/**
 * One child `rnnkit bench --json` per thread count (a process's thread pools are sized once, when its backends
 * load), then one table: each workload and backend by thread count, with the ratio to the fastest count.
 */
async function runSweep(a: Args, counts: number[]): Promise<number> {
  const main = fileURLToPath(new URL('./main.js', import.meta.url));
  const passOn = [...a.positionals, ...(a.str('backend') ? ['--backend', a.str('backend')!] : []),
    ...(a.str('time') ? ['--time', a.str('time')!] : []), '--json'];
  const rows: SweepRow[] = [];
  for (const n of counts) {
    process.stderr.write(`rnnkit bench: --threads ${n} (${counts.indexOf(n) + 1}/${counts.length})\n`);
    const env = { ...process.env, RNNKIT_THREADS: String(n), RNNKIT_WASM_THREADS: String(Math.min(n, 16)) };
    const out = await new Promise<string>((resolve, reject) => {
      const child = spawn(process.execPath, [main, 'bench', ...passOn], { env, stdio: ['ignore', 'pipe', 'inherit'] });
      let text = '';
      child.stdout.on('data', (d: Buffer) => { text += d.toString(); });
      child.on('error', reject);
      child.on('close', (code) => (code === 0 ? resolve(text) : reject(new Error(`rnnkit bench with RNNKIT_THREADS=${n} exited with ${code}`))));
    });
    const r = JSON.parse(out) as { backends: Record<string, string>; rows: Row[] };
    for (const row of r.rows) rows.push({ ...row, threads: n, details: r.backends[row.backend] ?? '' });
  }
  if (a.flag('json')) {
    process.stdout.write(JSON.stringify({ rows }, null, 2) + '\n');
    return 0;
  }
  process.stdout.write(`${'workload'.padEnd(10)}${'backend'.padEnd(9)}${'threads'.padStart(8)}${'median ms'.padStart(11)}${'GFLOP/s'.padStart(9)}${'vs best'.padStart(9)}\n`);
  for (const r of rows) {
    const best = Math.min(...rows.filter((x) => x.workload === r.workload && x.backend === r.backend).map((x) => x.medianMs));
    process.stdout.write(`${r.workload.padEnd(10)}${r.backend.padEnd(9)}${String(r.threads).padStart(8)}${r.medianMs.toFixed(3).padStart(11)}${r.gflops.toFixed(1).padStart(9)}${`${(r.medianMs / best).toFixed(2)}x`.padStart(9)}\n`);
  }
  return 0;
}

async function runBench(a: Args): Promise<number> {
  const benchmarks = selectBenchmarks(a.positionals);
  const counts = threadCounts(a);
  if (counts) return runSweep(a, counts);
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
