#!/usr/bin/python3
"""PyTorch CPU as a peer: usage: OPENBLAS_NUM_THREADS=2 /usr/bin/python3 peer_torch.py NUM_THREADS

Loads the weights and inputs that export_torch.py wrote (gen/), runs each workload in float32, checks it against
the float64 reference, and times it the way common.mjs does with tinybench: a warm-up, then the median of at least
5 runs over PEER_TIME ms (fewer for runs over 1 s, see common.mjs). Prints the same @@RESULT lines.
"""
import json
import os
import statistics
import sys
import time

import numpy as np
import torch

HERE = os.path.dirname(os.path.abspath(__file__))
GEN = os.path.join(HERE, "gen")
CAP_MS = 20000
TIME_MS = float(os.environ.get("PEER_TIME", "1500"))

sys.path.insert(0, HERE)
from export_torch import CharModel, make_layer  # noqa: E402  (same module definitions as the export)


def load(name):
    with open(os.path.join(GEN, name + ".json")) as f:
        meta = json.load(f)
    with open(os.path.join(GEN, name + ".bin"), "rb") as f:
        buf = f.read()
    arrays = {}
    for k, d in meta["arrays"].items():
        n = int(np.prod(d["shape"])) if d["shape"] else 1
        a = np.frombuffer(buf, dtype=np.dtype(d["dtype"]).newbyteorder("<"), count=n, offset=d["offset"])
        arrays[k] = torch.from_numpy(a.reshape(d["shape"]).copy())
    meta["a"] = arrays
    return meta


def now_ms():
    return time.perf_counter() * 1000.0


def measure(fn, first_ms):
    """common.mjs's measure(): first_ms is the checked run (or the mean of the two checked W3 steps)."""
    def timed():
        t = now_ms(); fn(); return now_ms() - t
    if first_ms > CAP_MS:
        return dict(ms=first_ms, samples=1, note="one run only (> 20 s, the checked run)")
    if first_ms > 3000:
        return dict(ms=statistics.median([first_ms, timed()]), samples=2, note="2 runs (slow, one is the checked run)")
    t = timed()
    if t > 1000:
        return dict(ms=statistics.median([t, timed(), timed()]), samples=3, note="3 runs (slow)")
    w0 = now_ms(); n = 0
    while n < 2 or now_ms() - w0 < 300:  # warm-up, as tinybench's warmupTime / warmupIterations
        fn(); n += 1
    samples = []
    s0 = now_ms()
    while len(samples) < 5 or now_ms() - s0 < TIME_MS:
        samples.append(timed())
    return dict(ms=statistics.median(samples), samples=len(samples), note="")


def inference(w):
    layer = make_layer(w["kind"], w["inputSize"], w["hiddenSize"]).eval()
    layer.load_state_dict({k: v for k, v in w["a"].items() if not k.startswith("ref_") and k != "x"})
    x = w["a"]["x"]
    ref = w["a"]["ref_y"]

    def run():
        with torch.no_grad():
            return layer(x)[0]

    t0 = now_ms()
    y = run()
    first = now_ms() - t0
    err = (y.double() - ref).abs().max().item()
    return run, err, first


def train(w):
    model = CharModel(w)
    state = {k: v for k, v in w["a"].items() if k.split(".")[0] in ("embedding", "rnn", "decoder")}
    ids = w["a"]["ids"].long()
    targets = w["a"]["targets"].long()
    lossf = torch.nn.CrossEntropyLoss()
    holder = {}

    def reset():
        model.load_state_dict(state)
        holder["opt"] = torch.optim.Adam(model.parameters(), lr=w["lr"], betas=tuple(w["betas"]), eps=w["eps"])

    def step():
        opt = holder["opt"]
        opt.zero_grad()
        loss = lossf(model(ids), targets)
        loss.backward()
        opt.step()
        return loss.item()

    reset()
    t0 = now_ms()
    losses = [step(), step()]
    first = (now_ms() - t0) / 2
    err = float(np.abs(np.array(losses) - w["a"]["ref_loss"].numpy()).max())
    return step, err, first


def main():
    threads = int(sys.argv[1]) if len(sys.argv) > 1 else 1
    torch.set_num_threads(threads)
    blas = os.environ.get("OPENBLAS_NUM_THREADS", "default")
    peer = f"pytorch t{threads}"
    print(f"@@VERSION pytorch {torch.__version__} (Python {sys.version.split()[0]}, set_num_threads({threads}), "
          f"OPENBLAS_NUM_THREADS={blas}, OPENBLAS_CORETYPE={os.environ.get('OPENBLAS_CORETYPE', 'detected')})", flush=True)
    names = os.environ.get("PEER_WORKLOADS", "W1,W2-lstm,W2-gru,W2-rnn,W3").split(",")
    for name in names:
        try:
            w = load(name)
            fn, err, first = train(w) if name == "W3" else inference(w)
            m = measure(fn, first)
            note = "nn.Embedding+nn.LSTM+nn.Linear+CrossEntropyLoss+optim.Adam" if name == "W3" else ""
            r = dict(peer=peer, workload=name, err=err, errNote="", **m)
            r["note"] = "; ".join(s for s in (note, m["note"]) if s)
        except Exception as e:  # report and go on with the next workload
            r = dict(peer=peer, workload=name, skipped=f"failed: {e}")
        print("@@RESULT " + json.dumps(r), flush=True)


if __name__ == "__main__":
    main()
