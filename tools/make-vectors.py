#!/usr/bin/env -S /usr/bin/python3
"""Generate PyTorch reference vectors for rnnkit into test/vectors/*.json.

Run with Debian's interpreter (python3-torch is only visible to it):

    /usr/bin/python3 tools/make-vectors.py            # write test/vectors/*.json
    /usr/bin/python3 tools/make-vectors.py --check    # verify the files on disk

Each vector is a whole torch.nn.RNN / LSTM / GRU module (possibly stacked,
bidirectional, batch_first) run forward and then backward from given upstream
gradients:

  * Per case, torch.manual_seed(crc32(name)).  Parameters are drawn uniform in
    +-1/sqrt(H) (PyTorch's default RNN init) in float32; x, h0, c0 and the
    upstream gradients dOutput, dhN, dcN are drawn uniform in [-1, 1] in
    float32.  All stored inputs are therefore exact float32 values.
  * The reference forward/backward is computed in float64 from those float32
    values: loss = sum(output*dOutput) + sum(hN*dhN) (+ sum(cN*dcN) for LSTM).
  * Every number is written as the float32 nearest to the value, printed with
    9 significant digits ('%.9g'), which round-trips float32 exactly.

JSON layout (compact, keys in this order):
  name, kind, config{inputSize,hiddenSize,numLayers,bidirectional,batchFirst},
  input, h0|null, c0|null, params{state_dict names}, output, hN, cN|null,
  dOutput, dhN, dcN|null, grads{input, h0|null, c0|null, params{...}}
where each tensor is {"shape": [...], "data": [row-major numbers]}.

Only torch, numpy and the standard library are used.
"""

import argparse
import json
import math
import os
import sys
import zlib

import numpy as np
import torch

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DEFAULT_OUT = os.path.join(ROOT, "test", "vectors")

KINDS = ("rnn_tanh", "rnn_relu", "lstm", "gru")


# --------------------------------------------------------------------------
# Case list
# --------------------------------------------------------------------------

def _case(name, kind, T, B, I, H, L=1, bidir=False, batch_first=False, state=True):
    return dict(name=name, kind=kind, T=T, B=B, I=I, H=H, L=L,
                bidir=bidir, batch_first=batch_first, state=state)


def all_cases():
    cases = []
    for k in KINDS:
        cases.append(_case(f"{k}_l1_h13", k, T=4, B=3, I=5, H=13))
        cases.append(_case(f"{k}_l2_bidir_h13", k, T=3, B=2, I=5, H=13, L=2, bidir=True))
        cases.append(_case(f"{k}_t1_b1_h33", k, T=1, B=1, I=5, H=33))
        cases.append(_case(f"{k}_l2_h33", k, T=5, B=2, I=7, H=33, L=2))
    cases.append(_case("gru_batchfirst_bidir", "gru", T=4, B=3, I=6, H=9,
                       bidir=True, batch_first=True))
    cases.append(_case("lstm_nostate", "lstm", T=3, B=2, I=5, H=13, state=False))
    cases.append(_case("rnn_relu_l3_bidir", "rnn_relu", T=3, B=2, I=4, H=7, L=3, bidir=True))
    return cases


def seed_of(name):
    return zlib.crc32(name.encode("utf-8")) & 0x7FFFFFFF


# --------------------------------------------------------------------------
# Module construction and evaluation
# --------------------------------------------------------------------------

def make_module(kind, I, H, L, bidir, batch_first):
    common = dict(input_size=I, hidden_size=H, num_layers=L,
                  bidirectional=bidir, batch_first=batch_first, bias=True)
    if kind == "rnn_tanh":
        return torch.nn.RNN(nonlinearity="tanh", **common)
    if kind == "rnn_relu":
        return torch.nn.RNN(nonlinearity="relu", **common)
    if kind == "lstm":
        return torch.nn.LSTM(**common)
    if kind == "gru":
        return torch.nn.GRU(**common)
    raise ValueError(kind)


def uniform32(shape, lo, hi):
    """float32 tensor uniform in [lo, hi); every value is an exact float32."""
    return (torch.rand(shape, dtype=torch.float32) * (hi - lo) + lo).to(torch.float32)


