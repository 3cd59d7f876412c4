#!/usr/bin/env -S /usr/bin/python3
"""Reference vectors for the dense training operations (native/KERNELS.md, "Dense operations"), from PyTorch.

Run with Debian's python3-torch: /usr/bin/python3 tools/make-dense-vectors.py
Writes test/vectors-dense/dense.json: Linear forward/backward, softmax cross-entropy with an ignored row,
Embedding forward/backward with repeated ids, SGD (momentum, Nesterov, weight decay), Adam, AdamW over three
steps, and clip_grad_norm_. Inputs are float32; references are computed in float64 from those values.
"""
import json
import os
import sys

import torch

torch.manual_seed(1234)
OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', 'test', 'vectors-dense', 'dense.json')


def f32(*shape, scale=1.0):
    return (torch.rand(*shape) * 2 - 1).mul(scale).float()


def j(t):
    t = t.detach().to(torch.float32)
    return {'shape': list(t.shape), 'data': [float('%.9g' % v) for v in t.reshape(-1).tolist()]}


def linear_case():
    N, I, O = 7, 5, 3
    x, w, b, dy = f32(N, I), f32(O, I), f32(O), f32(N, O)
    xd, wd, bd = (t.double().requires_grad_() for t in (x, w, b))
    y = torch.nn.functional.linear(xd, wd, bd)
    y.backward(dy.double())
    return {'N': N, 'I': I, 'O': O, 'x': j(x), 'w': j(w), 'b': j(b), 'dy': j(dy),
            'y': j(y), 'dx': j(xd.grad), 'dw': j(wd.grad), 'db': j(bd.grad)}


def xent_case():
    N, C = 6, 11
    logits = f32(N, C, scale=3.0)
    targets = torch.tensor([3, 0, 10, -1, 7, 3])
    ld = logits.double().requires_grad_()
    loss = torch.nn.functional.cross_entropy(ld, targets, ignore_index=-1, reduction='mean')
    loss.backward()
    return {'N': N, 'C': C, 'logits': j(logits), 'targets': targets.tolist(), 'loss': loss.item(), 'dlogits': j(ld.grad)}


def embedding_case():
    V, D = 10, 4
    table = f32(V, D)
    ids = torch.tensor([[1, 4, 1], [9, 0, 4]])
    dout = f32(2, 3, D)
    td = table.double().requires_grad_()
    out = torch.nn.functional.embedding(ids, td)
    out.backward(dout.double())
    return {'V': V, 'D': D, 'table': j(table), 'ids': {'shape': [2, 3], 'data': ids.reshape(-1).tolist()},
            'dout': j(dout), 'out': j(out), 'dtable': j(td.grad)}


def optimizer_case(name, make):
    n = 20
    p0 = f32(n)
    grads = [f32(n) for _ in range(3)]
    p = torch.nn.Parameter(p0.double().clone())
    opt = make([p])
    for g in grads:
        p.grad = g.double().clone()
        opt.step()
    return {'name': name, 'p0': j(p0), 'grads': [j(g) for g in grads], 'p': j(p)}


def clip_case():
    gs = [f32(4, 3, scale=2.0), f32(5, scale=2.0)]
    ps = [torch.nn.Parameter(torch.zeros(g.shape, dtype=torch.float64)) for g in gs]
    for p, g in zip(ps, gs):
        p.grad = g.double().clone()
    norm = torch.nn.utils.clip_grad_norm_(ps, max_norm=1.0)
    return {'maxNorm': 1.0, 'grads': [j(g) for g in gs], 'norm': norm.item(), 'clipped': [j(p.grad) for p in ps]}


def main():
    O = torch.optim
    data = {
        'linear': linear_case(),
        'crossEntropy': xent_case(),
        'embedding': embedding_case(),
        'optimizers': [
            optimizer_case('sgd', lambda ps: O.SGD(ps, lr=0.1)),
            optimizer_case('sgd_momentum_wd', lambda ps: O.SGD(ps, lr=0.1, momentum=0.9, weight_decay=0.01)),
            optimizer_case('sgd_nesterov', lambda ps: O.SGD(ps, lr=0.1, momentum=0.9, nesterov=True)),
            optimizer_case('adam', lambda ps: O.Adam(ps, lr=0.01)),
            optimizer_case('adam_wd', lambda ps: O.Adam(ps, lr=0.01, weight_decay=0.1, betas=(0.8, 0.99), eps=1e-6)),
            optimizer_case('adamw', lambda ps: O.AdamW(ps, lr=0.01, weight_decay=0.1)),
        ],
        'clip': clip_case(),
    }
    os.makedirs(os.path.dirname(OUT), exist_ok=True)
    with open(OUT, 'w') as f:
        json.dump(data, f, separators=(',', ':'))
    print('wrote', os.path.relpath(OUT), os.path.getsize(OUT), 'bytes')


if __name__ == '__main__':
    sys.exit(main())
