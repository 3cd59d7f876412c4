// rnnkit in a browser: the same facade as src/index.ts, built by scripts/build-browser.cjs into one ES module
// (dist/browser/rnnkit.js) with the WASM backend's browser adapter, next to the .wasm builds it fetches. In that
// bundle nothing reads a file or starts a Node worker: models come from a URL (fetchModel) or bytes (fromBytes),
// the native backend reports itself absent, and fit runs on the page's thread.
//
//   import { ready, fetchModel, LanguageModel } from './rnnkit.js';
//   await ready();                                   // fetch + compile the .wasm; threads where cross-origin isolated
//   const lm = LanguageModel.fromBytes(await fetchModel('models/names.safetensors'));
//   lm.stream('Joh').top(3);                         // [{ token: 'n', probability: 0.70 }, ...]
import { retryBackend } from './backend/index.js';
import type { Backend } from './backend/types.js';
import { loadWasmBackend, type BrowserWasmOptions } from './backend/wasm-browser.js';
import { RnnkitError } from './errors.js';
import { MAX_MODEL_BYTES } from './io/model-file.js';

export * from './index.js';
export type { BrowserWasmOptions } from './backend/wasm-browser.js';

/**
 * Loads the WASM backend (once per page): fetches and compiles its build from `opts.wasmUrl` (default: the
 * bundle's folder), with threads where the page is cross-origin isolated. Models built after it resolves use it.
 */
export async function ready(opts: BrowserWasmOptions = {}): Promise<Backend> {
  const backend = await loadWasmBackend(opts);
  retryBackend('wasm'); // a getBackend() before ready() recorded a failure; the backend loads now
  return backend;
}

/** The bytes of a model file at `url` (relative to the page), for LanguageModel.fromBytes and the like. */
export async function fetchModel(url: string | URL, init: { signal?: AbortSignal } = {}): Promise<Uint8Array> {
  const href = new URL(String(url), globalThis.location?.href).href;
  let r: Response;
  try {
    r = await fetch(href, { signal: init.signal ?? null });
  } catch (e) {
    if ((e as Error).name === 'AbortError') throw new RnnkitError('E_ABORTED', `${href}: fetch aborted`, { cause: e });
    throw new RnnkitError('E_IO', `${href}: cannot fetch the model file (${(e as Error).message})`, { cause: e });
  }
  if (!r.ok) throw new RnnkitError('E_IO', `${href}: cannot fetch the model file (HTTP ${r.status} ${r.statusText})`.trim());
  const length = Number(r.headers.get('content-length') ?? 0);
  if (length > MAX_MODEL_BYTES) throw new RnnkitError('E_MODEL_FILE', `${href}: ${length} bytes is larger than a model file may be (${MAX_MODEL_BYTES})`);
  return new Uint8Array(await r.arrayBuffer());
}