def generate_inputs(c):
    """Deterministically draw parameters, inputs and upstream gradients (all float32)."""
    torch.manual_seed(seed_of(c["name"]))
    D = 2 if c["bidir"] else 1
    T, B, I, H, L = c["T"], c["B"], c["I"], c["H"], c["L"]
    is_lstm = c["kind"] == "lstm"

    m = make_module(c["kind"], I, H, L, c["bidir"], c["batch_first"])
    bound = 1.0 / math.sqrt(H)
    params = {}
    with torch.no_grad():
        for pname, p in m.state_dict().items():
            params[pname] = uniform32(p.shape, -bound, bound)

    seq_shape = (B, T, I) if c["batch_first"] else (T, B, I)
    out_shape = (B, T, D * H) if c["batch_first"] else (T, B, D * H)
    st_shape = (L * D, B, H)

    x = uniform32(seq_shape, -1.0, 1.0)
    h0 = uniform32(st_shape, -1.0, 1.0) if c["state"] else None
    c0 = uniform32(st_shape, -1.0, 1.0) if (c["state"] and is_lstm) else None
    d_out = uniform32(out_shape, -1.0, 1.0)
    d_hn = uniform32(st_shape, -1.0, 1.0)
    d_cn = uniform32(st_shape, -1.0, 1.0) if is_lstm else None
    return dict(params=params, x=x, h0=h0, c0=c0, d_out=d_out, d_hn=d_hn, d_cn=d_cn)


def build(c, params, dtype):
    m = make_module(c["kind"], c["I"], c["H"], c["L"], c["bidir"], c["batch_first"])
    m = m.to(dtype)
    sd = {k: v.to(dtype) for k, v in params.items()}
    missing = set(m.state_dict().keys()) ^ set(sd.keys())
    if missing:
        raise RuntimeError(f"param name mismatch: {sorted(missing)}")
    m.load_state_dict(sd)
    return m


def run_module(m, kind, x, h0, c0):
    if kind == "lstm":
        if h0 is None:
            out, (hn, cn) = m(x)
        else:
            out, (hn, cn) = m(x, (h0, c0))
        return out, hn, cn
    out, hn = m(x) if h0 is None else m(x, h0)
    return out, hn, None


def loss_of(out, hn, cn, d_out, d_hn, d_cn):
    loss = (out * d_out).sum() + (hn * d_hn).sum()
    if cn is not None:
        loss = loss + (cn * d_cn).sum()
    return loss


def reference(c, g):
    """Forward + backward in float64 from the float32 draws."""
    dt = torch.float64
    m = build(c, g["params"], dt)
    x = g["x"].to(dt).requires_grad_(True)
    h0 = g["h0"].to(dt).requires_grad_(True) if g["h0"] is not None else None
    c0 = g["c0"].to(dt).requires_grad_(True) if g["c0"] is not None else None
    d_out = g["d_out"].to(dt)
    d_hn = g["d_hn"].to(dt)
    d_cn = g["d_cn"].to(dt) if g["d_cn"] is not None else None
    out, hn, cn = run_module(m, c["kind"], x, h0, c0)
    loss_of(out, hn, cn, d_out, d_hn, d_cn).backward()
    pgrads = {n: p.grad.detach().clone() for n, p in m.named_parameters()}
    # named_parameters and state_dict must agree for these modules
    assert list(pgrads.keys()) == list(g["params"].keys())
    return dict(
        output=out.detach(), hn=hn.detach(), cn=cn.detach() if cn is not None else None,
        g_input=x.grad.detach(),
        g_h0=h0.grad.detach() if h0 is not None else None,
        g_c0=c0.grad.detach() if c0 is not None else None,
        g_params=pgrads,
    )


def manual_rnn_preacts(c, params, x, h0):
    """Plain float64 re-implementation of a (stacked, bidirectional) Elman RNN.

    Returns (output, hN, min |pre-activation|, fraction of pre-activations < 0).
    Used for rnn_relu to make sure no pre-activation sits on the ReLU kink, and
    as an independent cross-check of torch's result.
    """
    dt = torch.float64
    act = torch.tanh if c["kind"] == "rnn_tanh" else torch.relu
    T, B, H, L = c["T"], c["B"], c["H"], c["L"]
    D = 2 if c["bidir"] else 1
    seq = x.to(dt)
    if c["batch_first"]:
        seq = seq.transpose(0, 1)
    hn = []
    min_abs = math.inf
    n_neg = 0
    n_all = 0
    for layer in range(L):
        outs = []
        for d in range(D):
            sfx = f"_l{layer}" + ("_reverse" if d == 1 else "")
            w_ih = params["weight_ih" + sfx].to(dt)
            w_hh = params["weight_hh" + sfx].to(dt)
            b = params["bias_ih" + sfx].to(dt) + params["bias_hh" + sfx].to(dt)
            h = h0[layer * D + d].to(dt) if h0 is not None else torch.zeros(B, H, dtype=dt)
            ys = [None] * T
            steps = range(T - 1, -1, -1) if d == 1 else range(T)
            for t in steps:
                pre = seq[t] @ w_ih.T + h @ w_hh.T + b
                min_abs = min(min_abs, pre.abs().min().item())
                n_neg += int((pre < 0).sum().item())
                n_all += pre.numel()
                h = act(pre)
                ys[t] = h
            outs.append(torch.stack(ys, 0))
            hn.append(h)
        seq = torch.cat(outs, dim=2)
    out = seq.transpose(0, 1) if c["batch_first"] else seq
    return out, torch.stack(hn, 0), min_abs, n_neg / max(n_all, 1)


