// The native backend's thread count per call: the work's rule and the CPUs the process may use (pool.h), the
// pool never larger than those CPUs whatever RNNKIT_THREADS asks, and the back-off per call shape that steps
// down one halving at a time after slow barriers and comes back up when the next step measures faster. Thread
// counts are fixed per process, so each case is a child process on the built dist/ and build/ (`npm test` builds
// dist/ first). No timing is asserted: the busy phases come from the test-hooks addon's RNNKIT_TEST_LAG_US
// (thread 0 sleeps before each of its own chunks, so the others wait for it at every barrier), and the phase
// where threads pay again from its RNNKIT_TEST_SOLO_LAG_US (a call on one thread sleeps before each chunk).
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { availableParallelism } from 'node:os';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { TEST_HOOKS_ADDON } from '../src/backend/native.js';
import { BACKENDS } from './helpers.js';

const root = fileURLToPath(new URL('..', import.meta.url));
const cpus = availableParallelism();

// The child's tools: the native backend through the package's loader, a cell call on fixed inputs that returns
// its outputs in base64, and the addon's own counters (info(); the backend's `addon` field is private in
// TypeScript only) after each call.
const COMMON = `
const { loadBackend } = await import(root + 'dist/index.js');
const { GATES, workspaceFloats } = await import(root + 'dist/backend/types.js');
const be = loadBackend('native');
const info = () => be.addon.info();
const buf = (n, s) => {
  const b = be.alloc(n);
  b.view().set(Float32Array.from({ length: n }, (_, i) => Math.sin(i * 0.61 + s) * 0.4));
  return b;
};
const b64 = (b) => (b ? Buffer.from(b.view().slice().buffer).toString('base64') : '');
function cell(kind, T, B, I, H, backward = false) {
  const G = GATES[kind], lstm = kind === 'lstm';
  const inputs = { kind, T, B, I, H, reverse: false, x: buf(T * B * I, 1), h0: buf(B * H, 2), c0: lstm ? buf(B * H, 3) : null,
    wih: buf(G * H * I, 4), whh: buf(G * H * H, 5), bih: buf(G * H, 6), bhh: buf(G * H, 7) };
  const wsFloats = backward ? workspaceFloats(kind, T, B, H) : 0;
  const f = { y: be.alloc(T * B * H), hT: be.alloc(B * H), cT: lstm ? be.alloc(B * H) : null, ws: wsFloats ? be.alloc(wsFloats) : null };
  be.cellForward({ ...inputs, ...f });
  const fwd = { threads: info().lastThreads, y: b64(f.y), hT: b64(f.hT), cT: b64(f.cT) };
  if (!backward) return fwd;
  const g = { dx: be.alloc(T * B * I), dh0: be.alloc(B * H), dc0: lstm ? be.alloc(B * H) : null, dwih: be.alloc(G * H * I),
    dwhh: be.alloc(G * H * H), dbih: be.alloc(G * H), dbhh: be.alloc(G * H) };
  be.cellBackward({ ...inputs, y: f.y, ws: f.ws, dy: buf(T * B * H, 8), dhT: buf(B * H, 9), dcT: lstm ? buf(B * H, 10) : null, ...g });
  return { ...fwd, backwardThreads: info().lastThreads, ...Object.fromEntries(Object.entries(g).map(([k, v]) => [k, b64(v)])) };
}
const print = (o) => process.stdout.write(JSON.stringify(o), () => process.exit(0)); // all of it, then exit
`;

function child(script: string, env: Record<string, string>, prefix: string[] = []) {
  const argv = [...prefix, process.execPath, '--input-type=module', '-e', `const [root] = process.argv.slice(1);\n${COMMON}\n${script}`, root];
  const r = spawnSync(argv[0]!, argv.slice(1), { env: { ...process.env, ...env }, encoding: 'utf8', maxBuffer: 1 << 26 });
  if (r.status !== 0) throw new Error(`child failed (${r.status ?? r.signal ?? r.error?.message}): ${r.stderr}`);
  return JSON.parse(r.stdout) as Record<string, unknown>;
}

const hasTaskset = ['/usr/bin/taskset', '/bin/taskset'].some((p) => existsSync(p));

