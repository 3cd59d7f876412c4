// The CUDA addon in a browser build (scripts/build-browser.cjs puts this in place of cuda.ts): there is none, and
// the registry says so when a page asks for it.
import type { Backend } from './types.js';

export function loadCudaBackend(): Backend | string {
  return 'the CUDA addon runs in Node only: in a browser rnnkit runs on WebAssembly';
}