# --------------------------------------------------------------------------
# JSON output
# --------------------------------------------------------------------------

def fmt32(v):
    s = "%.9g" % v
    if s in ("nan", "-nan", "inf", "-inf"):
        raise ValueError("non-finite value in vector")
    return s


def tensor_json(t):
    t32 = t.detach().to(torch.float32).contiguous()
    data = ",".join(fmt32(v) for v in t32.reshape(-1).tolist())
    shape = ",".join(str(int(s)) for s in t32.shape)
    return '{"shape":[%s],"data":[%s]}' % (shape, data)


def opt_tensor_json(t):
    return "null" if t is None else tensor_json(t)


def params_json(d):
    return "{" + ",".join(json.dumps(k) + ":" + tensor_json(v) for k, v in d.items()) + "}"


def case_json(c, g, r):
    config = {
        "inputSize": c["I"], "hiddenSize": c["H"], "numLayers": c["L"],
        "bidirectional": c["bidir"], "batchFirst": c["batch_first"],
    }
    parts = [
        ('"name"', json.dumps(c["name"])),
        ('"kind"', json.dumps(c["kind"])),
        ('"config"', json.dumps(config, separators=(",", ":"))),
        ('"input"', tensor_json(g["x"])),
        ('"h0"', opt_tensor_json(g["h0"])),
        ('"c0"', opt_tensor_json(g["c0"])),
        ('"params"', params_json(g["params"])),
        ('"output"', tensor_json(r["output"])),
        ('"hN"', tensor_json(r["hn"])),
        ('"cN"', opt_tensor_json(r["cn"])),
        ('"dOutput"', tensor_json(g["d_out"])),
        ('"dhN"', tensor_json(g["d_hn"])),
        ('"dcN"', opt_tensor_json(g["d_cn"])),
        ('"grads"', "{" + ",".join([
            '"input":' + tensor_json(r["g_input"]),
            '"h0":' + opt_tensor_json(r["g_h0"]),
            '"c0":' + opt_tensor_json(r["g_c0"]),
            '"params":' + params_json(r["g_params"]),
        ]) + "}"),
    ]
    return "{" + ",".join(k + ":" + v for k, v in parts) + "}\n"


def generate(out_dir):
    os.makedirs(out_dir, exist_ok=True)
    total = 0
    for c in all_cases():
        g = generate_inputs(c)
        r = reference(c, g)
        extra = ""
        if c["kind"] in ("rnn_tanh", "rnn_relu"):
            mo, mh, min_pre, neg = manual_rnn_preacts(c, g["params"], g["x"], g["h0"])
            err = max((mo - r["output"]).abs().max().item(), (mh - r["hn"]).abs().max().item())
            if err > 1e-12:
                raise RuntimeError(f"{c['name']}: manual RNN disagrees with torch ({err:g})")
            if c["kind"] == "rnn_relu" and min_pre < 1e-6:
                raise RuntimeError(f"{c['name']}: ReLU pre-activation too close to 0 ({min_pre:g})")
            extra = f" min|pre|={min_pre:.2e} neg={neg:.0%}"
        text = case_json(c, g, r)
        path = os.path.join(out_dir, c["name"] + ".json")
        with open(path, "w") as f:
            f.write(text)
        size = len(text.encode())
        total += size
        n_params = sum(v.numel() for v in g["params"].values())
        print(f"{c['name']:24s} {c['kind']:8s} T={c['T']} B={c['B']} I={c['I']} H={c['H']} "
              f"L={c['L']} D={2 if c['bidir'] else 1} bf={int(c['batch_first'])} "
              f"state={int(c['state'])} params={n_params} "
              f"max|out|={r['output'].abs().max().item():.3f} "
              f"max|dW|={max(v.abs().max().item() for v in r['g_params'].values()):.3f}"
              f"{extra} {size} bytes")
    print(f"total {total} bytes ({total / 1024:.1f} KiB) in {out_dir}")


