#!/usr/bin/env node
// `npm pack` / `npm publish` run this first (package.json "prepack"): it builds the addon for each platform the
// package ships prebuilt and puts it where node-gyp-build looks in a consumer's install,
// prebuilds/linux-<arch>/rnnkit.glibc.node (the glibc tag: on musl, Alpine, node-gyp-build skips it and rnnkit
// runs on WebAssembly instead of failing to load it). A consumer installing with --ignore-scripts, or without
// cmake and a compiler, then gets the native backend on these platforms.
//   RNNKIT_PREBUILD_ARCHS=x64,arm64 (the default; `npm run build:prebuilds -- x64` or arguments choose others)
//   RNNKIT_PREBUILD_CUDA=0 leaves out the x64 CUDA addon (prebuilds/linux-x64/cuda/), built where nvcc is found
// arm64 is cross-built on x64 with Debian's cross toolchain (crossbuild-essential-arm64) and
// cmake/aarch64-linux-gnu.cmake. Each build has its own folder under build/prebuild-<arch>, so the development
// build in build/Release (which node-gyp-build prefers) is left alone. Under `npm pack` and `npm publish`, or run
// by hand, it fails (exit 1) when any build fails: a tarball silently without a prebuild would fall back to
// WebAssembly on every consumer's machine. npm also runs prepack when it installs rnnkit from a git URL; there a
// build that fails (no cross toolchain) only leaves its prebuild out, with a warning, and the install goes on.
'use strict';
const fs = require('node:fs');
const path = require('node:path');
const { spawnSync } = require('node:child_process');

const root = path.join(__dirname, '..');
const NAME = 'rnnkit.glibc.node';
// What each target needs: ELF e_machine (offset 18), the cmake toolchain file when cross-compiling from another
// host, and the strip binary that understands it.
const TARGETS = {
  x64: { machine: 62, cross: null, strip: 'strip' },
  arm64: { machine: 183, cross: 'cmake/aarch64-linux-gnu.cmake', strip: 'aarch64-linux-gnu-strip' },
};

// npm_command is the npm command that runs this lifecycle script (unset when run by hand).
const strict = !process.env.npm_command || ['pack', 'publish'].includes(process.env.npm_command);

function fail(msg) {
  console.error(`prepack: ${msg}`);
  process.exit(1);
}

// Everything goes to stderr: stdout is `npm pack --json`'s.
const log = (msg) => console.error(`prepack: ${msg}`);

function run(cmd, args) {
  log([cmd, ...args].join(' '));
  const r = spawnSync(cmd, args, { cwd: root, stdio: [0, 2, 2] });
  const name = cmd === process.execPath ? path.basename(args[0]) : cmd; // node <script>: the script's name
  if (r.error) throw new Error(`${name} could not run (${r.error.message})`);
  if (r.status !== 0) throw new Error(`${name} exited with ${r.status ?? r.signal}`);
}

const fromArgs = process.argv.slice(2).filter((a) => !a.startsWith('-'));
const archs = (fromArgs.length ? fromArgs.join(',') : process.env.RNNKIT_PREBUILD_ARCHS || 'x64,arm64')
  .split(',').map((s) => s.trim()).filter(Boolean);
if (process.platform !== 'linux') {
  if (strict) fail(`prebuilds are made on linux (this is ${process.platform})`);
  log(`WARNING: no prebuilds (they are made on linux; this is ${process.platform})`);
  process.exit(0);
}
for (const arch of archs) {
  if (!TARGETS[arch]) fail(`RNNKIT_PREBUILD_ARCHS: unknown arch "${arch}" (expected ${Object.keys(TARGETS).join(', ')})`);
}

const cmakeJs = require.resolve('cmake-js/bin/cmake-js');