describe.runIf(BACKENDS.includes('native'))('native thread count', () => {
  // The pure rules, asked about machines this one is not (exported by the test-hooks addon only).
  const hooks = createRequire(import.meta.url)(root + TEST_HOOKS_ADDON) as {
    threadsByWork(flops: number, blocks: number, limit: number): number;
    cpusAllowed(affinity: number, quota: string): number;
  };

  it('follows the work: at least 1e5 flops and one block per thread, never more than the limit', () => {
    expect(hooks.threadsByWork(1.9e5, 16, 16)).toBe(1); // small work stays on one thread
    expect(hooks.threadsByWork(2e5, 16, 2)).toBe(2); // the 2-core rule as it was: 2 threads from 2e5 flops
    // W1 (LSTM, H 256, batch 1): 2*1*4*256*256 flops per step, 8 chunks of 32 units (AVX-512)
    expect(hooks.threadsByWork(2 * 4 * 256 * 256, 8, 16)).toBe(5);
    expect(hooks.threadsByWork(2 * 4 * 256 * 256, 8, 2)).toBe(2);
    // W2 tanh RNN (H 512, batch 32): 16.8 Mflops per step, 16 chunks
    expect(hooks.threadsByWork(2 * 32 * 512 * 512, 16, 64)).toBe(16); // one block per thread at most
    expect(hooks.threadsByWork(2 * 32 * 512 * 512, 16, 8)).toBe(8);
    expect(hooks.threadsByWork(1e9, 1, 16)).toBe(1); // one block cannot be split
  });

  it('uses the CPUs of the affinity mask, capped by a cgroup CPU quota (rounded up)', () => {
    expect(hooks.cpusAllowed(16, '')).toBe(16); // no cgroup file
    expect(hooks.cpusAllowed(16, 'max 100000')).toBe(16); // cgroup v2: no quota
    expect(hooks.cpusAllowed(16, '-1 100000')).toBe(16); // cgroup v1: no quota
    expect(hooks.cpusAllowed(64, '200000 100000')).toBe(2); // a container given 2 CPUs of a 64-core host
    expect(hooks.cpusAllowed(64, '150000 100000')).toBe(2);
    expect(hooks.cpusAllowed(64, '50000 100000')).toBe(1);
    expect(hooks.cpusAllowed(2, '800000 100000')).toBe(2); // the affinity mask is the tighter one
    expect(hooks.cpusAllowed(0, '')).toBe(1); // nothing known: one
  });

  it('the pool follows the process\'s CPUs, not RNNKIT_THREADS beyond them or the host\'s cores', () => {
    const script = `const i = info(); print({ threads: i.threads, asked: i.threadsAsked, cpus: i.cpus });`;
    expect(child(script, { RNNKIT_THREADS: '' })).toEqual({ threads: cpus, asked: cpus, cpus });
    expect(child(script, { RNNKIT_THREADS: '16' })).toEqual({ threads: Math.min(16, cpus), asked: 16, cpus });
    if (hasTaskset && cpus >= 2) { // one CPU of this machine's `cpus`
      expect(child(script, { RNNKIT_THREADS: '' }, ['taskset', '-c', '0'])).toEqual({ threads: 1, asked: 1, cpus: 1 });
      expect(child(script, { RNNKIT_THREADS: '16' }, ['taskset', '-c', '0'])).toEqual({ threads: 1, asked: 16, cpus: 1 });
    }
  });

  it('RNNKIT_THREADS=16 gives the bits of 1 thread (forward) and of as many threads as there are CPUs (backward)', () => {
    // LSTM, T 6, B 8, I 32, H 256: 4.2 Mflops per step, threaded on any machine with 2+ CPUs
    const script = `print(cell('lstm', 6, 8, 32, 256, true));`;
    const over = child(script, { RNNKIT_THREADS: '16' });
    const one = child(script, { RNNKIT_THREADS: '1' });
    const fit = child(script, { RNNKIT_THREADS: String(Math.min(16, cpus)) });
    expect(over.threads).toBe(Math.min(16, cpus)); // the first calls of a process: no back-off yet
    expect(over.backwardThreads).toBe(Math.min(16, cpus));
    expect(one.threads).toBe(1);
    for (const k of ['y', 'hT', 'cT']) expect(over[k], k).toBe(one[k]); // the forward's bits never depend on threads
    // the backward's last bits may depend on the thread count (native/KERNELS.md), so: the same count, the same bits
    for (const k of ['dx', 'dh0', 'dc0', 'dwih', 'dwhh', 'dbih', 'dbhh']) expect(over[k], k).toBe(fit[k]);
  });
});

