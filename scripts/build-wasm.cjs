// Builds the WebAssembly backend: assembly/kernels.ts -> dist/wasm/rnnkit.wasm (outside build/, which cmake-js rebuild deletes) (AssemblyScript, SIMD128).
// Uses the asc from node_modules (never PATH) and exits non-zero on any failure.
'use strict';
const { spawnSync } = require('node:child_process');
const fs = require('node:fs');
const path = require('node:path');

const root = path.resolve(__dirname, '..');
const out = path.join(root, 'dist', 'wasm', 'rnnkit.wasm');

function fail(message) {
  console.error(`build-wasm: ${message}`);
  process.exit(1);
}

let asc;
try {
  asc = require.resolve('assemblyscript/bin/asc.js', { paths: [root] });
} catch (err) {
  fail(`cannot find AssemblyScript's asc (npm install first): ${err.message}`);
}

fs.mkdirSync(path.dirname(out), { recursive: true });
fs.rmSync(out, { force: true });

const args = [
  asc,
  'assembly/kernels.ts',
  '--enable', 'simd',
  '--runtime', 'stub',
  '-O3',
  '--noAssert',
  '--use', 'abort=', // no abort import: a kernel never asserts (the JS side checks every size first)
  '--outFile', out,
];
if (process.argv.includes('--text')) args.push('--textFile', out.replace(/\.wasm$/, '.wat'));

const run = spawnSync(process.execPath, args, { cwd: root, stdio: 'inherit' });
if (run.error) fail(`could not run asc: ${run.error.message}`);
if (run.status !== 0) fail(`asc exited with ${run.status ?? run.signal}`);
if (!fs.existsSync(out) || fs.statSync(out).size === 0) fail(`asc reported success but ${out} is missing`);
console.log(`build-wasm: wrote ${path.relative(root, out)} (${fs.statSync(out).size} bytes)`);
