// The native forward kernel shares a step's hidden-unit chunks between threads at run time (a thread that is
// done with its own takes the chunks a slower one has not started). Which thread computes a chunk must not
// change a bit of the result. Thread counts are fixed per process, so each run is a child process.
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { BACKENDS } from './helpers.js';

const root = fileURLToPath(new URL('..', import.meta.url));

// Runs one cellForward in a child and prints its outputs (base64 of y, hT, cT) and info() as JSON.
const CHILD = `
const addon = require('node-gyp-build')(process.argv[1]);
const [kind, T, B, I, H] = JSON.parse(process.argv[2]);
const G = kind === 2 ? 4 : kind === 3 ? 3 : 1;
const r = (n, s) => Float32Array.from({ length: n }, (_, i) => Math.sin(i * 0.61 + s) * 0.4);
const y = new Float32Array(T * B * H), hT = new Float32Array(B * H), cT = new Float32Array(B * H);
addon.cellForward(kind, T, B, I, H, 0, r(T * B * I, 1), r(B * H, 2), r(B * H, 3), r(G * H * I, 4), r(G * H * H, 5),
  r(G * H, 6), r(G * H, 7), y, hT, cT, null);
const b64 = (a) => Buffer.from(a.buffer).toString('base64');
console.log(JSON.stringify({ y: b64(y), hT: b64(hT), cT: b64(cT), info: addon.info() }));
`;

function forwardIn(env: Record<string, string>, shape: number[]) {
  const r = spawnSync(process.execPath, ['-e', CHILD, root, JSON.stringify(shape)], {
    env: { ...process.env, ...env },
    encoding: 'utf8',
  });
  if (r.status !== 0) throw new Error(`child failed (${r.status}): ${r.stderr}`);
  return JSON.parse(r.stdout) as { y: string; hT: string; cT: string; info: { threads: number; sharedChunks: number } };
}

describe.runIf(BACKENDS.includes('native'))('native forward threads', () => {
  // kind, T, B, I, H: H = 100 is 4 chunks with AVX-512 (32 units), 7 with AVX2, 13 portable; big enough for 2 threads
  it.each([
    ['lstm', [2, 12, 3, 17, 100]],
    ['gru', [3, 12, 4, 17, 100]],
    ['rnn_tanh', [0, 12, 5, 17, 200]],
  ])('%s: chunks taken over from a slower thread give the same bits as one thread', (_, shape) => {
    const one = forwardIn({ RNNKIT_THREADS: '1' }, shape as number[]);
    const two = forwardIn({ RNNKIT_THREADS: '2', RNNKIT_TEST_LAG_US: '300' }, shape as number[]);
    expect(one.info.threads).toBe(1);
    expect(two.info.threads).toBe(2);
    expect(two.info.sharedChunks).toBeGreaterThan(0); // the lagging thread's chunks were taken over
    expect(one.info.sharedChunks).toBe(0);
    expect(two.y).toBe(one.y);
    expect(two.hT).toBe(one.hT);
    expect(two.cT).toBe(one.cT);
  });
});