describe.runIf(BACKENDS.includes('native'))('native back-off', () => {
  // With the lag, every step waits about 1 ms for thread 0, far longer than a step's work (10-80 µs on one
  // core here), which the barriers report as late.
  const LAG = '1000';

  it('steps down one halving at a time: 4 -> 2 -> 1 threads while the barriers stay late', () => {
    // RNNKIT_TEST_CPUS=4 stands for a 4-CPU machine (test-hooks addon). rnn_tanh, T 20, B 4, H 256: 0.5 Mflops per
    // step in 8 or more chunks, so its work asks for 4 threads. Each slow call pauses its shape for 16 times its
    // duration (>= 20 ms here: 0.2 s), long past the next call.
    const r = child(`
      const steps = [];
      for (let i = 0; i < 3; i++) steps.push(cell('rnn_tanh', 20, 4, 64, 256).threads);
      print({ steps, backoffs: info().backoffs, testHooks: be.stats.testHooks });
    `, { RNNKIT_THREADS: '4', RNNKIT_TEST_CPUS: '4', RNNKIT_TEST_LAG_US: LAG });
    expect(r.testHooks).toBe(true);
    expect(r.steps).toEqual([4, 2, 1]);
    expect(r.backoffs).toBe(2);
  });

  it('backs off one call shape only, measures again after the pause and comes back up once threads pay again', () => {
    // LSTM, T 40, B 8, H 256: 4.2 Mflops per step (~3 ms a call on one thread here, ~1.7 ms on two); each slow
    // call (>= 0.12 s with a 3 ms lag per step) pauses the shape for 0.2 s. Once the busy phase ends, a call on one
    // thread pauses 0.5 ms per chunk (RNNKIT_TEST_SOLO_LAG_US: >= 0.16 s a call), so that two threads are faster
    // however busy this shared machine is, which the measuring calls must find.
    const r = child(`
      const SHAPE = ['lstm', 40, 8, 32, 256];
      const busy = [cell(...SHAPE).threads, cell(...SHAPE).threads]; // late on 2 threads, then 1
      const other = cell('rnn_tanh', 4, 8, 32, 256).threads; // another shape (1 Mflops per step): not backed off
      // Still busy after the pause: the two measuring calls on 2 threads are slower than one thread, so back to 1.
      await new Promise((res) => setTimeout(res, 300));
      const probed = [cell(...SHAPE).threads, cell(...SHAPE).threads];
      const after = cell(...SHAPE).threads;
      const mid = info();
      // The busy phase ends. Calls continue until the shape comes back up (at most 20 s), then one more.
      process.env.RNNKIT_TEST_LAG_US = '0';
      process.env.RNNKIT_TEST_SOLO_LAG_US = '500';
      const end = Date.now() + 20000;
      const seq = [];
      while (Date.now() < end && info().backoffRecoveries === 0) {
        const t = cell(...SHAPE).threads;
        seq.push(t + ':' + JSON.stringify([info().backoffs, info().backoffProbes, info().backoffRecoveries]));
        if (t === 1) await new Promise((res) => setTimeout(res, 20));
      }
      const back = cell(...SHAPE).threads;
      const i = info();
      print({ busy, other, probed, after, seq, midBackoffs: mid.backoffs, midProbes: mid.backoffProbes, midRecoveries: mid.backoffRecoveries,
        back, recoveries: i.backoffRecoveries, backoffCalls: i.backoffCalls });
    `, { RNNKIT_THREADS: '2', RNNKIT_TEST_LAG_US: '3000' });
    expect(r.busy).toEqual([2, 1]);
    expect(r.other).toBe(2);
    expect(r.probed).toEqual([2, 2]); // the pause is over: it measures again, on two calls
    expect(r.after).toBe(1); // ... was slower than one thread, so it stays there
    expect(r.midBackoffs).toBe(2); // a step down of the shape, and one of the other shape (lagged too)
    expect(r.midProbes).toBe(1);
    expect(r.midRecoveries).toBe(0);
    expect(r.backoffCalls).toBeGreaterThanOrEqual(2);
    expect(r.back, JSON.stringify(r.seq)).toBe(2); // came back
    expect(r.recoveries, JSON.stringify(r.seq)).toBe(1);
  }, 30000);
});