# --------------------------------------------------------------------------
# Self-check of the files on disk
# --------------------------------------------------------------------------

TOP_KEYS = ["name", "kind", "config", "input", "h0", "c0", "params", "output", "hN", "cN",
            "dOutput", "dhN", "dcN", "grads"]


def to_t(obj, dtype=torch.float64):
    if obj is None:
        return None
    shape = obj["shape"]
    data = obj["data"]
    n = 1
    for s in shape:
        n *= s
    if n != len(data):
        raise AssertionError(f"shape {shape} has {n} elements but data has {len(data)}")
    # parse via float32 first: the stored value *is* a float32
    arr = np.asarray(data, dtype=np.float64).astype(np.float32)
    return torch.from_numpy(arr.reshape(shape)).to(dtype)


def walk_tensors(obj, path=""):
    if isinstance(obj, dict):
        if set(obj.keys()) == {"shape", "data"}:
            yield path, obj
        else:
            for k, v in obj.items():
                yield from walk_tensors(v, f"{path}.{k}" if path else k)


def rel_err(a, b):
    """max |a-b| relative to max(1, max|b|) (the values here are O(1))."""
    scale = max(1.0, b.abs().max().item())
    return (a - b).abs().max().item() / scale


def check_file(path, c):
    with open(path) as f:
        doc = json.load(f)
    name = c["name"]
    assert list(doc.keys()) == TOP_KEYS, f"{name}: keys {list(doc.keys())}"
    assert doc["name"] == name and doc["kind"] == c["kind"]
    cfg = doc["config"]
    assert cfg == {"inputSize": c["I"], "hiddenSize": c["H"], "numLayers": c["L"],
                   "bidirectional": c["bidir"], "batchFirst": c["batch_first"]}, cfg
    is_lstm = c["kind"] == "lstm"

    # (a) every tensor's shape matches its data length
    n_tensors = 0
    for tpath, t in walk_tensors(doc):
        try:
            to_t(t)
        except AssertionError as e:
            raise AssertionError(f"{name}: {tpath}: {e}")
        n_tensors += 1

    # nulls where the schema demands them
    if not c["state"]:
        assert doc["h0"] is None and doc["c0"] is None
        assert doc["grads"]["h0"] is None and doc["grads"]["c0"] is None
    if not is_lstm:
        for k in ("c0", "cN", "dcN"):
            assert doc[k] is None, f"{name}: {k} should be null"
        assert doc["grads"]["c0"] is None
    else:
        assert doc["cN"] is not None and doc["dcN"] is not None

    # stored inputs are exactly the float32 draws (round-trip + determinism)
    g = generate_inputs(c)
    exact = [("input", g["x"], doc["input"]), ("h0", g["h0"], doc["h0"]),
             ("c0", g["c0"], doc["c0"]), ("dOutput", g["d_out"], doc["dOutput"]),
             ("dhN", g["d_hn"], doc["dhN"]), ("dcN", g["d_cn"], doc["dcN"])]
    exact += [(f"params.{k}", v, doc["params"][k]) for k, v in g["params"].items()]
    assert list(doc["params"].keys()) == list(g["params"].keys())
    assert list(doc["grads"]["params"].keys()) == list(g["params"].keys())
    for label, want, got in exact:
        if want is None:
            assert got is None, f"{name}: {label} should be null"
            continue
        got_t = to_t(got, torch.float32)
        assert list(got_t.shape) == list(want.shape), f"{name}: {label} shape"
        assert torch.equal(got_t, want), f"{name}: {label} does not round-trip float32"

    params32 = {k: to_t(v, torch.float32) for k, v in doc["params"].items()}
    x32 = to_t(doc["input"], torch.float32)
    h032 = to_t(doc["h0"], torch.float32)
    c032 = to_t(doc["c0"], torch.float32)

    # state_dict names/shapes as torch defines them
    m32 = build(c, params32, torch.float32)
    for k, v in m32.state_dict().items():
        assert list(v.shape) == doc["params"][k]["shape"], f"{name}: {k} shape"
        assert list(v.shape) == doc["grads"]["params"][k]["shape"], f"{name}: grad {k} shape"

    # (b) float32 PyTorch forward reproduces the stored outputs
    with torch.no_grad():
        out32, hn32, cn32 = run_module(m32, c["kind"], x32, h032, c032)
    fwd_err = max(rel_err(out32.double(), to_t(doc["output"])),
                  rel_err(hn32.double(), to_t(doc["hN"])),
                  rel_err(cn32.double(), to_t(doc["cN"])) if is_lstm else 0.0)
    assert fwd_err <= 1e-5, f"{name}: float32 forward differs by {fwd_err:g}"

    # (c) central finite differences in float64 of a few gradient entries
    dt = torch.float64
    p64 = {k: v.to(dt) for k, v in params32.items()}
    x64 = x32.to(dt)
    h064 = h032.to(dt) if h032 is not None else None
    c064 = c032.to(dt) if c032 is not None else None
    d_out = to_t(doc["dOutput"])
    d_hn = to_t(doc["dhN"])
    d_cn = to_t(doc["dcN"])
    m64 = build(c, p64, dt)

    def loss_now():
        with torch.no_grad():
            o, h, cc = run_module(m64, c["kind"], x64, h064, c064)
            return loss_of(o, h, cc, d_out, d_hn, d_cn).item()

    def fd(tensor, idx, eps=1e-6):
        old = tensor[idx].item()
        tensor[idx] = old + eps
        lp = loss_now()
        tensor[idx] = old - eps
        lm = loss_now()
        tensor[idx] = old
        return (lp - lm) / (2 * eps)

    # pick a parameter (rotating through the names by case) and its largest-|grad| entry
    names = list(doc["params"].keys())
    pname = names[seed_of(name) % len(names)]
    gp = to_t(doc["grads"]["params"][pname])
    flat = int(gp.abs().reshape(-1).argmax().item())
    idx = np.unravel_index(flat, tuple(gp.shape))
    idx = tuple(int(i) for i in idx)
    param_tensor = dict(m64.named_parameters())[pname]
    with torch.no_grad():
        num = fd(param_tensor.data, idx)
    ana = gp[idx].item()
    fd_errs = [(f"{pname}{list(idx)}", num, ana)]

    # also one input entry and one h0/c0 entry (cheap, and they exercise other paths)
    gx = to_t(doc["grads"]["input"])
    ix = tuple(int(i) for i in np.unravel_index(int(gx.abs().reshape(-1).argmax()), tuple(gx.shape)))
    fd_errs.append((f"input{list(ix)}", fd(x64, ix), gx[ix].item()))
    for sname, st in (("h0", h064), ("c0", c064)):
        if st is None:
            continue
        gs = to_t(doc["grads"][sname])
        js = tuple(int(i) for i in np.unravel_index(int(gs.abs().reshape(-1).argmax()), tuple(gs.shape)))
        fd_errs.append((f"{sname}{list(js)}", fd(st, js), gs[js].item()))

    worst = 0.0
    for label, num, ana in fd_errs:
        e = abs(num - ana) / max(abs(ana), 1e-3)
        worst = max(worst, e)
        assert e <= 1e-4, f"{name}: FD {label}: numeric {num!r} vs stored {ana!r} (rel {e:g})"

    extra = ""
    if c["kind"] in ("rnn_tanh", "rnn_relu"):
        _, _, min_pre, _ = manual_rnn_preacts(c, params32, x32, h032)
        if c["kind"] == "rnn_relu":
            assert min_pre > 1e-6, f"{name}: ReLU pre-activation near 0 ({min_pre:g})"
        extra = f" min|pre|={min_pre:.2e}"
    print(f"ok {name:24s} tensors={n_tensors} fwd32_err={fwd_err:.1e} "
          f"fd[{fd_errs[0][0]}] num={fd_errs[0][1]:.6f} ref={fd_errs[0][2]:.6f} "
          f"worst_fd_rel={worst:.1e}{extra}")


def check(out_dir):
    cases = all_cases()
    expected = {c["name"] + ".json" for c in cases}
    present = {f for f in os.listdir(out_dir) if f.endswith(".json")}
    if expected - present:
        raise SystemExit(f"missing vectors: {sorted(expected - present)}")
    if present - expected:
        print(f"note: extra files not produced by this script: {sorted(present - expected)}")
    total = 0
    for c in cases:
        path = os.path.join(out_dir, c["name"] + ".json")
        check_file(path, c)
        total += os.path.getsize(path)
    print(f"all {len(cases)} vectors ok, total {total} bytes ({total / 1024:.1f} KiB)")


def main(argv):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--check", action="store_true",
                    help="verify the vectors already on disk instead of writing them")
    ap.add_argument("--out", default=DEFAULT_OUT, help="output directory (default test/vectors)")
    args = ap.parse_args(argv)
    torch.set_num_threads(1)
    if args.check:
        check(args.out)
    else:
        generate(args.out)


if __name__ == "__main__":
    main(sys.argv[1:])
