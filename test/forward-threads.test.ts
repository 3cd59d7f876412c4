// Both backends share a forward step's hidden-unit chunks between threads at run time: a thread done with its
// own takes the chunks a slower one has not started. Which thread computes a chunk must not change a bit of
// the result. Thread counts are fixed per process, so each run is a child process (on the built dist/, which
// `npm test` builds first); RNNKIT_TEST_LAG_US makes thread 0 pause before each of its own chunks.
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { BACKENDS } from './helpers.js';

const root = fileURLToPath(new URL('..', import.meta.url));

// One cellForward (repeated until the backend ran it on its threads: WASM workers start on first use) on
// fixed inputs; prints the outputs (base64 of y, hT, cT), the threads used and the chunks taken over.
const CHILD = `
import { createRequire } from 'node:module';
const [root, backend, shape] = process.argv.slice(1);
const { loadBackend } = await import(root + 'dist/index.js');
const be = loadBackend(backend);
const [kind, T, B, I, H] = JSON.parse(shape);
const G = { lstm: 4, gru: 3, rnn_tanh: 1 }[kind];
const buf = (n, s) => {
  const b = be.alloc(n);
  b.view().set(Float32Array.from({ length: n }, (_, i) => Math.sin(i * 0.61 + s) * 0.4));
  return b;
};
const lstm = kind === 'lstm';
const a = { kind, T, B, I, H, reverse: false, x: buf(T * B * I, 1), h0: buf(B * H, 2), c0: lstm ? buf(B * H, 3) : null,
  wih: buf(G * H * I, 4), whh: buf(G * H * H, 5), bih: buf(G * H, 6), bhh: buf(G * H, 7),
  y: be.alloc(T * B * H), hT: be.alloc(B * H), cT: lstm ? be.alloc(B * H) : null, ws: null };
const addon = backend === 'native' ? createRequire(import.meta.url)('node-gyp-build')(root) : null;
let threads = 1;
for (let i = 0; i < 100; i++) {
  const before = be.stats?.threaded ?? 0;
  be.cellForward(a);
  if (addon) { threads = addon.info().threads; break; }
  if (be.stats.threaded > before) { threads = be.threads; break; }
  await new Promise((r) => setTimeout(r, 20));
}
const b64 = (b) => (b ? Buffer.from(b.view().slice().buffer).toString('base64') : '');
const shared = addon ? addon.info().sharedChunks : be.stats.sharedChunks;
console.log(JSON.stringify({ y: b64(a.y), hT: b64(a.hT), cT: b64(a.cT), threads, shared }));
process.exit(0);
`;

function forwardIn(backend: string, env: Record<string, string>, shape: unknown[], nodeFlags: string[] = []) {
  const args = [...nodeFlags, '--input-type=module', '-e', CHILD, root, backend, JSON.stringify(shape)];
  const r = spawnSync(process.execPath, args, {
    env: { ...process.env, ...env },
    encoding: 'utf8',
  });
  if (r.status !== 0) throw new Error(`child failed (${r.status}): ${r.stderr}`);
  return JSON.parse(r.stdout) as { y: string; hT: string; cT: string; threads: number; shared: number };
}

// The native backward shares its per-step product dh_prev = dgh W_hh the same way: one forward with a workspace,
// then one cellBackward; prints every gradient (base64) and the chunks taken over.
const BACKWARD_CHILD = `
import { createRequire } from 'node:module';
const [root, shape] = process.argv.slice(1);
const a = createRequire(import.meta.url)('node-gyp-build')(root);
const [kind, T, B, I, H] = JSON.parse(shape);
const code = { rnn_tanh: 0, lstm: 2, gru: 3 }[kind];
const G = { lstm: 4, gru: 3, rnn_tanh: 1 }[kind];
const f = (n, s) => Float32Array.from({ length: n }, (_, i) => Math.sin(i * 0.61 + s) * 0.4);
const z = (n) => new Float32Array(n);
const x = f(T * B * I, 1), h0 = f(B * H, 2), c0 = f(B * H, 3), wih = f(G * H * I, 4), whh = f(G * H * H, 5);
const bih = f(G * H, 6), bhh = f(G * H, 7), y = z(T * B * H), hT = z(B * H), cT = z(B * H);
const ws = z({ lstm: 5, gru: 4, rnn_tanh: 0 }[kind] * T * B * H);
a.cellForward(code, T, B, I, H, 0, x, h0, c0, wih, whh, bih, bhh, y, hT, cT, ws.length ? ws : null);
// the lagging forward made the barriers late: wait out the back-off to one thread it started (at most 0.2 s)
await new Promise((r) => setTimeout(r, 250));
const before = a.info().sharedChunks;
const g = { dx: z(T * B * I), dh0: z(B * H), dc0: z(B * H), dwih: z(G * H * I), dwhh: z(G * H * H), dbih: z(G * H), dbhh: z(G * H) };
a.cellBackward(code, T, B, I, H, 0, x, h0, c0, wih, whh, bih, bhh, y, ws.length ? ws : null, f(T * B * H, 8), f(B * H, 9),
  f(B * H, 10), g.dx, g.dh0, g.dc0, g.dwih, g.dwhh, g.dbih, g.dbhh);
const out = Object.fromEntries(Object.entries(g).map(([k, v]) => [k, Buffer.from(v.buffer).toString('base64')]));
const info = a.info();
const line = JSON.stringify({ ...out, threads: info.threads, shared: info.sharedChunks - before });
process.stdout.write(line, () => process.exit(0)); // all of it: a big write to a pipe completes later
`;

