// Dense operations for training: Linear, softmax cross-entropy, embedding, optimizer steps, norms.
// The big products go through sgemm; the rest are single passes the compiler vectorises.
#include "dense.h"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <vector>

#include "aligned.h"
#include "isa.h"
#include "kernels.h"
#include "pool.h"

namespace rnnkit {

bool linear_forward(int N, int I, int O, const float* x, const float* w, const float* b, float* y,
                    const CancelPoll* cancel) {
  return sgemm(false, true, N, O, I, 1.0f, x, I, w, I, 0.0f, y, O, cancel, b);  // rows start as b (or zeros)
}

bool linear_backward(int N, int I, int O, const float* x, const float* w, const float* dy, float* dx, float* dw,
                     float* db, const CancelPoll* cancel) {
  if (dx && !sgemm(false, false, N, I, O, 1.0f, dy, O, w, I, 0.0f, dx, I, cancel)) return false;
  if (!sgemm(true, false, O, I, N, 1.0f, dy, O, x, I, 1.0f, dw, I, cancel)) return false;
  if (db) {
    for (int n = 0; n < N; n++) {
      const float* row = dy + static_cast<size_t>(n) * O;
      for (int o = 0; o < O; o++) db[o] += row[o];
    }
  }
  return true;
}

// Rows are independent: the loss is summed in float64 over blocks of 64 rows, and the blocks' sums are added in
// order; the threads take ranges of whole blocks, so the loss has the same bits on any thread count. The
// exponentials exp(z - max) are the float vector exp of the gate math (isa_impl.h, exp_shifted: about 1 ulp),
// summed in float64 and kept in dlogits (or a row of scratch) to be scaled by 1 / sum afterwards.
double softmax_cross_entropy(int N, int C, const float* logits, const float* targets, float* dlogits, float scale) {
  const Isa& k = isa();
  constexpr int kRows = 64;
  const int blocks = (N + kRows - 1) / kRows;
  const int nt = threads_for(8.0 * N * C, blocks);  // ~8 flops' worth per element (a vector exp)
  std::vector<double> part(blocks, 0.0);
  auto rows = [&](int tid, int n) {
    int r0, r1;
    split_range(N, n, tid, kRows, &r0, &r1);
    thread_local FloatBuf scratch;
    if (!dlogits && scratch.size() < static_cast<size_t>(C)) scratch.resize(C);
    double loss = 0.0;
    for (int r = r0; r < r1; r++) {
      if (r % kRows == 0 && r > r0) {
        part[(r - 1) / kRows] = loss;
        loss = 0.0;
      }
      const float* z = logits + static_cast<size_t>(r) * C;
      float* dz = dlogits ? dlogits + static_cast<size_t>(r) * C : nullptr;
      const float tf = targets[r];
      const int t = static_cast<int>(tf);
      if (!(tf >= 0.0f && tf < static_cast<float>(C)) || static_cast<float>(t) != tf) {
        if (dz) std::fill(dz, dz + C, 0.0f);
        continue;
      }
      float mx = z[0];
      for (int c = 1; c < C; c++) mx = std::max(mx, z[c]);
      const double sum = k.exp_shifted(C, z, mx, dz ? dz : scratch.data());
      loss += std::log(sum) + mx - z[t];
      if (dz) {
        const float f = static_cast<float>(scale / sum);
        for (int c = 0; c < C; c++) dz[c] *= f;
        dz[t] -= scale;
      }
    }
    if (r1 > r0) part[(r1 - 1) / kRows] = loss;
  };
  ThreadPool::get().run(nt, rows);
  double loss = 0.0;
  for (const double x : part) loss += x;
  return loss;
}

// Rows are gathered by the threads in contiguous ranges.
void embedding_forward(int N, int D, int V, const float* ids, const float* table, float* out) {
  parallel_rows(static_cast<size_t>(N), static_cast<double>(D), [&](size_t n) {
    const float f = ids[n];
    const int id = static_cast<int>(f);
    float* row = out + n * D;
    if (f >= 0.0f && f < static_cast<float>(V) && static_cast<float>(id) == f) {
      std::memcpy(row, table + static_cast<size_t>(id) * D, D * sizeof(float));
    } else {
      std::fill(row, row + D, 0.0f);
    }
  });
}

// One thread: memory-bound, and split by columns (the only split that keeps every sum's order without knowing the
// ids) it ran 2-4x slower on two threads here (each thread streaming every row of dout for half of it); split by
// the vocabulary's rows, no faster than one (W5's 16384 x 256: 0.6-1.2 against 0.7-0.9 ms).
void embedding_backward(int N, int D, int V, const float* ids, const float* dout, float* dtable) {
  for (int n = 0; n < N; n++) {
    const float f = ids[n];
    const int id = static_cast<int>(f);
    if (!(f >= 0.0f && f < static_cast<float>(V)) || static_cast<float>(id) != f) continue;
    float* dst = dtable + static_cast<size_t>(id) * D;
    const float* src = dout + static_cast<size_t>(n) * D;
    for (int d = 0; d < D; d++) dst[d] += src[d];
  }
}

// Elementwise, so the threads take contiguous ranges; the ISA's vectors (isa_impl.h, adam_range), not fused.
void adam_step(size_t n, float* p, const float* g, float* m, float* v, float lr, float beta1, float beta2, float eps,
               float weight_decay, bool decoupled, int step) {
  const float bc1 = 1.0f - static_cast<float>(std::pow(static_cast<double>(beta1), step));
  const float bc2 = 1.0f - static_cast<float>(std::pow(static_cast<double>(beta2), step));
  const float step_size = lr / bc1;
  const float inv_sqrt_bc2 = 1.0f / std::sqrt(bc2);
  const Isa& k = isa();
  parallel_ranges(n, 10.0 * static_cast<double>(n), [&](size_t i0, size_t i1) {
    k.adam_range(i0, i1, p, g, m, v, lr, beta1, beta2, eps, weight_decay, decoupled, step_size, inv_sqrt_bc2);
  });
}

namespace {
// SGD over [i0, i1): restrict (p, g and buf are distinct buffers: src/backend/check.ts) and the options tested once
// per range let the compiler vectorise it (as one loop with its branches inside it was scalar: 1.45 ns an element
// with momentum, twice Adam's time).
void sgd_range(size_t i0, size_t i1, float* __restrict p, const float* __restrict g, float* __restrict buf, float lr,
               float momentum, float weight_decay, bool nesterov, bool first) {
  if (momentum == 0.0f) {
    for (size_t i = i0; i < i1; i++) p[i] -= lr * (g[i] + weight_decay * p[i]);
  } else if (first) {
    for (size_t i = i0; i < i1; i++) {
      const float gi = g[i] + weight_decay * p[i];
      buf[i] = gi;
      p[i] -= lr * (nesterov ? gi + momentum * gi : gi);
    }
  } else if (nesterov) {
    for (size_t i = i0; i < i1; i++) {
      const float gi = g[i] + weight_decay * p[i];
      const float b = momentum * buf[i] + gi;
      buf[i] = b;
      p[i] -= lr * (gi + momentum * b);
    }
  } else {
    for (size_t i = i0; i < i1; i++) {
      const float b = momentum * buf[i] + (g[i] + weight_decay * p[i]);
      buf[i] = b;
      p[i] -= lr * b;
    }
  }
}
}  // namespace

void sgd_step(size_t n, float* p, const float* g, float* buf, float lr, float momentum, float weight_decay,
              bool nesterov, bool first) {
  parallel_ranges(n, 4.0 * static_cast<double>(n), [&](size_t i0, size_t i1) {
    sgd_range(i0, i1, p, g, buf, lr, momentum, weight_decay, nesterov, first);
  });
}

// A float is NaN or infinite exactly when its exponent bits are all ones. Blocks of 4096 are tested with
// integer operations only (and, compare, or: vectorised even for baseline SSE2, and memory-bound); the index is
// looked for only inside a block that has one.
long long first_non_finite(size_t n, const float* x) {
  constexpr uint32_t kExp = 0x7f800000u;
  constexpr size_t kBlock = 4096;
  for (size_t b = 0; b < n; b += kBlock) {
    const size_t e = std::min(n, b + kBlock);
    uint32_t bad = 0;
    for (size_t i = b; i < e; i++) {
      uint32_t u;
      std::memcpy(&u, x + i, sizeof u);
      bad |= static_cast<uint32_t>((u & kExp) == kExp);
    }
    if (bad) {
      for (size_t i = b; i < e; i++) {
        if (!std::isfinite(x[i])) return static_cast<long long>(i);
      }
    }
  }
  return -1;
}

namespace {
// Σ x² of one block in float64 as eight interleaved sums (element i into sum i mod 8), added pairwise at the end:
// independent chains the compiler vectorises, in a fixed order.
double block_squares(const float* x, size_t n) {
  double acc[8] = {};
  size_t i = 0;
  for (; i + 8 <= n; i += 8) {
    for (int j = 0; j < 8; j++) {
      const double v = x[i + j];
      acc[j] += v * v;
    }
  }
  for (; i < n; i++) {
    const double v = x[i];
    acc[i % 8] += v * v;
  }
  return ((acc[0] + acc[1]) + (acc[2] + acc[3])) + ((acc[4] + acc[5]) + (acc[6] + acc[7]));
}
}  // namespace

// Blocks of kSumBlock floats, their sums added in order: the threads take ranges of whole blocks, so the result
// has the same bits on any thread count.
double sum_squares(size_t n, const float* x) {
  constexpr size_t kSumBlock = 4096;
  const size_t blocks = (n + kSumBlock - 1) / kSumBlock;
  if (blocks <= 1) return block_squares(x, n);
  std::vector<double> part(blocks);
  parallel_rows(blocks, 2.0 * kSumBlock, [&](size_t b) {
    part[b] = block_squares(x + b * kSumBlock, std::min(kSumBlock, n - b * kSumBlock));
  });
  double s = 0.0;
  for (const double v : part) s += v;
  return s;
}

void scale(size_t n, float* x, float alpha) {
  parallel_ranges(n, static_cast<double>(n), [&](size_t i0, size_t i1) {
    for (size_t i = i0; i < i1; i++) x[i] *= alpha;
  });
}

}  // namespace rnnkit
