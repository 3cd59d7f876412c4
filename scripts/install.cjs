#!/usr/bin/env node
// `npm install` hook. Keeps a prebuilt addon when one loads; otherwise builds the addon from source with
// cmake-js. If that fails too (no compiler, no cmake), it warns and exits 0: rnnkit then runs on WebAssembly,
// and `rnnkit info` says why the native backend is missing. Set RNNKIT_SKIP_NATIVE_BUILD=1 to skip the build.
'use strict';
const path = require('node:path');
const { spawnSync } = require('node:child_process');

const root = path.join(__dirname, '..');

function addonLoads() {
  try {
    require('node-gyp-build')(root);
    return true;
  } catch {
    return false;
  }
}

if (addonLoads()) {
  console.log('rnnkit: native addon found');
  process.exit(0);
}
if (process.env.RNNKIT_SKIP_NATIVE_BUILD) {
  console.warn('rnnkit: RNNKIT_SKIP_NATIVE_BUILD is set; using the WebAssembly backend');
  process.exit(0);
}
let cmakeJs;
try {
  cmakeJs = require.resolve('cmake-js/bin/cmake-js');
} catch {
  console.warn('rnnkit: cmake-js is not installed; using the WebAssembly backend');
  process.exit(0);
}
console.log('rnnkit: no prebuilt addon for this platform; building it from source (cmake-js)');
const r = spawnSync(process.execPath, [cmakeJs, 'rebuild'], { cwd: root, stdio: 'inherit' });
if (r.status === 0 && addonLoads()) {
  console.log('rnnkit: native addon built');
} else {
  console.warn(
    'rnnkit: WARNING: the native addon could not be built (needs cmake and a C++17 compiler); ' +
      'rnnkit will use its WebAssembly backend. Retry with `npm rebuild rnnkit`.',
  );
}
process.exit(0);