/** Builds, strips and checks prebuilds/linux-<arch>/rnnkit.glibc.node; throws saying what failed. */
function prebuild(arch) {
  const t = TARGETS[arch];
  const out = path.join('build', `prebuild-${arch}`);
  const args = [cmakeJs, 'rebuild', '--out', out, '--arch', arch, '--target', 'rnnkit'];
  if (arch !== process.arch) {
    if (!t.cross || process.arch !== 'x64') throw new Error(`cannot cross-build ${arch} on ${process.arch}`);
    args.push(`--CDCMAKE_TOOLCHAIN_FILE=${path.join(root, t.cross)}`);
  }
  const dir = path.join(root, 'prebuilds', `linux-${arch}`);
  // Gone first: a failed build must not leave an older prebuild to be packed.
  fs.rmSync(dir, { recursive: true, force: true });
  run(process.execPath, args);

  const built = path.join(root, out, 'Release', 'rnnkit.node');
  fs.mkdirSync(dir, { recursive: true });
  const dest = path.join(dir, NAME);
  fs.copyFileSync(built, dest);
  run(t.strip, ['--strip-all', dest]);

  const machine = fs.readFileSync(dest).readUInt16LE(18);
  if (machine !== t.machine) throw new Error(`${dest} is for ELF machine ${machine}, expected ${t.machine} (${arch})`);
  if (arch === process.arch) {
    // The one this Node can load: load it, in a child so a crash names the file.
    const probe = 'const a = require(process.argv[1]); if (typeof a.cellForward !== "function") process.exit(3)';
    const r = spawnSync(process.execPath, ['-e', probe, dest], { stdio: [0, 2, 2] });
    if (r.status !== 0) throw new Error(`${dest} does not load in this Node (exit ${r.status ?? r.signal})`);
  }
  log(`${path.relative(root, dest)} (${fs.statSync(dest).size} bytes)`);
}

/**
 * The CUDA addon for x64 (native/cuda/, README "On an NVIDIA GPU"), in prebuilds/linux-x64/cuda/ where
 * node-gyp-build never looks (an untagged .node beside the CPU addon could be taken for it). Built where nvcc is
 * found, unless RNNKIT_PREBUILD_CUDA=0; it links the CUDA runtime statically and opens cuBLAS at run time, so a
 * consumer needs only a driver and cuBLAS. Returns without it, with a warning, where nvcc is missing.
 */
function prebuildCuda() {
  if (process.env.RNNKIT_PREBUILD_CUDA === '0') return log('no CUDA prebuild (RNNKIT_PREBUILD_CUDA=0)');
  if (spawnSync('nvcc', ['--version'], { stdio: 'ignore' }).status !== 0) {
    return log('WARNING: no CUDA prebuild (nvcc not found); the package will have no cuda backend on linux-x64');
  }
  const out = path.join('build', 'prebuild-x64');
  run(process.execPath, [cmakeJs, 'build', '--out', out, '--arch', 'x64', '--target', 'rnnkit_cuda', '--CDRNNKIT_CUDA=ON']);
  const dir = path.join(root, 'prebuilds', 'linux-x64', 'cuda');
  fs.mkdirSync(dir, { recursive: true });
  const dest = path.join(dir, 'rnnkit_cuda.node');
  fs.copyFileSync(path.join(root, out, 'cuda', 'rnnkit_cuda.node'), dest);
  run('strip', ['--strip-all', dest]);
  // It must load without a GPU (and say why it cannot run), as on most consumers' machines.
  const probe = 'const a = require(process.argv[1]); const r = a.open("fp32"); if (!r.ok && !r.reason) process.exit(3)';
  const r = spawnSync(process.execPath, ['-e', probe, dest], { stdio: [0, 2, 2] });
  if (r.status !== 0) throw new Error(`${dest} does not load in this Node (exit ${r.status ?? r.signal})`);
  log(`${path.relative(root, dest)} (${fs.statSync(dest).size} bytes)`);
}

for (const arch of archs) {
  try {
    prebuild(arch);
    if (arch === 'x64') prebuildCuda();
  } catch (e) {
    fs.rmSync(path.join(root, 'prebuilds', `linux-${arch}`), { recursive: true, force: true });
    if (strict) fail(`the linux-${arch} prebuild failed: ${e.message}`);
    log(`WARNING: no linux-${arch} prebuild (${e.message}); this package will build it from source or use WebAssembly there`);
  }
}
