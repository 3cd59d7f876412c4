// The native addon in a browser build (scripts/build-browser.cjs puts this in place of native.ts): there is none,
// and the registry says so, then uses WebAssembly.
import { RnnkitError } from '../errors.js';
import type { Backend } from './types.js';

export function loadNativeBackend(): Backend {
  throw new RnnkitError('E_BACKEND', 'the native addon runs in Node only: in a browser rnnkit runs on WebAssembly');
}
