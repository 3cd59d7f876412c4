// The WebAssembly backend's browser adapter (the core is wasm-core.ts): the builds fetched from a URL (default:
// next to the bundle), workers as Web Workers, threads only where the page is cross-origin isolated (a shared
// memory needs it), one thread otherwise. A browser compiles asynchronously, so the backend is loaded once by
// loadWasmBackend (the browser entry's ready()); the registry's synchronous loader then returns it.
//
// A browser's main thread may not sleep in Atomics.wait (memory.atomic.wait traps there), so thread 0's barriers
// only spin, bounded by MAIN_SPINS polls: a barrier waits for workers that are already running their part of a
// step, which takes microseconds; a wait that reached the bound would trap, the call would fail with E_BACKEND and
// the backend would run every later call on one thread. Workers spin, then sleep, as in Node.
import { RnnkitError } from '../errors.js';
import type { Backend } from './types.js';
import {
  backendOf, buildImports, MAX_THREADS, planBuild, SPINS, type BuildPlan, type Candidate, type Spins, type ThreadHost,
} from './wasm-core.js';

/** Thread 0's barrier polls in a browser: the largest the kernels take (an i32), a few seconds of spinning. */
export const MAIN_SPINS = 2 ** 31 - 1;

export interface BrowserWasmOptions {
  /** The folder (URL) the .wasm builds are fetched from; default: the bundle's own folder. */
  wasmUrl?: string | URL;
  /**
   * Threads, 1 to 16, or 'auto' (the default): 2 where the page is cross-origin isolated (served with COOP/COEP
   * headers) and the machine has at least 2 cores, else 1. More than 1 on a page that is not isolated gives 1,
   * with a note in the backend's details.
   */
  threads?: number | 'auto';
  /** Relaxed SIMD (fused multiply-add) where the engine validates it (default true); false keeps to SIMD128. */
  relaxed?: boolean;
  /**
   * Barrier polls, for tuning and tests (RNNKIT_WASM_SPINS in Node): `worker` before a worker sleeps, `idle` between
   * jobs, `main` before the page's thread gives up on a barrier (it may not sleep): a threaded call that waits
   * longer fails with E_BACKEND, and later calls run on one thread. Integers from 0 to 2^31-1; defaults: SPINS in
   * wasm-core.ts, MAIN_SPINS for main.
   */
  spins?: Partial<Spins>;
}

function spinsOf(opt: Partial<Spins> | undefined): Spins {
  const spins = { ...SPINS, main: MAIN_SPINS };
  if (opt === undefined) return spins;
  if (opt === null || typeof opt !== 'object') throw new RnnkitError('E_ARGUMENT', `spins: expected an object, found ${opt === null ? 'null' : typeof opt}`);
  for (const key of ['main', 'worker', 'idle'] as const) {
    const v = opt[key];
    if (v === undefined) continue;
    if (!Number.isInteger(v) || v < 0 || v > MAIN_SPINS) {
      throw new RnnkitError('E_ARGUMENT', `spins.${key}: expected an integer from 0 to 2^31-1, found ${String(v)}`);
    }
    spins[key] = v;
  }
  return spins;
}

/**
 * A worker's script (classic, from a Blob URL): its own instance of the module over the shared memory (sent in
 * the first message), its packing area, then the kernels' worker loop, which returns only for an exit job.
 */
const WORKER_SOURCE = `
onmessage = (e) => {
  const { module, memory, ctx, ctrl, tid, spins, idleSpins } = e.data;
  const k = new WebAssembly.Instance(module, { env: { memory } }).exports;
  k.setThread(ctx, spins, ctrl);
  k.workerLoop(tid, idleSpins);
  close();
};
`;

let workerUrl: string | null = null;

const webWorkers: ThreadHost = {
  kind: 'Web Workers',
  start(data, fail) {
    workerUrl ??= URL.createObjectURL(new Blob([WORKER_SOURCE], { type: 'text/javascript' }));
    const w = new Worker(workerUrl, { name: `rnnkit-wasm-${data.tid}` });
    w.onerror = (e) => fail(`a worker failed: ${e.message}`);
    w.onmessageerror = () => fail('a worker could not receive the module and memory');
    w.postMessage(data);
    return () => w.terminate();
  },
};

