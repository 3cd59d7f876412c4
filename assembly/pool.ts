// Threads (native/pool.cc): the control block all threads share, the spin-then-wait barrier, the start and wait
// of a job, and the splitting of work between threads.
//
// In the threaded builds every thread runs its own instance of the module over one shared memory: wasm globals
// are per instance (per thread), memory is shared. Thread 0 (the caller) describes a job in the control block
// (index.ts, run) and runs its part; the workers (threads 1..nt-1) sit in workerLoop (index.ts) and run theirs.
// A job's parts meet at barriers; the last one ends the job, so when thread 0 returns every thread has finished
// writing. The one-thread builds compile the same source with every atomic and wait folded away.
import { f4 } from './vecmath';

// The control block (one for all threads, from JavaScript's allocator). Byte offsets, hot fields on their own
// cache lines:
const JOB_GEN: usize = 0; // bumped by thread 0 for each threaded job; workers wait on it
const JOB_SLEEP: usize = 4; // workers asleep on JOB_GEN (thread 0 notifies only when non-zero)
export const READY: usize = 8; // workers that entered workerLoop
export const IDLE_WAITS: usize = 12; // statistics: times a worker slept between jobs
export const SHARED_CHUNKS: usize = 16; // statistics: chunks cellForward's threads took over from another
const LAG_WORD: usize = 20; // always 0: what the test lag waits on (testLag)
export const GROUP_CALLS: usize = 24; // statistics: cellForward / cellBackward calls in batch groups
const BAR_COUNT: usize = 64; // threads arrived at the current barrier
const BAR_GEN: usize = 68; // barrier generation
const BAR_SLEEP: usize = 72; // threads asleep on BAR_GEN
export const BAR_WAITS: usize = 76; // statistics: barrier waits that had to sleep
export const OP: usize = 128; // the job: 0 exit (workers return from workerLoop), else a JOB_* code (index.ts)
export const NT: usize = 132; // threads taking part
export const ARGS: usize = 192; // the job's arguments: i32 / u32 / f32 slots of 4 bytes (a float64 takes two)
export const MAX_ARGS: i32 = 48;
const CLAIMS: usize = 448; // per-thread chunk counters of cellForward, 64 bytes apart (claimChunk)
export const MAX_THREADS: i32 = 16; // src/backend/wasm-core.ts checks its own against it (CTRL_MAX_THREADS)
export const CTRL_BYTES: i32 = <i32>CLAIMS + MAX_THREADS * 64;

let ctrl: usize = 0; // the control block, allocated by JavaScript
let spinLimit: i32 = 1 << 16; // barrier polls before sleeping
let jobSeen: i32 = 0; // a worker's last job generation

/** This thread's control block (zeroed, CTRL_BYTES, the same for every thread) and barrier spins. */
export function setControl(control: usize, spins: i32): void {
  ctrl = control;
  spinLimit = spins;
}

/**
 * Sleeps while the i32 at ctrl + word holds `seen`, counted in ctrl + sleepers meanwhile (so that a waker
 * notifies only when someone sleeps) and in the statistic ctrl + waits afterwards.
 */
// @ts-ignore: decorator
@inline function sleepWhile(word: usize, seen: i32, sleepers: usize, waits: usize): void {
  atomic.add<i32>(ctrl + sleepers, 1);
  atomic.wait<i32>(ctrl + word, seen, -1);
  atomic.sub<i32>(ctrl + sleepers, 1);
  atomic.add<i32>(ctrl + waits, 1);
}

/** All nt threads of the job meet here: spin for spinLimit polls, then sleep (the last to arrive notifies). */
export function barrier(nt: i32): void {
  if (ASC_FEATURE_THREADS) {
    if (nt <= 1) return;
    const gen = atomic.load<i32>(ctrl + BAR_GEN);
    if (atomic.add<i32>(ctrl + BAR_COUNT, 1) == nt - 1) {
      atomic.store<i32>(ctrl + BAR_COUNT, 0);
      atomic.add<i32>(ctrl + BAR_GEN, 1);
      if (atomic.load<i32>(ctrl + BAR_SLEEP) != 0) atomic.notify(ctrl + BAR_GEN, 0x7fffffff);
      return;
    }
    let n = 0;
    while (atomic.load<i32>(ctrl + BAR_GEN) == gen) {
      if (++n > spinLimit) {
        sleepWhile(BAR_GEN, gen, BAR_SLEEP, BAR_WAITS);
        n = 0;
      }
    }
  }
}

/** The job's code (OP) and threads (NT). */
// @ts-ignore: decorator
@inline export function jobOp(): i32 {
  return load<i32>(ctrl + OP);
}

// @ts-ignore: decorator
@inline export function jobThreads(): i32 {
  return load<i32>(ctrl + NT);
}

/** Argument slot i of the job as an integer, a pointer or a float. */
// @ts-ignore: decorator
@inline export function argI(i: i32): i32 {
  return load<i32>(ctrl + ARGS + f4(i));
}

// @ts-ignore: decorator
@inline export function argP(i: i32): usize {
  return <usize>load<u32>(ctrl + ARGS + f4(i));
}

// @ts-ignore: decorator
@inline export function argF(i: i32): f32 {
  return load<f32>(ctrl + ARGS + f4(i));
}

/** Slots i and i + 1 of the job as one float64 (little-endian, as JavaScript wrote it). */
// @ts-ignore: decorator
@inline export function argD(i: i32): f64 {
  return load<f64>(ctrl + ARGS + f4(i));
}

