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
    batchGroups(threads: number, B: number, cols: number): number;
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

  it('splits the batch rows as well when the hidden units alone give each thread too few columns', () => {
    // cols = gates x hidden units; a thread should get 256 of them, a group at least 8 rows
    expect(hooks.batchGroups(2, 32, 4 * 512)).toBe(1); // W2 LSTM on 2 threads: 1024 columns each
    expect(hooks.batchGroups(2, 32, 512)).toBe(1); // W2 tanh RNN on 2: 256 each
    expect(hooks.batchGroups(2, 32, 4 * 64)).toBe(2); // a small LSTM: 128 each, so two groups of 16 rows
    expect(hooks.batchGroups(2, 8, 4 * 64)).toBe(1); // but not groups of 4 rows
    expect(hooks.batchGroups(16, 32, 4 * 512)).toBe(2); // W2 LSTM on 16: two groups of 8 threads, 256 columns each
    expect(hooks.batchGroups(16, 32, 3 * 512)).toBe(4); // GRU: 96, 192, then 384 columns with four groups
    expect(hooks.batchGroups(16, 32, 512)).toBe(4); // tanh RNN: four groups of 8 rows (8 would leave 4 rows)
    expect(hooks.batchGroups(8, 32, 4 * 512)).toBe(1); // W2 LSTM on 8: 256 each already
    expect(hooks.batchGroups(16, 256, 4 * 1024)).toBe(1); // W4 (LSTM 1024, B 256) on 16: 256 each
    expect(hooks.batchGroups(12, 64, 512)).toBe(6); // divisors of 12 only: 42, 85, 128, 170, 256 columns a thread at 1, 2, 3, 4, 6 groups
    expect(hooks.batchGroups(6, 64, 200)).toBe(6); // never more than the threads, however few the columns
    expect(hooks.batchGroups(1, 64, 64)).toBe(1);
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

describe.runIf(BACKENDS.includes('native'))('native back-off rules (made-up calls on a table of its own)', () => {
  // The test-hooks addon's backoffReplay runs the back-off's rules (pool.cc) on a fresh table with the times
  // given, so each case below is exact whatever else this machine runs. Events: [key, want, now] asks for a call's
  // threads (the answers come back in order), [key, want, threads, lateNs, callNs, flops, now] reports a call.
  type Replay = { threads: number[]; stats: { stepsDown: number; calls: number; probes: number; recoveries: number } };
  const replay = (createRequire(import.meta.url)(root + TEST_HOOKS_ADDON) as { backoffReplay(e: number[][]): Replay }).backoffReplay;
  const MS = 1e6, FLOPS = 1e6; // a call of c ms runs at c ns per flop
  const K = 7, OTHER = 9;
  // A call of `ms` ending at `at` ms: late (its threads waited past the spin budget for most of it) or on time.
  const late = (threads: number, ms: number, at: number, want = 4) => [K, want, threads, threads * ms * MS, ms * MS, FLOPS, at * MS];
  const onTime = (threads: number, ms: number, at: number, want = 4) => [K, want, threads, 0, ms * MS, FLOPS, at * MS];
  const ask = (at: number, want = 4, key = K) => [key, want, at * MS];

  it('steps down one halving at a time while the barriers stay late (4 -> 2 -> 1), one shape only', () => {
    const r = replay([ask(0), late(4, 10, 10), ask(11), ask(11, 4, OTHER), late(2, 10, 21), ask(22), ask(22, 4, OTHER)]);
    expect(r.threads).toEqual([4, 2, 4, 1, 4]);
    expect(r.stats).toEqual({ stepsDown: 2, calls: 2, probes: 0, recoveries: 0 });
    // and from 16: 8, 4, 2, 1, never straight to one
    const from16 = replay([late(16, 5, 5, 16), ask(6, 16), late(8, 5, 11, 16), ask(12, 16), late(4, 5, 17, 16), ask(18, 16)]);
    expect(from16.threads).toEqual([8, 4, 2]);
  });

  it('a late barrier is one whose threads waited over a quarter of the call in all; small work is never backed off', () => {
    // 4 threads, a 10 ms call: 10 ms of waiting in all is a quarter, not over it
    expect(replay([[K, 4, 4, 10 * MS, 10 * MS, FLOPS, 10 * MS], ask(11)]).threads).toEqual([4]);
    expect(replay([[K, 4, 4, 10 * MS + 1, 10 * MS, FLOPS, 10 * MS], ask(11)]).threads).toEqual([2]);
    expect(replay([late(1, 10, 10, 1), ask(11, 1)]).threads).toEqual([1]); // one thread: nothing to back off
  });

  it('pauses 16 times the slow call (at most 0.2 s), then two calls measure the next step up', () => {
    // a late 10 ms call ending at 10 ms: the pause lasts until 170 ms
    const r = replay([late(4, 10, 10), ask(169), onTime(2, 10, 169), ask(171), ask(171), ask(172)]);
    expect(r.threads).toEqual([2, 4, 4, 2]); // the third call after the pause waits for the measurements
    expect(r.stats.probes).toBe(1);
    // a late 50 ms call would pause 0.8 s: capped at 0.2 s
    expect(replay([late(4, 50, 50), ask(249), ask(251)]).threads).toEqual([2, 4]);
  });

  it('stays down and pauses again when the measuring calls are slower per flop than the step below', () => {
    const r = replay([late(4, 10, 10), onTime(2, 10, 100), ask(171), ask(171),
      onTime(4, 12, 183), late(4, 11, 196), // the faster of the two: 11 ns per flop against 10 at 2 threads
      ask(197), ask(196 + 16 * 11 - 1), ask(196 + 16 * 11 + 1)]);
    expect(r.threads).toEqual([4, 4, 2, 2, 4]); // down until 16 times the last measuring call, then measures again
    expect(r.stats.recoveries).toBe(0);
  });

  it('comes back up one step at a time when a measuring call is faster, judged by speed even if its barriers were late', () => {
    const r = replay([late(8, 10, 10, 8), late(4, 10, 20, 8), onTime(2, 10, 30, 8), // 8 -> 4 -> 2, 2 threads measured: 10 ns/flop
      ask(400, 8), ask(400, 8), late(4, 6, 406, 8), onTime(4, 8, 414, 8), // the pause is over: 4 threads measure 6 ns/flop
      ask(415, 8), ask(415, 8), onTime(8, 4, 419, 8), onTime(8, 5, 424, 8), // up to 4; the next call measures 8
      ask(425, 8)]);
    expect(r.threads).toEqual([4, 4, 8, 8, 8]);
    expect(r.stats.recoveries).toBe(2);
    expect(r.stats.stepsDown).toBe(2);
  });

  it('once back up, a late call still faster than the step below keeps its threads; after a second it steps down again', () => {
    const up = [late(4, 10, 10), onTime(2, 10, 100), ask(171), ask(171), onTime(4, 6, 177), onTime(4, 6, 183)];
    // back at 4 threads (6 ns/flop against 10 at 2): a late call at 7 ns/flop is still faster than 2 threads were
    expect(replay([...up, ask(184), late(4, 7, 191), ask(192)]).threads).toEqual([4, 4, 4, 4]);
    // at 11 ns/flop it is slower: down
    expect(replay([...up, late(4, 11, 194), ask(195)]).threads).toEqual([4, 4, 2]);
    // the comparison stands one second: later, a late call steps down whatever its speed
    expect(replay([...up, late(4, 7, 1184), ask(1185)]).threads).toEqual([4, 4, 2]);
  });
});

describe.runIf(BACKENDS.includes('native'))('native back-off (real calls)', () => {
  // The same rules on real calls, lagged by the test-hooks addon. How late a barrier is depends on the scheduler
  // (on a loaded machine the threads waited for may not be running either, so a lagged call is not always late),
  // so these cases call until the behaviour shows, within a deadline; the exact sequences are the cases above.

  it('steps down one halving at a time: 4 -> 2 -> 1 threads while the barriers stay late', () => {
    // RNNKIT_TEST_CPUS=4 stands for a 4-CPU machine (test-hooks addon). rnn_tanh, T 20, B 4, H 256: 0.5 Mflops per
    // step in 8 or more chunks, so its work asks for 4 threads. Thread 0 sleeps 2 ms before each chunk of its own.
    const r = child(`
      const steps = [];
      const end = Date.now() + 20000;
      while (Date.now() < end && !steps.includes(1)) steps.push(cell('rnn_tanh', 20, 4, 64, 256).threads);
      print({ steps, backoffs: info().backoffs, testHooks: be.stats.testHooks });
    `, { RNNKIT_THREADS: '4', RNNKIT_TEST_CPUS: '4', RNNKIT_TEST_LAG_US: '2000' });
    expect(r.testHooks).toBe(true);
    const steps = r.steps as number[];
    expect(steps.filter((t, i) => i === 0 || t !== steps[i - 1]), JSON.stringify(steps)).toEqual([4, 2, 1]);
    expect(r.backoffs).toBe(2);
  }, 30000);

  it('backs off one call shape only, and comes back up once threads pay again', () => {
    // LSTM, T 40, B 8, H 256: 4.2 Mflops per step. Busy phase: thread 0 sleeps 3 ms before each chunk of its own
    // until the shape is down to one thread. Then the lag stops and a call on one thread sleeps 0.5 ms before each
    // chunk (RNNKIT_TEST_SOLO_LAG_US: >= 0.16 s a call), so that two threads are far faster however busy this
    // machine is, which the measuring calls after the pause must find.
    const r = child(`
      const SHAPE = ['lstm', 40, 8, 32, 256];
      const busy = [];
      let end = Date.now() + 20000;
      while (Date.now() < end && !busy.includes(1)) busy.push(cell(...SHAPE).threads);
      const other = cell('rnn_tanh', 4, 8, 32, 256).threads; // another shape (1 Mflops per step): its own first call
      process.env.RNNKIT_TEST_LAG_US = '0';
      process.env.RNNKIT_TEST_SOLO_LAG_US = '500';
      end = Date.now() + 20000;
      const seq = [];
      while (Date.now() < end && info().backoffRecoveries === 0) {
        const t = cell(...SHAPE).threads;
        seq.push(t);
        if (t === 1) await new Promise((res) => setTimeout(res, 20));
      }
      const back = cell(...SHAPE).threads;
      const i = info();
      print({ busy, other, seq, back, backoffs: i.backoffs, probes: i.backoffProbes, recoveries: i.backoffRecoveries });
    `, { RNNKIT_THREADS: '2', RNNKIT_TEST_LAG_US: '3000' });
    const busy = r.busy as number[];
    expect(busy.at(-1), JSON.stringify(busy)).toBe(1);
    expect(busy[0], JSON.stringify(busy)).toBe(2); // the first lagged call ran on both threads
    expect(busy.slice(0, -1).every((t) => t === 2), JSON.stringify(busy)).toBe(true);
    expect(r.other).toBe(2);
    expect(r.probes as number).toBeGreaterThanOrEqual(1);
    expect(r.back, JSON.stringify(r.seq)).toBe(2); // came back
    expect(r.recoveries, JSON.stringify(r.seq)).toBe(1);
  }, 60000);
});
