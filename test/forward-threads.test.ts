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

describe('wasm workers', () => {
  // Node flags a Worker may not take (V8's --expose-gc) or that break its CommonJS source (--input-type, set by
  // forwardIn itself) must not leave the backend on one thread.
  it('start under node flags a worker does not accept', () => {
    const r = forwardIn('wasm', { RNNKIT_WASM_THREADS: '2' }, ['lstm', 12, 3, 17, 100], ['--expose-gc', '--no-warnings']);
    expect(r.threads).toBe(2);
  });
});
