#!/usr/bin/env bash
# Prepares .device-kit/ (ignored by git) for a GPU machine that has no Node and no network (../shared/TOOLCHAIN.md,
# "The GPU test machine"): this machine's Node compressed (xz, ~24 MB) and the runtime packages the built dist/
# needs (cli-progress, node-gyp-build and what they require; no build tools, no test runner). Then, with the
# device tool, run tools/device-run.sh there carrying .device-kit, build/Release, build/testhooks, build/cuda and
# dist (~28 MB):
#   npm run build:ts && RNNKIT_CUDA=ON npm run build:native && bash tools/device-kit.sh
#   device run:  bash tools/device-run.sh
#   (carry: [".device-kit", "build/Release", "build/testhooks", "build/cuda", "dist"])
set -euo pipefail
cd "$(dirname "$0")/.."
kit=.device-kit
mkdir -p "$kit"
[ -f dist/index.js ] || { echo "dist/ is missing: npm run build:ts first" >&2; exit 1; }
[ -f build/cuda/rnnkit_cuda.node ] || { echo "build/cuda/rnnkit_cuda.node is missing: RNNKIT_CUDA=ON npm run build:native first" >&2; exit 1; }
[ -f build/testhooks/rnnkit_testhooks.node ] || { echo "build/testhooks/rnnkit_testhooks.node is missing: npm run build:native first" >&2; exit 1; }
node_bin=$(command -v node)
if [ ! -f "$kit/node.xz" ] || [ "$node_bin" -nt "$kit/node.xz" ]; then
  echo "== compressing $node_bin ($(node --version)) into $kit/node.xz"
  xz -6 -T0 -c "$node_bin" > "$kit/node.xz.tmp" && mv "$kit/node.xz.tmp" "$kit/node.xz"
fi
# The closure of the runtime packages, read from node_modules' package.json files.
rm -rf "$kit/node_modules"
node -e '
  const fs = require("fs"), path = require("path");
  const want = ["cli-progress", "node-gyp-build"], seen = new Set();
  while (want.length) {
    const name = want.pop();
    if (seen.has(name)) continue;
    seen.add(name);
    const pkg = JSON.parse(fs.readFileSync(path.join("node_modules", name, "package.json"), "utf8"));
    want.push(...Object.keys(pkg.dependencies || {}));
  }
  for (const name of seen) fs.cpSync(path.join("node_modules", name), path.join(process.argv[1], "node_modules", name), { recursive: true });
  console.log(`== ${seen.size} runtime packages: ${[...seen].sort().join(", ")}`);
' "$kit"
du -sh "$kit" build/Release build/testhooks build/cuda dist | sed 's/^/== size /'
