// Dense operations for training: Linear, softmax cross-entropy, embedding, optimizer steps, norms.
// The big products go through sgemm; the rest are single passes the compiler vectorises.
#include "dense.h"

#include <algorithm>
#include <cmath>
#include <cstring>

#include "kernels.h"

namespace rnnkit {

void linear_forward(int N, int I, int O, const float* x, const float* w, const float* b, float* y) {
  for (int n = 0; n < N; n++) {
    float* row = y + static_cast<size_t>(n) * O;
    if (b) std::memcpy(row, b, O * sizeof(float));
    else std::fill(row, row + O, 0.0f);
  }
  sgemm(false, true, N, O, I, 1.0f, x, I, w, I, 1.0f, y, O);
}

void linear_backward(int N, int I, int O, const float* x, const float* w, const float* dy, float* dx, float* dw,
                     float* db) {
  if (dx) sgemm(false, false, N, I, O, 1.0f, dy, O, w, I, 0.0f, dx, I);
  sgemm(true, false, O, I, N, 1.0f, dy, O, x, I, 1.0f, dw, I);
  if (db) {
    for (int n = 0; n < N; n++) {
      const float* row = dy + static_cast<size_t>(n) * O;
      for (int o = 0; o < O; o++) db[o] += row[o];
    }
  }
}

double softmax_cross_entropy(int N, int C, const float* logits, const float* targets, float* dlogits, float scale) {
  double loss = 0.0;
  for (int n = 0; n < N; n++) {
    const float* z = logits + static_cast<size_t>(n) * C;
    float* dz = dlogits ? dlogits + static_cast<size_t>(n) * C : nullptr;
    const float tf = targets[n];
    const int t = static_cast<int>(tf);
    if (!(tf >= 0.0f && tf < static_cast<float>(C)) || static_cast<float>(t) != tf) {
      if (dz) std::fill(dz, dz + C, 0.0f);
      continue;
    }
    float mx = z[0];
    for (int c = 1; c < C; c++) mx = std::max(mx, z[c]);
    double sum = 0.0;
    for (int c = 0; c < C; c++) sum += std::exp(static_cast<double>(z[c] - mx));
    const double lse = std::log(sum) + mx;
    loss += lse - z[t];
    if (dz) {
      for (int c = 0; c < C; c++) dz[c] = scale * static_cast<float>(std::exp(static_cast<double>(z[c]) - lse));
      dz[t] -= scale;
    }
  }
  return loss;
}

void embedding_forward(int N, int D, int V, const float* ids, const float* table, float* out) {
  for (int n = 0; n < N; n++) {
    const float f = ids[n];
    const int id = static_cast<int>(f);
    float* row = out + static_cast<size_t>(n) * D;
    if (f >= 0.0f && f < static_cast<float>(V) && static_cast<float>(id) == f) {
      std::memcpy(row, table + static_cast<size_t>(id) * D, D * sizeof(float));
    } else {
      std::fill(row, row + D, 0.0f);
    }
  }
}

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

void adam_step(size_t n, float* p, const float* g, float* m, float* v, float lr, float beta1, float beta2, float eps,
               float weight_decay, bool decoupled, int step) {
  const float bc1 = 1.0f - static_cast<float>(std::pow(static_cast<double>(beta1), step));
  const float bc2 = 1.0f - static_cast<float>(std::pow(static_cast<double>(beta2), step));
  const float step_size = lr / bc1;
  const float inv_sqrt_bc2 = 1.0f / std::sqrt(bc2);
  for (size_t i = 0; i < n; i++) {
    float gi = g[i];
    if (decoupled) p[i] -= lr * weight_decay * p[i];
    else gi += weight_decay * p[i];
    m[i] = beta1 * m[i] + (1.0f - beta1) * gi;
    v[i] = beta2 * v[i] + (1.0f - beta2) * gi * gi;
    p[i] -= step_size * m[i] / (std::sqrt(v[i]) * inv_sqrt_bc2 + eps);
  }
}

void sgd_step(size_t n, float* p, const float* g, float* buf, float lr, float momentum, float weight_decay,
              bool nesterov, bool first) {
  for (size_t i = 0; i < n; i++) {
    float gi = g[i] + weight_decay * p[i];
    if (momentum != 0.0f) {
      buf[i] = first ? gi : momentum * buf[i] + gi;
      gi = nesterov ? gi + momentum * buf[i] : buf[i];
    }
    p[i] -= lr * gi;
  }
}

double sum_squares(size_t n, const float* x) {
  double s = 0.0;
  for (size_t i = 0; i < n; i++) s += static_cast<double>(x[i]) * x[i];
  return s;
}

void scale(size_t n, float* x, float alpha) {
  for (size_t i = 0; i < n; i++) x[i] *= alpha;
}

}  // namespace rnnkit
