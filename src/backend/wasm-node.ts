// The WebAssembly backend's Node adapter (the core is wasm-core.ts): the builds read from dist/wasm/, workers as
// worker_threads, relaxed SIMD switched on with a V8 flag where Node 20 needs it, and the RNNKIT_* settings:
// RNNKIT_WASM_THREADS (default 2 on a machine with at least 2 cores; 1 gives the one-thread build: no workers, no
// shared memory), RNNKIT_WASM_RELAXED, RNNKIT_WASM_SPINS, and for tests RNNKIT_TEST_LAG_US. Node lets the main
// thread sleep in Atomics.wait, so its barriers spin, then sleep, like the workers'.
import { readFileSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { fileURLToPath } from 'node:url';
import { setFlagsFromString } from 'node:v8';
import { Worker } from 'node:worker_threads';
import { RnnkitError } from '../errors.js';
import { readSetting, settingError } from './settings.js';
import type { Backend } from './types.js';
import {
  backendOf, buildImports, MAX_THREADS, planBuild, SPINS, type BuildFile, type BuildPlan, type Candidate, type Spins,
  type ThreadHost,
} from './wasm-core.js';

/** Two levels below the package root both as src/backend/wasm-node.ts and as dist/backend/wasm-node.js. */
const WASM_DIR = new URL('../../dist/wasm/', import.meta.url);

/** RNNKIT_WASM_SPINS=main,worker,idle overrides the poll counts (wasm-core.ts, SPINS; for tuning on a given machine). */
function spinSetting(): Spins {
  const v = readSetting('RNNKIT_WASM_SPINS');
  if (v === '') return SPINS;
  const n = v.split(',').map((x) => (/^\s*\d+\s*$/.test(x) ? Number(x) : NaN));
  if (n.length !== 3 || !n.every((x) => Number.isInteger(x) && x >= 0 && x < 2 ** 31)) {
    throw settingError('RNNKIT_WASM_SPINS', v, 'three poll counts main,worker,idle (integers from 0 to 2^31-1)');
  }
  return { main: n[0]!, worker: n[1]!, idle: n[2]! };
}

/** RNNKIT_WASM_THREADS (1 to MAX_THREADS, or auto), else 2 where there are at least 2 cores. */
function threadSetting(): number {
  const v = readSetting('RNNKIT_WASM_THREADS');
  if (v === '' || v.toLowerCase() === 'auto') return availableParallelism() >= 2 && typeof SharedArrayBuffer === 'function' ? 2 : 1;
  const n = /^\d+$/.test(v) ? Number(v) : NaN;
  if (!Number.isInteger(n) || n < 1 || n > MAX_THREADS) {
    throw settingError('RNNKIT_WASM_THREADS', v, `an integer from 1 to ${MAX_THREADS}, or auto`);
  }
  return n;
}

/** RNNKIT_WASM_RELAXED=0 (or false, off) keeps to plain SIMD128; 1 (true, on, auto, unset) uses relaxed SIMD where it validates. */
function relaxedWanted(): boolean {
  const v = readSetting('RNNKIT_WASM_RELAXED');
  const l = v.toLowerCase();
  if (l === '0' || l === 'false' || l === 'off') return false;
  if (l === '' || l === '1' || l === 'true' || l === 'on' || l === 'auto') return true;
  throw settingError('RNNKIT_WASM_RELAXED', v, '0, false or off (plain SIMD), or 1, true, on or auto (relaxed SIMD where supported)');
}

/**
 * Testing only (test/forward-threads.test.ts): RNNKIT_TEST_LAG_US=n (1 to 1e6, larger is 1e6) makes thread 0
 * pause n microseconds before each of its own chunks of a forward step, so that another thread takes them over.
 * It selects the test builds (*-testhooks.wasm): the release builds hold no lag code.
 */
function testLagUs(): number {
  const lag = Number(process.env.RNNKIT_TEST_LAG_US ?? 0);
  return Number.isInteger(lag) && lag > 0 ? Math.min(lag, 1e6) : 0;
}

let relaxedFlagSet = false;

/**
 * Whether this engine compiles relaxed SIMD. Node 20 (V8 11.3) needs `--experimental-wasm-relaxed-simd`, which
 * NODE_OPTIONS refuses but v8.setFlagsFromString accepts before compiling; newer engines validate without it.
 */
function validatesRelaxed(bytes: Uint8Array<ArrayBuffer>): boolean {
  if (WebAssembly.validate(bytes)) return true;
  if (!relaxedFlagSet) {
    relaxedFlagSet = true;
    try {
      setFlagsFromString('--experimental-wasm-relaxed-simd');
    } catch {
      return false;
    }
  }
  return WebAssembly.validate(bytes);
}

function missing(cause: unknown, f: BuildFile): RnnkitError {
  const file = fileURLToPath(new URL(f, WASM_DIR));
  const code = (cause as NodeJS.ErrnoException | null)?.code;
  if (code === 'ENOENT') {
    return new RnnkitError('E_BACKEND', `the WASM build is missing (${file}): run \`npm run build:wasm\``, { cause });
  }
  return new RnnkitError('E_BACKEND', `cannot read the WASM build ${file}: ${(cause as Error).message}`, { cause });
}

/**
 * A worker's script (CommonJS, run with `eval`): its own instance of the module over the shared memory, its
 * packing area, then the kernels' worker loop, which returns only for an exit job.
 */
const WORKER_SOURCE = `
const { workerData } = require('node:worker_threads');
const { module, memory, ctx, ctrl, tid, spins, idleSpins } = workerData;
const k = new WebAssembly.Instance(module, { env: { memory } }).exports;
k.setThread(ctx, spins, ctrl);
k.workerLoop(tid, idleSpins);
`;

const nodeThreads: ThreadHost = {
  kind: 'worker_threads',
  start(data, fail) {
    const w = new Worker(WORKER_SOURCE, {
      eval: true,
      // No Node flags: by default a worker inherits the process's, and some of those break it: under
      // --input-type=module this CommonJS source does not run, and V8 flags such as --expose-gc make the
      // Worker constructor throw (either way every call ran on one thread). The worker needs none (V8's
      // flags, relaxed SIMD's included, are the process's anyway).
      execArgv: [],
      name: `rnnkit-wasm-${data.tid}`,
      workerData: data,
    });
    w.unref(); // an idle worker never keeps the process alive
    w.on('error', (e: Error) => fail(`a worker failed: ${e.message}`));
    w.on('exit', (code: number) => fail(`a worker exited (code ${code})`));
    return () => void w.terminate();
  },
};

function compileError(e: unknown, file: BuildFile): RnnkitError {
  if (e instanceof RnnkitError) return e;
  return new RnnkitError(
    'E_BACKEND',
    `cannot compile the WASM build ${fileURLToPath(new URL(file, WASM_DIR))} (needs WebAssembly SIMD, Node >= 16.4): ${(e as Error).message}`,
    { cause: e },
  );
}

function readSync(file: BuildFile): Uint8Array<ArrayBuffer> | Error {
  try {
    return new Uint8Array(readFileSync(new URL(file, WASM_DIR)));
  } catch (e) {
    return e as Error;
  }
}

/** The first candidate that reads (and, if relaxed, validates); notes why the others were passed over. */
function choose(plan: BuildPlan): { c: Candidate; bytes: Uint8Array<ArrayBuffer> } {
  for (const c of plan.candidates) {
    const bytes = readSync(c.file);
    if (!c.relaxed) {
      if (bytes instanceof Error) throw missing(bytes, c.file);
      return { c, bytes };
    }
    if (bytes instanceof Error) plan.notes.push(`relaxed SIMD build unreadable (${bytes.message})`);
    else if (validatesRelaxed(bytes)) return { c, bytes };
    else plan.notes.push('relaxed SIMD not supported by this engine');
  }
  throw new RnnkitError('E_BACKEND', 'WASM backend: no build to load'); // planBuild always ends with a plain build
}

/** The WASM backend, compiled synchronously (the module is small: about 50 KB). */
export function loadWasmBackendSync(): Backend {
  const threads = threadSetting();
  const relaxed = relaxedWanted();
  const spins = spinSetting();
  const lagUs = testLagUs();
  const plan = planBuild(threads, relaxed, lagUs > 0);
  if (!relaxed) plan.notes.push('relaxed SIMD off (RNNKIT_WASM_RELAXED)');
  const { c, bytes } = choose(plan);
  try {
    const module = new WebAssembly.Module(bytes);
    const instance = new WebAssembly.Instance(module, buildImports(plan));
    return backendOf(instance, fileURLToPath(new URL(c.file, WASM_DIR)), {
      file: c.file, module, relaxed: c.relaxed, spins, lagUs, host: plan.threads > 1 ? nodeThreads : null,
    }, plan);
  } catch (e) {
    throw compileError(e, c.file);
  }
}
