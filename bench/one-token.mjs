// One token at a time, the way predictNext, generate and the browser demo call the recurrent layer: cellForward
// of W1's LSTM (input 64, hidden 256, batch 1, inference) on T = 1 and on T = 100, on every CPU backend that loads,
// timed with tinybench. The difference shows what a call costs beyond its steps (dispatch, and checking or making
// the packed weights). usage: node bench/one-token.mjs [--time ms] [--dist path/to/dist] (another build, for A/B)
import os from 'node:os';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { Bench } from 'tinybench';

const args = process.argv.slice(2);
const opt = (k, d) => { const i = args.indexOf(k); return i >= 0 ? args[i + 1] : d; };
const time = Number(opt('--time', 2000));
const dist = path.resolve(opt('--dist', new URL('../dist', import.meta.url).pathname));
const { loadBackend } = await import(pathToFileURL(path.join(dist, 'index.js')).href);

const I = 64, H = 256, G = 4, B = 1;
console.log(`machine: ${os.cpus()[0]?.model ?? 'unknown CPU'}, ${os.cpus().length} cores, Node ${process.version}; ${dist}`);
for (const name of ['native', 'wasm']) {
  let be;
  try { be = loadBackend(name); } catch (e) { console.log(`${name}: skipped (${e.message})`); continue; }
  const filled = (n, s) => { const b = be.alloc(n); be.write(b, Float32Array.from({ length: n }, (_, i) => Math.sin(i * 0.37 + s) * 0.05)); return b; };
  const w = { wih: filled(G * H * I, 1), whh: filled(G * H * H, 2), bih: filled(G * H, 3), bhh: filled(G * H, 4) };
  const call = (T) => {
    const a = { kind: 'lstm', T, B, I, H, reverse: false, x: filled(T * B * I, 5), h0: filled(B * H, 6), c0: filled(B * H, 7), ...w,
      y: be.alloc(T * B * H), hT: be.alloc(B * H), cT: be.alloc(B * H), ws: null };
    return () => be.cellForward(a);
  };
  const bench = new Bench({ time, warmupTime: 300 });
  for (const T of [1, 100]) { const f = call(T); f(); bench.add(`T=${T}`, f); }
  await bench.run();
  const [one, hundred] = bench.tasks.map((t) => t.result.latency.p50 * 1000); // us
  const step = (hundred - one) / 99;
  console.log(`${name}: ${be.details}\n  T=1 ${one.toFixed(1)} us, T=100 ${hundred.toFixed(1)} us: ${step.toFixed(2)} us a step, ${(one - step).toFixed(1)} us a call beyond its step`);
}
