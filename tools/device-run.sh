#!/usr/bin/env bash
# The GPU checks, run on the GPU machine by the device tool (prepared here by tools/device-kit.sh; carry
# .device-kit, build/Release, build/testhooks, build/cuda and dist). Writes to $OUT (at most 8 files come back):
#   log.txt              the machine, every step's command and its end, the parity run, the peer table
#   vectors-cuda.txt     the PyTorch vectors on the cuda backend (fp32)
#   bench-cuda.json      rnnkit bench W1 W2 W3 W4 W5 on cuda, fp32; bench-cuda-tf32.json the same with TF32;
#                        bench-cuda-bf16.json W2 W4 W5 with bf16 products (its parity against native in log.txt)
#   bench-native.json    rnnkit bench W1 W2 W3 on the host CPU at 1, 2, 4, 8 and 16 threads (issue 17)
#   bench-native-nogroups.json  W2 W3 at 4, 8 and 16 threads with the forward's batch groups off (the test-hooks
#                        addon's RNNKIT_TEST_BATCH_GROUPS=1): what the groups do there (native/KERNELS.md)
#   torch.jsonl          PyTorch on the same shapes: cuDNN fp32 / TF32, cuDNN off, CPU (bench/peers/torch_gpu.py)
# Each step has a time limit and a failed step does not stop the others. RNNKIT_DEVICE_TIME (ms, default 1500)
# is each workload's time budget. Runs here too (no GPU: the cuda steps say why they cannot run).
set -uo pipefail
cd "$(dirname "$0")/.."
OUT=${OUT:-$(mktemp -d)}
T=${RNNKIT_DEVICE_TIME:-1500}
log="$OUT/log.txt"
: > "$log"
say() { echo "$*" | tee -a "$log"; }
step() { # step <seconds> <output file or -> <command...>: runs it, appending its stderr (and stdout for -) to the log
  local limit=$1 out=$2; shift 2
  say "== $* (limit ${limit}s)"
  local t0=$SECONDS rc
  if [ "$out" = - ]; then timeout "$limit" "$@" >> "$log" 2>&1; rc=$?; else timeout "$limit" "$@" > "$OUT/$out" 2>> "$log"; rc=$?; fi
  say "== exit $rc after $((SECONDS - t0)) s"
}
if ! command -v node > /dev/null; then
  mkdir -p /tmp/rnnkit-node/bin
  python3 -c "import lzma, shutil; shutil.copyfileobj(lzma.open('.device-kit/node.xz'), open('/tmp/rnnkit-node/bin/node', 'wb'))"
  chmod +x /tmp/rnnkit-node/bin/node
  export PATH=/tmp/rnnkit-node/bin:$PATH
fi
[ -e node_modules ] || ln -s .device-kit/node_modules node_modules
say "node $(node --version); $(nproc) CPUs; $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ //')"
(nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader 2>/dev/null || echo "no nvidia-smi") | sed 's/^/gpu: /' | tee -a "$log"
node dist/cli/main.js info >> "$log" 2>&1
step 300 vectors-cuda.txt node tools/run-vectors.mjs --backend cuda
step 300 - node tools/device-parity.mjs
step 300 bench-cuda.json node dist/cli/main.js bench W1 W2 W3 W4 W5 --backend cuda --time "$T" --json
RNNKIT_CUDA_PRECISION=tf32 step 300 bench-cuda-tf32.json node dist/cli/main.js bench W1 W2 W3 W4 W5 --backend cuda --time "$T" --json
RNNKIT_CUDA_PRECISION=bf16 step 120 - node tools/device-parity.mjs
RNNKIT_CUDA_PRECISION=bf16 step 200 bench-cuda-bf16.json node dist/cli/main.js bench W2 W4 W5 --backend cuda --time "$T" --json
step 420 bench-native.json node dist/cli/main.js bench W1 W2 W3 --backend native --threads 1,2,4,8,16 --time "$T" --json
RNNKIT_TEST_LAG_US=0 RNNKIT_TEST_BATCH_GROUPS=1 step 300 bench-native-nogroups.json node dist/cli/main.js bench W2 W3 --backend native --threads 4,8,16 --time "$T" --json
node --input-type=module -e "
  const w = await import('./dist/cli/workloads.js');
  console.log(JSON.stringify({ WORKLOADS: w.WORKLOADS, TRAINING_WORKLOADS: w.TRAINING_WORKLOADS }));
" > /tmp/rnnkit-workloads.json
step 420 torch.jsonl python3 bench/peers/torch_gpu.py /tmp/rnnkit-workloads.json --time "$T" --cpu-threads "$(nproc)"
say "== done; files in $OUT: $(ls "$OUT" | tr '\n' ' ')"
