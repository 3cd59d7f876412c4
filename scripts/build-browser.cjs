// Builds rnnkit for browsers: one ES module, dist/browser/rnnkit.js (esbuild, minified, with a source map), from
// src/browser.ts, and beside it the four release .wasm builds it fetches (from dist/wasm/: run build:wasm first).
// The Node-only modules are replaced by their browser counterparts (SUBSTITUTES: the same exports, no `node:`
// import), and the globals `process` and `setImmediate` by src/node-globals-browser.ts. Any `node:` import left
// in the graph fails the build (esbuild cannot resolve it for the browser platform), as does any Node-only module
// found in the bundle's inputs.
// Prints each file's size, raw and gzipped. Exits non-zero on any failure.
'use strict';
const fs = require('node:fs');
const path = require('node:path');
const zlib = require('node:zlib');

const root = path.resolve(__dirname, '..');
const src = path.join(root, 'src');
const outDir = path.join(root, 'dist', 'browser');
const WASM = ['rnnkit.wasm', 'rnnkit-relaxed.wasm', 'rnnkit-mt.wasm', 'rnnkit-relaxed-mt.wasm'];
/** Node-only module (without extension, under src/) -> its browser counterpart. */
const SUBSTITUTES = {
  'backend/native': 'backend/native-browser.ts',
  'backend/cuda': 'backend/cuda-browser.ts',
  'backend/wasm-node': 'backend/wasm-browser.ts',
  'io/atomic': 'io/atomic-browser.ts',
  'models/fit-in-worker': 'models/fit-in-worker-browser.ts',
};

function fail(message) {
  console.error(`build-browser: ${message}`);
  process.exit(1);
}

const substitute = {
  name: 'rnnkit-browser-substitutes',
  setup(build) {
    build.onResolve({ filter: /^\.\.?\// }, (args) => {
      const rel = path.relative(src, path.resolve(args.resolveDir, args.path)).replace(/\.(js|ts)$/, '');
      const to = SUBSTITUTES[rel.split(path.sep).join('/')];
      return to === undefined ? undefined : { path: path.join(src, to) };
    });
  },
};

async function main() {
  let esbuild;
  try {
    esbuild = require('esbuild');
  } catch (e) {
    fail(`cannot load esbuild (npm install first): ${e.message}`);
  }
  fs.rmSync(outDir, { recursive: true, force: true });
  fs.mkdirSync(outDir, { recursive: true });
  const result = await esbuild.build({
    entryPoints: [path.join(src, 'browser.ts')],
    outfile: path.join(outDir, 'rnnkit.js'),
    bundle: true,
    format: 'esm',
    platform: 'browser',
    target: ['es2022'],
    minify: true,
    sourcemap: true,
    metafile: true,
    inject: [path.join(src, 'node-globals-browser.ts')],
    plugins: [substitute],
    logLevel: 'warning',
  }).catch((e) => fail(`esbuild failed: ${e.message}`));
  const inputs = Object.keys(result.metafile.inputs);
  const nodeOnly = inputs.filter((f) => Object.keys(SUBSTITUTES).some((k) => f === `src/${k}.ts`));
  if (nodeOnly.length) fail(`Node-only modules in the bundle: ${nodeOnly.join(', ')}`);
  for (const f of WASM) {
    const from = path.join(root, 'dist', 'wasm', f);
    if (!fs.existsSync(from)) fail(`${from} is missing: run \`npm run build:wasm\` first`);
    fs.copyFileSync(from, path.join(outDir, f));
  }
  for (const f of ['rnnkit.js', ...WASM]) {
    const bytes = fs.readFileSync(path.join(outDir, f));
    const gz = zlib.gzipSync(bytes, { level: 9 }).length;
    console.log(`${path.join('dist', 'browser', f)}: ${bytes.length} bytes, ${gz} gzipped`);
  }
}

main().catch((e) => fail(e.stack || String(e)));