function threadCount(opt: BrowserWasmOptions['threads'], notes: string[]): number {
  const isolated = (globalThis as { crossOriginIsolated?: boolean }).crossOriginIsolated === true;
  const cores = (globalThis as { navigator?: { hardwareConcurrency?: number } }).navigator?.hardwareConcurrency ?? 1;
  if (opt === undefined || opt === 'auto') {
    if (!isolated) notes.push('one thread: the page is not cross-origin isolated (serve it with COOP/COEP headers for threads)');
    return isolated && cores >= 2 ? 2 : 1;
  }
  if (!Number.isInteger(opt) || opt < 1 || opt > MAX_THREADS) {
    throw new RnnkitError('E_ARGUMENT', `threads: expected an integer from 1 to ${MAX_THREADS}, or 'auto', found ${String(opt)}`);
  }
  if (opt > 1 && !isolated) {
    notes.push(`one thread, not ${opt}: the page is not cross-origin isolated (serve it with COOP/COEP headers)`);
    return 1;
  }
  return opt;
}

async function fetchBytes(url: URL): Promise<Uint8Array<ArrayBuffer> | Error> {
  try {
    const r = await fetch(url);
    if (!r.ok) return new Error(`HTTP ${r.status} ${r.statusText}`.trim());
    return new Uint8Array(await r.arrayBuffer());
  } catch (e) {
    return e as Error;
  }
}

/** The first candidate that fetches (and, if relaxed, validates); notes why the others were passed over. */
async function choose(plan: BuildPlan, base: URL): Promise<{ c: Candidate; bytes: Uint8Array<ArrayBuffer>; url: URL }> {
  for (const c of plan.candidates) {
    const url = new URL(c.file, base);
    const bytes = await fetchBytes(url);
    if (!c.relaxed) {
      if (bytes instanceof Error) {
        throw new RnnkitError('E_BACKEND', `cannot fetch the WASM build ${url.href}: ${bytes.message} (set wasmUrl to the folder holding ${c.file})`, { cause: bytes });
      }
      return { c, bytes, url };
    }
    if (bytes instanceof Error) plan.notes.push(`relaxed SIMD build unreadable (${bytes.message})`);
    else if (WebAssembly.validate(bytes)) return { c, bytes, url };
    else plan.notes.push('relaxed SIMD not supported by this engine');
  }
  throw new RnnkitError('E_BACKEND', 'WASM backend: no build to load'); // planBuild always ends with a plain build
}

let loaded: Backend | null = null;
let loading: Promise<Backend> | null = null;

/**
 * Fetches, compiles and starts the WASM backend (once per page: later calls return the same backend, whatever
 * their options). Its workers start on the first call large enough to use them.
 */
export function loadWasmBackend(opts: BrowserWasmOptions = {}): Promise<Backend> {
  loading ??= (async () => {
    if (opts === null || typeof opts !== 'object') throw new RnnkitError('E_ARGUMENT', `ready options: expected an object, found ${opts === null ? 'null' : typeof opts}`);
    const notes: string[] = [];
    const threads = threadCount(opts.threads, notes);
    const relaxed = opts.relaxed ?? true;
    const spins = spinsOf(opts.spins);
    const plan = planBuild(threads, relaxed, false);
    plan.notes.unshift(...notes);
    if (!relaxed) plan.notes.push('relaxed SIMD off (relaxed: false)');
    const base = new URL(String(opts.wasmUrl ?? './'), opts.wasmUrl === undefined ? import.meta.url : globalThis.location?.href);
    const { c, bytes, url } = await choose(plan, base);
    try {
      const module = await WebAssembly.compile(bytes);
      const instance = await WebAssembly.instantiate(module, buildImports(plan));
      loaded = backendOf(instance, url.href, {
        file: c.file, module, relaxed: c.relaxed, spins, lagUs: 0,
        host: plan.threads > 1 ? webWorkers : null,
      }, plan);
      return loaded;
    } catch (e) {
      if (e instanceof RnnkitError) throw e;
      throw new RnnkitError('E_BACKEND', `cannot compile the WASM build ${url.href} (needs WebAssembly SIMD): ${(e as Error).message}`, { cause: e });
    }
  })();
  loading.catch(() => { loading = null; }); // a failed load (say, offline) may be tried again
  return loading;
}

/** The loaded backend (the registry's loader in a browser), or E_BACKEND when ready() has not finished. */
export function loadWasmBackendSync(): Backend {
  if (loaded === null) {
    throw new RnnkitError('E_BACKEND', 'the WASM backend is not loaded yet in this page: await ready() (rnnkit\'s browser entry) before building a model');
  }
  return loaded;
}
