#!/usr/bin/python3
"""Writes what every peer of bench/peers loads: weights, inputs, float64 references and ONNX models.

usage: /usr/bin/python3 export_torch.py OUTDIR

For each workload of src/cli/workloads.ts (plus W3, the training step) it writes
  OUTDIR/<name>.bin   the arrays back to back (little endian), float32 weights and inputs, int32 ids,
                      float64 references
  OUTDIR/<name>.json  the shapes and the hyperparameters, and for each array its dtype, shape and byte offset
  OUTDIR/<name>.onnx  (W1, W2-*) torch.onnx.export of the float32 module: input x [T, B, I], outputs y, hn (, cn)
Weights come from torch's own initialisation under a fixed seed; the references are the same modules run in
float64 (torch.double()) on the same float32 weights and inputs.
torch 1.13 exports ONNX without the python `onnx` package (it serialises the protobuf itself).
"""
import io
import json
import os
import sys
import warnings

import numpy as np
import torch

SEED = 1234
WORKLOADS = {
    "W1": dict(kind="lstm", inputSize=64, hiddenSize=256, batch=1, steps=100),
    "W2-lstm": dict(kind="lstm", inputSize=128, hiddenSize=512, batch=32, steps=100),
    "W2-gru": dict(kind="gru", inputSize=128, hiddenSize=512, batch=32, steps=100),
    "W2-rnn": dict(kind="rnn_tanh", inputSize=128, hiddenSize=512, batch=32, steps=100),
}
W3 = dict(vocab=65, embeddingDim=64, hiddenSize=256, batch=32, steps=64, lr=1e-3, betas=[0.9, 0.999], eps=1e-8)


class Pack:
    """Arrays appended to one buffer, described in a JSON manifest."""

    def __init__(self):
        self.buf = io.BytesIO()
        self.arrays = {}

    def add(self, name, arr, dtype):
        a = np.ascontiguousarray(np.asarray(arr, dtype=dtype))
        pos = self.buf.tell()
        pad = (-pos) % 8
        self.buf.write(b"\0" * pad)
        pos += pad
        self.arrays[name] = {"dtype": np.dtype(dtype).name, "shape": list(a.shape), "offset": pos}
        self.buf.write(a.astype(a.dtype.newbyteorder("<")).tobytes())

    def save(self, outdir, name, meta):
        with open(os.path.join(outdir, name + ".bin"), "wb") as f:
            f.write(self.buf.getvalue())
        with open(os.path.join(outdir, name + ".json"), "w") as f:
            json.dump({**meta, "arrays": self.arrays}, f, indent=1)


def make_layer(kind, i, h):
    if kind == "lstm":
        return torch.nn.LSTM(i, h)
    if kind == "gru":
        return torch.nn.GRU(i, h)
    return torch.nn.RNN(i, h, nonlinearity="tanh")


def export_inference(outdir, name, w):
    torch.manual_seed(SEED)
    layer = make_layer(w["kind"], w["inputSize"], w["hiddenSize"]).eval()
    x = torch.randn(w["steps"], w["batch"], w["inputSize"])
    pack = Pack()
    for k, v in layer.state_dict().items():
        pack.add(k, v.numpy(), np.float32)
    pack.add("x", x.numpy(), np.float32)
    ref = make_layer(w["kind"], w["inputSize"], w["hiddenSize"]).double().eval()
    ref.load_state_dict({k: v.double() for k, v in layer.state_dict().items()})
    with torch.no_grad():
        out = ref(x.double())
    y, state = out
    pack.add("ref_y", y.numpy(), np.float64)
    if w["kind"] == "lstm":
        pack.add("ref_hn", state[0].numpy(), np.float64)
        pack.add("ref_cn", state[1].numpy(), np.float64)
    else:
        pack.add("ref_hn", state.numpy(), np.float64)
    pack.save(outdir, name, {"name": name, **w})

    outputs = ["y", "hn", "cn"] if w["kind"] == "lstm" else ["y", "hn"]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(layer, (x,), os.path.join(outdir, name + ".onnx"), input_names=["x"],
                          output_names=outputs, opset_version=14, do_constant_folding=True)


class CharModel(torch.nn.Module):
    def __init__(self, c):
        super().__init__()
        self.embedding = torch.nn.Embedding(c["vocab"], c["embeddingDim"])
        self.rnn = torch.nn.LSTM(c["embeddingDim"], c["hiddenSize"])
        self.decoder = torch.nn.Linear(c["hiddenSize"], c["vocab"])

    def forward(self, ids):
        y, _ = self.rnn(self.embedding(ids))
        return self.decoder(y.reshape(-1, y.shape[-1]))


def w3_losses(model, ids, targets, c, steps=2):
    """The loss of `steps` successive training steps (forward, backward, Adam) from the model's weights."""
    opt = torch.optim.Adam(model.parameters(), lr=c["lr"], betas=tuple(c["betas"]), eps=c["eps"])
    lossf = torch.nn.CrossEntropyLoss()
    losses = []
    for _ in range(steps):
        opt.zero_grad()
        loss = lossf(model(ids), targets)
        loss.backward()
        opt.step()
        losses.append(loss.item())
    return losses


def export_w3(outdir):
    c = W3
    torch.manual_seed(SEED)
    model = CharModel(c)
    g = torch.Generator().manual_seed(SEED + 1)
    ids = torch.randint(0, c["vocab"], (c["steps"], c["batch"]), generator=g)
    targets = torch.randint(0, c["vocab"], (c["steps"] * c["batch"],), generator=g)
    pack = Pack()
    for k, v in model.state_dict().items():
        pack.add(k, v.numpy(), np.float32)
    pack.add("ids", ids.numpy(), np.int32)
    pack.add("targets", targets.numpy(), np.int32)
    ref = CharModel(c).double()
    ref.load_state_dict({k: v.double() for k, v in model.state_dict().items()})
    pack.add("ref_loss", w3_losses(ref, ids, targets, c), np.float64)
    pack.save(outdir, "W3", {"name": "W3", "kind": "train", **c})


def main():
    outdir = sys.argv[1] if len(sys.argv) > 1 else "gen"
    os.makedirs(outdir, exist_ok=True)
    torch.set_num_threads(1)
    for name, w in WORKLOADS.items():
        export_inference(outdir, name, w)
    export_w3(outdir)
    print(f"torch {torch.__version__}: wrote {', '.join(list(WORKLOADS) + ['W3'])} to {outdir}")


if __name__ == "__main__":
    main()
