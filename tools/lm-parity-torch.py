#!/usr/bin/env -S /usr/bin/python3
"""PyTorch twin of rnnkit's LanguageModel training, for the Moby Dick quality bar (issue: validation loss within
3% of PyTorch with the same settings for the same number of steps).

The same data pipeline as src/models/language-model.ts: characters, vocabulary ordered by count (ties by first
appearance) with <unk> first, the last 10% of the text (by position) held out, B parallel streams with truncated
BPTT over seqLen steps carrying the hidden state (reset each epoch), validation over B streams of the held-out
text carrying state. Model: Embedding(V, E) -> LSTM(E, H) -> Linear(H, V), PyTorch's default initialisation,
Adam, gradient clipping by global norm.

Run with Debian's python3-torch:
  /usr/bin/python3 tools/lm-parity-torch.py --text moby.txt --steps 600 --eval-every 100
Prints one JSON object per line: {"step", "val"} at each validation, then {"done", "seconds", "tokens_per_s"}.
"""
import argparse
import collections
import json
import math
import sys
import time

import torch


def vocabulary(chars):
    counts = collections.Counter()
    order = {}
    for c in chars:
        counts[c] += 1
        order.setdefault(c, len(order))
    ranked = sorted(counts, key=lambda c: (-counts[c], order[c]))
    return ['<unk>'] + ranked


def streams(ids, B):
    L = len(ids) // B
    return ids[: B * L].view(B, L), L


def evaluate(model, ids, T, Bmax, V):
    B = max(1, min(Bmax, (len(ids) - 1) // (T + 1)))
    data, L = streams(ids, B)
    model.eval()
    total, count, state = 0.0, 0, None
    with torch.no_grad():
        for start in range(0, L - 1, T):
            n = min(T, L - 1 - start)
            x = data[:, start:start + n].t()
            y = data[:, start + 1:start + 1 + n].t()
            logits, state = model(x, state)
            total += torch.nn.functional.cross_entropy(logits.reshape(-1, V), y.reshape(-1), reduction='sum').item()
            count += y.numel()
    model.train()
    return total / count


class CharLM(torch.nn.Module):
    def __init__(self, V, E, H):
        super().__init__()
        self.embedding = torch.nn.Embedding(V, E)
        self.rnn = torch.nn.LSTM(E, H)
        self.decoder = torch.nn.Linear(H, V)

    def forward(self, x, state=None):
        out, state = self.rnn(self.embedding(x), state)
        return self.decoder(out), state


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument('--text', required=True)
    ap.add_argument('--steps', type=int, default=600)
    ap.add_argument('--eval-every', type=int, default=100)
    ap.add_argument('--seq-len', type=int, default=64)
    ap.add_argument('--batch', type=int, default=32)
    ap.add_argument('--hidden', type=int, default=256)
    ap.add_argument('--embedding', type=int, default=64)
    ap.add_argument('--lr', type=float, default=2e-3)
    ap.add_argument('--clip', type=float, default=5.0)
    ap.add_argument('--val', type=float, default=0.1)
    ap.add_argument('--seed', type=int, default=0)
    ap.add_argument('--threads', type=int, default=1)
    a = ap.parse_args()
    torch.manual_seed(a.seed)
    torch.set_num_threads(a.threads)

    text = open(a.text, encoding='utf-8').read()
    vocab = vocabulary(text)
    index = {c: i for i, c in enumerate(vocab)}
    ids = torch.tensor([index[c] for c in text], dtype=torch.long)
    n_val = int(math.floor(len(ids) * a.val))
    train, val = ids[: len(ids) - n_val], ids[len(ids) - n_val:]
    V, T, B = len(vocab), a.seq_len, a.batch
    data, L = streams(train, B)
    per_epoch = (L - 1) // T

    model = CharLM(V, a.embedding, a.hidden)
    opt = torch.optim.Adam(model.parameters(), lr=a.lr)
    state, step, t0 = None, 0, time.time()
    train_time = 0.0
    while step < a.steps:
        state = None  # a new epoch starts from zero state
        for i in range(per_epoch):
            if step >= a.steps:
                break
            t1 = time.time()
            x = data[:, i * T:(i + 1) * T].t()
            y = data[:, i * T + 1:(i + 1) * T + 1].t()
            if state is not None:
                state = tuple(s.detach() for s in state)
            logits, state = model(x, state)
            loss = torch.nn.functional.cross_entropy(logits.reshape(-1, V), y.reshape(-1))
            opt.zero_grad()
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), a.clip)
            opt.step()
            step += 1
            train_time += time.time() - t1
            if step % a.eval_every == 0 or step == a.steps:
                print(json.dumps({'step': step, 'train': loss.item(), 'val': evaluate(model, val, T, B, V)}), flush=True)
    print(json.dumps({'done': True, 'vocab': V, 'seconds': time.time() - t0,
                      'tokens_per_s': step * T * B / train_time}), flush=True)


if __name__ == '__main__':
    sys.exit(main())
