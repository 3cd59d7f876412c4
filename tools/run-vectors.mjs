#!/usr/bin/env node
// Runs every PyTorch vector (test/vectors/*.json) on one backend in plain Node, without vitest: for machines
// where the test runner is too heavy or absent (the arm64 addon under qemu-user, scripts/arm64-vectors.sh; a GPU
// machine). The checks are tools/vector-check.mjs, the same the tests run. Needs a built dist/ (npm run build:ts).
//   node tools/run-vectors.mjs --backend native|wasm|<any backend name the loader knows> [--only <substring>]
// Prints one line per vector and check, then "N passed, N failed"; exits 1 when any failed or nothing ran.
import { performance } from 'node:perf_hooks';
import { parseArgs } from 'node:util';
import { CHECKS, loadVector, vectorFiles } from './vector-check.mjs';

const usage = 'usage: node tools/run-vectors.mjs --backend <name> [--only <substring of a vector file name>]';
let opts;
try {
  opts = parseArgs({ options: { backend: { type: 'string' }, only: { type: 'string' } } }).values;
} catch (e) {
  console.error(`${e.message}\n${usage}`);
  process.exit(2);
}
if (!opts.backend) {
  console.error(`--backend is required\n${usage}`);
  process.exit(2);
}

const { loadBackend } = await import('../dist/backend/index.js');
const { makeRecurrent } = await import('../dist/nn/recurrent.js');
const { tensor } = await import('../dist/tensor.js');
const lib = { makeRecurrent, tensor };

// Load it first, so a missing or refused backend says why (E_BACKEND) instead of failing every vector.
let backend;
try {
  backend = loadBackend(opts.backend);
} catch (e) {
  console.error(`backend ${opts.backend} does not load: ${e.message}`);
  process.exit(1);
}
console.log(`backend ${opts.backend}: ${backend.details}`);
console.log(`node ${process.version} ${process.platform}-${process.arch}`);

const files = vectorFiles().filter((f) => !opts.only || f.includes(opts.only));
const t0 = performance.now();
let passed = 0, failed = 0;
for (const file of files) {
  const v = loadVector(file);
  for (const [name, check] of CHECKS) {
    let problems;
    try {
      problems = check(lib, v, opts.backend);
    } catch (e) {
      problems = [`threw ${e.code ?? e.name}: ${e.message}`];
    }
    if (problems.length === 0) {
      passed++;
      console.log(`ok   ${file}: ${name}`);
    } else {
      failed++;
      console.log(`FAIL ${file}: ${name}\n${problems.map((p) => `       ${p}`).join('\n')}`);
    }
  }
}
console.log(`${passed} passed, ${failed} failed (${files.length} vectors, ${((performance.now() - t0) / 1000).toFixed(1)} s)`);
process.exit(failed === 0 && passed > 0 ? 0 : 1);