/** Thread 0, before its own part: wakes the workers for the job in the control block when it has nt > 1. */
export function startJob(): void {
  if (ASC_FEATURE_THREADS) {
    if (load<i32>(ctrl + NT) > 1) {
      memory.fill(ctrl + CLAIMS, 0, <usize>MAX_THREADS * 64); // no counter is open for any step of this job
      atomic.add<i32>(ctrl + JOB_GEN, 1);
      if (atomic.load<i32>(ctrl + JOB_SLEEP) != 0) atomic.notify(ctrl + JOB_GEN, 0x7fffffff);
    }
  }
}

/** A worker announces itself (READY) before waiting for its first job. */
export function workerReady(): void {
  if (ASC_FEATURE_THREADS) {
    jobSeen = atomic.load<i32>(ctrl + JOB_GEN);
    atomic.add<i32>(ctrl + READY, 1);
  }
}

/**
 * A worker waits for the next job: polls idleSpins times, then sleeps on JOB_GEN. False for the exit job (OP
 * 0): the worker has then left READY.
 */
export function awaitJob(idleSpins: i32): bool {
  if (ASC_FEATURE_THREADS) {
    let n = 0;
    let g = atomic.load<i32>(ctrl + JOB_GEN);
    while (g == jobSeen) {
      if (++n > idleSpins) {
        sleepWhile(JOB_GEN, jobSeen, JOB_SLEEP, IDLE_WAITS);
        n = 0;
      }
      g = atomic.load<i32>(ctrl + JOB_GEN);
    }
    jobSeen = g;
    if (load<i32>(ctrl + OP) != 0) return true;
    atomic.sub<i32>(ctrl + READY, 1);
  }
  return false;
}

/**
 * The elementwise passes (fill, Adam, SGD, scale, dropout, a copy of one row) give each thread one range of whole
 * cache lines (16 floats: no line is written by two threads). Each element's arithmetic is its own, so the results
 * are one thread's bits on any count.
 */
export const RANGE_ALIGN: i32 = 16;

/** [begin, end) of part i of n over `total` items, in whole blocks of `align` (native's split_range). */
// @ts-ignore: decorator
@inline export function splitBegin(total: i32, n: i32, i: i32, align: i32): i32 {
  const blocks = (total + align - 1) / align;
  return min<i32>(total, <i32>((<i64>blocks * i) / n) * align);
}

// @ts-ignore: decorator
@inline export function splitEnd(total: i32, n: i32, i: i32, align: i32): i32 {
  return i == n - 1 ? total : splitBegin(total, n, i + 1, align);
}

// Per-step work sharing in cellForward, as in native/kernels.cc: a virtual machine's cores often run at
// different speeds from moment to moment, so a thread claims its chunks one at a time and, done with its own,
// takes the chunks another thread has not started. Thread i's counter (CLAIMS + 64 i) holds the step it is open
// for (high half, step + 1, stored once the owner's input projection for the step is written) and how many of
// its chunks are claimed (low half). A chunk is computed the same way by any thread.

/** Opens thread tid's counter for step s, none of its chunks claimed. */
// @ts-ignore: decorator
@inline export function openClaims(tid: i32, s: i32): void {
  const at = ctrl + CLAIMS + (<usize>tid << 6);
  if (ASC_FEATURE_THREADS) atomic.store<i64>(at, (<i64>(s + 1)) << 32);
  else store<i64>(at, (<i64>(s + 1)) << 32);
}

/** The next unclaimed chunk (0-based, < n) of thread owner's counter if it is open for step s, else -1. */
export function claimChunk(owner: i32, s: i32, n: i32): i32 {
  const at = ctrl + CLAIMS + (<usize>owner << 6);
  const tag = (<i64>(s + 1)) << 32;
  if (ASC_FEATURE_THREADS) {
    let v = atomic.load<i64>(at);
    while ((v & 0xffffffff00000000) == tag && <i32>(v & 0xffffffff) < n) {
      const seen = atomic.cmpxchg<i64>(at, v, v + 1);
      if (seen == v) return <i32>(v & 0xffffffff);
      v = seen;
    }
    return -1;
  }
  const v = load<i64>(at);
  if ((v & 0xffffffff00000000) != tag || <i32>(v & 0xffffffff) >= n) return -1;
  store<i64>(at, v + 1);
  return <i32>(v & 0xffffffff);
}

/** Statistics: a cellForward or cellBackward call in batch groups (thread 0 counts it). */
// @ts-ignore: decorator
@inline export function noteGroupCall(): void {
  if (ASC_FEATURE_THREADS) atomic.add<i32>(ctrl + GROUP_CALLS, 1);
}

/** Statistics: a chunk computed by a thread other than its owner. */
// @ts-ignore: decorator
@inline export function noteSharedChunk(): void {
  if (ASC_FEATURE_THREADS) atomic.add<i32>(ctrl + SHARED_CHUNKS, 1);
}

// Testing only, and only in the test-hooks builds (scripts/build-wasm.cjs defines RNNKIT_TEST_HOOKS for them;
// the release builds compile testLag to nothing and do not export setTestLag).
let testLagNs: i32 = 0;

/** Thread 0's pause before each chunk of its own, in ns (src/backend/wasm-node.ts: RNNKIT_TEST_LAG_US). */
export function setTestLag(ns: i32): void {
  testLagNs = ns;
}

/** Before a chunk of the thread's own: the test lag, if this instance has one. */
// @ts-ignore: decorator
@inline export function testLag(): void {
  // @ts-ignore: RNNKIT_TEST_HOOKS exists only in the test builds (asc --use RNNKIT_TEST_HOOKS=1)
  if (isDefined(RNNKIT_TEST_HOOKS)) {
    if (ASC_FEATURE_THREADS) {
      if (testLagNs > 0) atomic.wait<i32>(ctrl + LAG_WORD, 0, <i64>testLagNs);
    }
  }
}
