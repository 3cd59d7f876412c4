#!/usr/bin/env python3
"""PyTorch on an NVIDIA GPU (and on the host's CPU) as the peer of rnnkit's cuda backend: the issue's table.

usage: python3 torch_gpu.py WORKLOADS.json [--time MS] [--cpu-threads N]

WORKLOADS.json is the workload table of src/cli/workloads.ts, written by tools/device-run.sh with
`node -e` from dist/ (one definition of the shapes). Each workload runs, on fresh random weights, in the modes
  cudnn-fp32   cuDNN on, TF32 off (the default numerics of rnnkit's cuda backend)
  cudnn-tf32   cuDNN on, TF32 on for cuDNN and matmul
  nocudnn-fp32 cuDNN off: PyTorch's own path (a cuBLAS GEMM per step and a fused cell kernel), TF32 off
  cpu          the host CPU with --cpu-threads threads (the inference and W3-sized workloads only)
and is timed as a median of at least 5 synchronised runs over --time ms after a warm-up. Inference is
eval() under no_grad, the input already on the device; a training step is embedding -> LSTM -> linear ->
cross-entropy, backward, clip 5, Adam, as rnnkit's trainingRunner. One JSON line per result on stdout
({"workload", "mode", "ms", "runs"}), then a table on stderr. Without a GPU only the cpu mode runs.
"""
import json
import statistics
import sys
import time

import torch
import torch.nn as nn

CELLS = {"lstm": nn.LSTM, "gru": nn.GRU, "rnn_tanh": nn.RNN}


def args():
    a = sys.argv[1:]
    if not a or a[0].startswith("-"):
        sys.exit(__doc__)
    opts = {"file": a[0], "time": 1500.0, "cpu_threads": torch.get_num_threads()}
    i = 1
    while i < len(a):
        if a[i] == "--time":
            opts["time"] = float(a[i + 1])
        elif a[i] == "--cpu-threads":
            opts["cpu_threads"] = int(a[i + 1])
        else:
            sys.exit(f"unknown option {a[i]}\n{__doc__}")
        i += 2
    return opts


def timed(fn, sync, budget_ms):
    """Median ms of fn over at least 5 runs and budget_ms, after a warm-up of 2 runs and 300 ms."""
    def once():
        sync()
        t = time.perf_counter()
        fn()
        sync()
        return (time.perf_counter() - t) * 1000.0
    w0 = time.perf_counter()
    n = 0
    while n < 2 or (time.perf_counter() - w0) * 1000.0 < 300:
        once()
        n += 1
    runs = []
    s0 = time.perf_counter()
    while len(runs) < 5 or (time.perf_counter() - s0) * 1000.0 < budget_ms:
        runs.append(once())
        if len(runs) >= 1000:
            break
    return statistics.median(runs), len(runs)


def inference(w, device):
    cls = CELLS[w["kind"]]
    m = cls(w["inputSize"], w["hiddenSize"]).to(device).eval()
    x = torch.randn(w["steps"], w["batch"], w["inputSize"], device=device)

    def run():
        with torch.no_grad():
            m(x)
    return run


def training(w, device):
    torch.manual_seed(1)
    emb = nn.Embedding(w["vocab"], w["embedding"]).to(device)
    lstm = nn.LSTM(w["embedding"], w["hiddenSize"]).to(device)
    dec = nn.Linear(w["hiddenSize"], w["vocab"]).to(device)
    params = [*emb.parameters(), *lstm.parameters(), *dec.parameters()]
    opt = torch.optim.Adam(params, lr=2e-3)
    n = w["steps"] * w["batch"]
    ids = (torch.arange(n, device=device) * 7 % w["vocab"]).reshape(w["steps"], w["batch"])
    targets = ((torch.arange(n, device=device) * 7 + 1) % w["vocab"])
    ce = nn.CrossEntropyLoss()

    def run():
        out, _ = lstm(emb(ids))
        loss = ce(dec(out.reshape(n, w["hiddenSize"])), targets)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, 5.0)
        opt.step()
        opt.zero_grad(set_to_none=False)
    return run


def set_mode(mode):
    tf32 = mode == "cudnn-tf32"
    torch.backends.cudnn.enabled = mode != "nocudnn-fp32"
    torch.backends.cudnn.allow_tf32 = tf32
    torch.backends.cuda.matmul.allow_tf32 = tf32


def main():
    o = args()
    with open(o["file"]) as f:
        table = json.load(f)
    workloads = [(name, w, inference) for name, w in table["WORKLOADS"].items()]
    workloads += [(name, w, training) for name, w in table["TRAINING_WORKLOADS"].items()]
    gpu = torch.cuda.is_available()
    modes = (["cudnn-fp32", "cudnn-tf32", "nocudnn-fp32"] if gpu else []) + ["cpu"]
    where = torch.cuda.get_device_name(0) if gpu else "no CUDA device"
    print(f"torch {torch.__version__}, cuDNN {torch.backends.cudnn.version() if gpu else '-'}, {where}, "
          f"cpu threads {o['cpu_threads']}", file=sys.stderr)
    rows = {}
    for mode in modes:
        for name, w, make in workloads:
            if mode == "cpu" and w.get("large"):
                continue  # GPU-sized: minutes per run on a CPU
            if mode == "cpu":
                torch.set_num_threads(o["cpu_threads"])
                device, sync = "cpu", (lambda: None)
            else:
                set_mode(mode)
                device, sync = "cuda", torch.cuda.synchronize
            torch.manual_seed(1)
            ms, runs = timed(make(w, device), sync, o["time"])
            print(json.dumps({"workload": name, "mode": mode, "ms": round(ms, 4), "runs": runs}), flush=True)
            rows.setdefault(name, {})[mode] = ms
    print("workload   " + "".join(f"{m:>14}" for m in modes), file=sys.stderr)
    for name, r in rows.items():
        print(f"{name:<10} " + "".join(f"{r[m]:>14.3f}" if m in r else f"{'-':>14}" for m in modes), file=sys.stderr)


if __name__ == "__main__":
    main()
