// worker.terminate() during a long native kernel call: the addon notices that Node is stopping the worker's
// environment (it polls between time steps) and returns early, so terminate() resolves in a small fraction of the
// call's duration instead of waiting for it to finish.
import { Worker } from 'node:worker_threads';
import { describe, expect, it } from 'vitest';
import { loadBackend } from '../src/backend/index.js';

let nativeError: string | null = null;
try {
  loadBackend('native');
} catch (e) {
  nativeError = (e as Error).message;
}
if (nativeError) console.warn(`cancel.test.ts: skipped, the native backend does not load: ${nativeError}`);

const distBackend = new URL('../dist/backend/index.js', import.meta.url).href;

// The worker: LSTM sizes of W2's kind, scaled so one call lasts about `target` ms. It times a short call to pick T,
// then posts {ms} (the expected length of a long call) and starts long calls back to back.
const WORKER = `
const { parentPort, workerData } = require('node:worker_threads');
import(workerData.dist).then(({ loadBackend }) => {
  const be = loadBackend('native');
  const { mode, target } = workerData;
  const B = 32, I = 128, H = 1024, G = 4;
  const fill = (n, s) => { const b = be.alloc(n); const v = b.view(); for (let i = 0; i < n; i++) v[i] = Math.sin(i * 0.37 + s) * 0.05; return b; };
  const wih = fill(G * H * I, 1), whh = fill(G * H * H, 2), bih = fill(G * H, 3), bhh = fill(G * H, 4);
  const dims = (T) => {
    const a = { kind: 'lstm', T, B, I, H, reverse: false, x: fill(T * B * I, 5), h0: fill(B * H, 6), c0: fill(B * H, 7),
      wih, whh, bih, bhh, y: be.alloc(T * B * H), hT: be.alloc(B * H), cT: be.alloc(B * H), ws: null };
    if (mode === 'forward') return a; // inference: no workspace
    return { ...a, ws: be.alloc(5 * T * B * H), dy: fill(T * B * H, 8), dhT: be.alloc(B * H), dcT: be.alloc(B * H),
      dx: be.alloc(T * B * I), dh0: be.alloc(B * H), dc0: be.alloc(B * H), dwih: be.alloc(G * H * I),
      dwhh: be.alloc(G * H * H), dbih: be.alloc(G * H), dbhh: be.alloc(G * H) };
  };
  const call = (a) => { be.cellForward(a); if (mode === 'backward') be.cellBackward(a); };
  const small = dims(16);
  call(small);
  let t0 = performance.now();
  call(small);
  const perStep = (performance.now() - t0) / 16;
  const T = Math.max(16, Math.round(target / perStep));
  const big = dims(T);
  parentPort.postMessage({ ms: perStep * T, T, setupMs: performance.now() - t0 });
  for (;;) call(big);
});
`;

async function terminateLatency(mode: 'forward' | 'backward', target: number): Promise<{ callMs: number; terminateMs: number }> {
  const w = new Worker(WORKER, { eval: true, workerData: { dist: distBackend, mode, target } });
  const started = performance.now();
  let failure: Error | null = null;
  let exited = false;
  w.on('error', (e) => { failure = e; });
  w.on('exit', () => { exited = true; });
  const first = await new Promise<{ ms: number; T: number; setupMs: number }>((resolve, reject) => {
    w.once('message', resolve);
    w.once('exit', () => reject(failure ?? new Error('the worker exited before its first long call')));
  });
  await new Promise((r) => setTimeout(r, 150)); // well inside the first long call
  // A worker that failed or ended on its own would make terminate() look fast: it must still be running.
  if (failure) throw failure;
  expect(exited).toBe(false);
  const t0 = performance.now();
  await w.terminate();
  const terminateMs = performance.now() - t0;
  if (failure) throw failure;
  console.log(`${mode}: T=${first.T}, worker ready after ${(t0 - started).toFixed(0)} ms (calibration and set-up ${first.setupMs.toFixed(0)} ms)`);
  return { callMs: first.ms, terminateMs };
}

describe.skipIf(nativeError !== null)('worker.terminate() during a native call', () => {
  for (const mode of ['forward', 'backward'] as const) {
    it(`stops a long cell ${mode} early`, async () => {
      const { callMs, terminateMs } = await terminateLatency(mode, 1200);
      console.log(`cell ${mode}: one call ~${callMs.toFixed(0)} ms, terminate() took ${terminateMs.toFixed(0)} ms`);
      expect(callMs).toBeGreaterThan(800);
      expect(terminateMs).toBeLessThan(Math.min(500, callMs / 4));
    });
  }
});
