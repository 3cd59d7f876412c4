// Builds the WebAssembly backend from one source, assembly/ (entry assembly/index.ts), into dist/wasm/ (outside
// build/, which cmake-js rebuild deletes). Four release builds, chosen at load time by src/backend/wasm-core.ts:
//   rnnkit.wasm              SIMD128, its own memory (one thread)
//   rnnkit-relaxed.wasm      + relaxed SIMD (fused multiply-add; Node 20 needs --experimental-wasm-relaxed-simd)
//   rnnkit-mt.wasm           SIMD128, imported shared memory (worker threads)
//   rnnkit-relaxed-mt.wasm   both
// and the two threaded ones again as test builds (*-testhooks.wasm, entry assembly/testhooks.ts, RNNKIT_TEST_HOOKS
// defined): they add setTestLag, which src/backend/wasm-node.ts uses only when RNNKIT_TEST_LAG_US is set; the release builds
// compile the lag out.
// The threaded builds import env.memory with MT_INITIAL_PAGES pages and a maximum of MT_MAXIMUM_PAGES: the
// same numbers as in src/backend/wasm-core.ts, which creates that memory.
// Uses the asc from node_modules (never PATH) and exits non-zero on any failure. --text also writes .wat files.
'use strict';
const { spawnSync } = require('node:child_process');
const fs = require('node:fs');
const path = require('node:path');

const root = path.resolve(__dirname, '..');
const outDir = path.join(root, 'dist', 'wasm');
const MT_INITIAL_PAGES = 32; // 2 MiB: more than the static data (the control block and Math tables)
const MT_MAXIMUM_PAGES = 65536; // 4 GiB, all of wasm32

const RELEASE = 'assembly/index.ts';
const TEST = 'assembly/testhooks.ts';
const RELAXED = ['--enable', 'relaxed-simd'];
const THREADS = ['--enable', 'threads', '--sharedMemory', '--importMemory',
  '--initialMemory', String(MT_INITIAL_PAGES), '--maximumMemory', String(MT_MAXIMUM_PAGES)];
const HOOKS = ['--use', 'RNNKIT_TEST_HOOKS=1'];

const BUILDS = [
  { file: 'rnnkit.wasm', entry: RELEASE, flags: [] },
  { file: 'rnnkit-relaxed.wasm', entry: RELEASE, flags: RELAXED },
  { file: 'rnnkit-mt.wasm', entry: RELEASE, flags: THREADS },
  { file: 'rnnkit-relaxed-mt.wasm', entry: RELEASE, flags: [...RELAXED, ...THREADS] },
  { file: 'rnnkit-mt-testhooks.wasm', entry: TEST, flags: [...THREADS, ...HOOKS] },
  { file: 'rnnkit-relaxed-mt-testhooks.wasm', entry: TEST, flags: [...RELAXED, ...THREADS, ...HOOKS] },
];

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

fs.mkdirSync(outDir, { recursive: true });
for (const build of BUILDS) {
  const out = path.join(outDir, build.file);
  fs.rmSync(out, { force: true });
  fs.rmSync(out.replace(/\.wasm$/, '.wat'), { force: true });
  const args = [
    asc,
    build.entry,
    '--enable', 'simd',
    ...build.flags,
    '--runtime', 'stub',
    '-O3',
    '--noAssert',
    '--use', 'abort=', // no abort import: a kernel never asserts (the JS side checks every size first)
    '--outFile', out,
  ];
  if (process.argv.includes('--text')) args.push('--textFile', out.replace(/\.wasm$/, '.wat'));
  const run = spawnSync(process.execPath, args, { cwd: root, stdio: 'inherit' });
  if (run.error) fail(`could not run asc: ${run.error.message}`);
  if (run.status !== 0) fail(`asc exited with ${run.status ?? run.signal} building ${build.file}`);
  if (!fs.existsSync(out) || fs.statSync(out).size === 0) fail(`asc reported success but ${out} is missing`);
  console.log(`build-wasm: wrote ${path.relative(root, out)} (${fs.statSync(out).size} bytes)`);
}
