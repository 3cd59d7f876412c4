// Interleaved A/B of two or more builds in ONE process, for machines whose speed drifts from minute to minute
// (a VM's cores: back-to-back runs of the same build here differed by up to 2x). Each round runs every build in
// turn, so drift hits them alike; percentiles are over all rounds.
//
// usage:
//   node bench/ab.mjs --addons a.node,b.node [--shape lstm,100,32,128,512] [--rounds 20] [--per 2]
//       the native addons' cellForward (inference) on one shape: kind,T,B,I,H
//   node bench/ab.mjs --dists /copy1/dist,/copy2/dist [--workload W2-lstm] [--backend wasm] [--rounds 20]
//       the standard workload through each copy of the package: a copy of the package folder with its own dist/
//       (which finds its .wasm files in ../dist/wasm and its addon in ../build or ../prebuilds)
//   node bench/ab.mjs --dists /copy1/dist,/copy2/dist --pass dropout [--size 524288] [--backend wasm]
//       one of a training step's elementwise passes on `size` floats through each copy's backend: dropout, adam,
//       sgd (momentum 0.9), sumSquares, scale, fill, copy (rows of 256), transpose01 ([size/8192, 32, 256]),
//       interleave (rows of 256). Native builds each bring a thread pool whose idle workers spin between calls
//       and slow the other build's: compare them with --threads 1,1 (WASM pools sleep sooner).
// Thread counts come from the usual RNNKIT_THREADS / RNNKIT_WASM_THREADS, or per build from --threads 1,2 (one
// count per build, set in both variables just before that build is loaded and first run: a thread pool takes its
// size then). Two builds may be the same files in two folders, to compare thread counts of one build; an addon
// must then be a copy at another path (a process loads a path once).
import { createRequire } from 'node:module';
import path from 'node:path';
import { CELL_CODES as KINDS } from '../dist/backend/types.js';

const args = process.argv.slice(2);
const opt = (k, d) => { const i = args.indexOf(k); return i >= 0 ? args[i + 1] : d; };
const rounds = Number(opt('--rounds', 20));
const per = Number(opt('--per', 2));
const threadList = opt('--threads') ? opt('--threads').split(',') : null;
/** Before loading build j: its thread count, if --threads gave one. */
const setThreads = (j) => {
  if (!threadList) return;
  process.env.RNNKIT_THREADS = threadList[j];
  process.env.RNNKIT_WASM_THREADS = threadList[j];
};

const runners = []; // { name, run }
if (opt('--addons')) {
  const require = createRequire(import.meta.url);
  const [kindName, T, B, I, H] = opt('--shape', 'lstm,100,32,128,512').split(',').map((s, i) => (i ? Number(s) : s));
  const kind = KINDS[kindName];
  if (kind === undefined) throw new Error(`--shape: unknown cell kind ${kindName}; known: ${Object.keys(KINDS).join(', ')}`);
  const G = kind === 2 ? 4 : kind === 3 ? 3 : 1;
  const fill = (n, s) => Float32Array.from({ length: n }, (_, i) => Math.sin(i * 0.37 + s) * 0.1);
  const x = fill(T * B * I, 1), h0 = fill(B * H, 2), c0 = fill(B * H, 3);
  const wih = fill(G * H * I, 4), whh = fill(G * H * H, 5), bih = fill(G * H, 6), bhh = fill(G * H, 7);
  const y = new Float32Array(T * B * H), hT = new Float32Array(B * H), cT = new Float32Array(B * H);
  opt('--addons').split(',').forEach((file, j) => {
    setThreads(j);
    const addon = require(path.resolve(file));
    const run = () => addon.cellForward(kind, T, B, I, H, 0, x, h0, c0, wih, whh, bih, bhh, y, hT, cT, null);
    run();
    runners.push({ name: threadList ? `${file} (${threadList[j]} threads)` : file, run });
  });
} else if (opt('--dists') && opt('--pass')) {
  const pass = opt('--pass');
  const n = Number(opt('--size', 524288));
  const backend = opt('--backend', 'native');
  const dists = opt('--dists').split(',');
  for (let j = 0; j < dists.length; j++) {
    setThreads(j);
    const be = (await import(path.resolve(dists[j], 'index.js'))).loadBackend(backend);
    await be.threadsReady?.();
    const buf = (k, s) => { const b = be.alloc(k); b.view().set(Float32Array.from({ length: k }, (_, i) => Math.sin(i * 0.37 + s))); return b; };
    const [x, y, m, v, out] = [buf(n, 1), buf(n, 2), buf(n, 3), buf(n, 4), be.alloc(2 * n)];
    v.view().set(v.view().map(Math.abs)); // Adam's second moments
    const rows = Math.floor(n / 256);
    const passes = {
      dropout: () => be.dropout(n, 0.3, 1234, x, y),
      adam: () => be.adamStep(n, x, y, m, v, 1e-3, 0.9, 0.999, 1e-8, 0, false, 3),
      sgd: () => be.sgdStep(n, x, y, m, 1e-3, 0.9, 0, false, false),
      sumSquares: () => be.sumSquares(n, x),
      scale: () => be.scale(n, x, 1),
      fill: () => be.fill(n, x, 0),
      copy: () => be.copy(rows, 256, x, 0, 256, y, 0, 256),
      transpose01: () => be.transpose01(Math.floor(n / 8192), 32, 256, x, y),
      interleave: () => be.interleave(rows, 256, x, y, out),
    };
    const run = passes[pass];
    if (!run) throw new Error(`--pass: unknown pass ${pass}; known: ${Object.keys(passes).join(', ')}`);
    run();
    runners.push({ name: `${dists[j]} ${pass} (${threadList ? `${threadList[j]} threads, ` : ''}${backend})`, run });
  }
} else if (opt('--dists')) {
  const workload = opt('--workload', 'W2-lstm');
  const backend = opt('--backend', 'native');
  const dists = opt('--dists').split(',');
  for (let j = 0; j < dists.length; j++) {
    setThreads(j);
    const m = await import(path.resolve(dists[j], 'cli/workloads.js'));
    const w = m.WORKLOADS[workload];
    const r = w ? m.inferenceRunner(w, backend) : m.trainingRunner(m.TRAINING_WORKLOADS[workload], backend);
    r.run();
    runners.push({ name: threadList ? `${dists[j]} (${threadList[j]} threads)` : dists[j], run: () => r.run() });
  }
} else {
  console.error('usage: node bench/ab.mjs --addons a.node,b.node [--shape kind,T,B,I,H] | --dists d1,d2 [--workload W | --pass P]');
  process.exit(2);
}

const times = runners.map(() => []);
for (let r = 0; r < rounds + 2; r++) {
  runners.forEach((x, j) => {
    for (let i = 0; i < per; i++) {
      const t = performance.now();
      x.run();
      if (r >= 2) times[j].push(performance.now() - t); // two warm-up rounds
    }
  });
}
runners.forEach((x, j) => {
  const ts = times[j].sort((a, b) => a - b);
  const q = (p) => ts[Math.floor(p * (ts.length - 1))].toFixed(3);
  console.log(`${x.name}: p10 ${q(0.1)} p50 ${q(0.5)} p90 ${q(0.9)} ms (n=${ts.length})`);
});
process.exit(0);