const THREADS: Record<string, string> = { native: 'RNNKIT_THREADS', wasm: 'RNNKIT_WASM_THREADS' };

describe.each(BACKENDS)('%s forward on two threads', (backend) => {
  // kind, T, B, I, H: H = 100 is 4 chunks of 32 units (AVX-512), 7 of 16 (AVX2, WASM), 13 of 8 (portable)
  it.each([
    ['lstm', 12, 3, 17, 100],
    ['gru', 12, 4, 17, 100],
    ['rnn_tanh', 12, 5, 17, 200],
  ])('%s: chunks taken over from a slower thread give the same bits as one thread', (...shape) => {
    const one = forwardIn(backend, { [THREADS[backend]!]: '1' }, shape);
    const two = forwardIn(backend, { [THREADS[backend]!]: '2', RNNKIT_TEST_LAG_US: '300' }, shape);
    expect(one.threads).toBe(1);
    expect(two.threads).toBe(2);
    expect(one.shared).toBe(0);
    expect(two.shared).toBeGreaterThan(0); // the lagging thread's chunks were taken over
    expect(two.y).toBe(one.y);
    expect(two.hT).toBe(one.hT);
    expect(two.cT).toBe(one.cT);
  });
});

describe.runIf(BACKENDS.includes('native'))('native backward on two threads', () => {
  function backwardIn(env: Record<string, string>, shape: unknown[]) {
    const r = spawnSync(process.execPath, ['--input-type=module', '-e', BACKWARD_CHILD, root, JSON.stringify(shape)], {
      env: { ...process.env, ...env },
      encoding: 'utf8',
    });
    if (r.status !== 0) throw new Error(`child failed (${r.status}): ${r.stderr}`);
    return JSON.parse(r.stdout) as Record<string, string | number>;
  }
  it.each([
    ['lstm', 10, 3, 17, 100],
    ['gru', 10, 4, 17, 100],
    ['rnn_tanh', 10, 5, 17, 200],
  ])('%s: chunks of dh_prev taken over from a slower thread give the gradients of one thread', (...shape) => {
    const one = backwardIn({ RNNKIT_THREADS: '1' }, shape);
    const two = backwardIn({ RNNKIT_THREADS: '2', RNNKIT_TEST_LAG_US: '300' }, shape);
    expect(one.threads).toBe(1);
    expect(two.threads).toBe(2);
    expect(one.shared).toBe(0);
    expect(two.shared).toBeGreaterThan(0);
    // One thread runs the product as one GEMM, two in chunks with other depth blocks, and dx is a GEMM split by
    // rows: the last bits may differ (native/KERNELS.md), nothing more. (A thief computing the wrong chunk, or
    // reading dh_prev before all of it is written, is off by far more.)
    const floats = (b64: unknown) => new Float32Array(new Uint8Array(Buffer.from(b64 as string, 'base64')).buffer);
    for (const k of ['dx', 'dh0', 'dc0', 'dwih', 'dwhh', 'dbih', 'dbhh']) {
      const [a1, a2] = [floats(one[k]), floats(two[k])];
      expect(a2.length, k).toBe(a1.length);
      const off = a1.filter((v, i) => !(Math.abs(v - a2[i]!) <= 1e-5 + 1e-5 * Math.abs(v))).length;
      expect(off, `${k}: elements off`).toBe(0);
    }
  });
});

describe('wasm workers', () => {
  // Node flags a Worker may not take (V8's --expose-gc) or that break its CommonJS source (--input-type, set by
  // forwardIn itself) must not leave the backend on one thread.
  it('start under node flags a worker does not accept', () => {
    const r = forwardIn('wasm', { RNNKIT_WASM_THREADS: '2' }, ['lstm', 12, 3, 17, 100], ['--expose-gc', '--no-warnings']);
    expect(r.threads).toBe(2);
  });
});
