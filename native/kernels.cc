// Cell kernels (native/KERNELS.md): the input projection for all T steps is one GEMM, each step one small GEMM
// against W_hh packed once per call, fused with the gate math; backward runs the steps in reverse for dh/dc and
// computes the weight gradients afterwards as GEMMs over all steps. Scratch is per thread and only grows.
#include "kernels.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <vector>

#include "isa.h"

namespace rnnkit {

int gates_of(int kind) { return kind == kLstm ? 4 : kind == kGru ? 3 : 1; }

size_t workspace_floats(int kind, int T, int B, int H) {
  const size_t n = static_cast<size_t>(T) * B * H;
  return kind == kLstm ? 5 * n : kind == kGru ? 4 * n : 0;
}

namespace {

float* grow(std::vector<float>& v, size_t n) {
  if (v.size() < n) v.resize(n);
  return v.data();
}

// Every row of out [rows, n] = bias [n].
void fill_rows(float* out, const float* bias, size_t rows, size_t n) {
  for (size_t r = 0; r < rows; r++) std::memcpy(out + r * n, bias, n * sizeof(float));
}

void add_column_sums(float* db, const float* d, size_t rows, size_t n) {
  for (size_t r = 0; r < rows; r++) {
    const float* row = d + r * n;
    for (size_t j = 0; j < n; j++) db[j] += row[j];
  }
}

// Position processed at step s, and the position processed just before it.
inline int pos(const CellInputs& in, int s) { return in.reverse ? in.T - 1 - s : s; }

}  // namespace

void sgemm_ref(bool transA, bool transB, int M, int N, int K, float alpha, const float* A, int lda,
               const float* B, int ldb, float beta, float* C, int ldc) {
  for (int i = 0; i < M; i++) {
    for (int j = 0; j < N; j++) {
      float s = 0.0f;
      for (int k = 0; k < K; k++) {
        const float a = transA ? A[static_cast<size_t>(k) * lda + i] : A[static_cast<size_t>(i) * lda + k];
        const float b = transB ? B[static_cast<size_t>(j) * ldb + k] : B[static_cast<size_t>(k) * ldb + j];
        s += a * b;
      }
      float& c = C[static_cast<size_t>(i) * ldc + j];
      c = alpha * s + (beta == 0.0f ? 0.0f : beta * c);
    }
  }
}

void sgemm(bool transA, bool transB, int M, int N, int K, float alpha, const float* A, int lda,
           const float* B, int ldb, float beta, float* C, int ldc) {
  if (M <= 0 || N <= 0) return;
  for (int i = 0; i < M; i++) {
    float* c = C + static_cast<size_t>(i) * ldc;
    if (beta == 0.0f) std::fill(c, c + N, 0.0f);
    else if (beta != 1.0f) for (int j = 0; j < N; j++) c[j] *= beta;
  }
  if (K <= 0 || alpha == 0.0f) return;
  const Isa& k = isa();
  thread_local std::vector<float> bpack;
  float* bp = grow(bpack, k.packed_b_floats(K, N));
  k.pack_b(transB, K, N, B, ldb, bp);
  k.gemm_packed(transA, M, N, K, alpha, A, lda, bp, C, ldc);
}

void cell_forward(const CellInputs& in, float* y, float* hT, float* cT, float* ws) {
  const Isa& k = isa();
  const int T = in.T, B = in.B, I = in.I, H = in.H;
  const int GH = gates_of(in.kind) * H;
  const size_t TB = static_cast<size_t>(T) * B, BH = static_cast<size_t>(B) * H;
  thread_local std::vector<float> gi_v, gh_v, wih_p, whh_p, c_v;

  // gi [T*B, GH] = x W_ihᵀ + b_ih, all steps in one GEMM.
  float* gi = grow(gi_v, TB * GH);
  fill_rows(gi, in.bih, TB, GH);
  float* wp = grow(wih_p, k.packed_b_floats(I, GH));
  k.pack_b(true, I, GH, in.wih, I, wp);
  k.gemm_packed(false, static_cast<int>(TB), GH, I, 1.0f, in.x, I, wp, gi, GH);

  float* hp = grow(whh_p, k.packed_b_floats(H, GH));
  k.pack_b(true, H, GH, in.whh, H, hp);
  float* gh = grow(gh_v, static_cast<size_t>(B) * GH);
  float* cbuf = in.kind == kLstm ? grow(c_v, 2 * BH) : nullptr;

  const float* h_prev = in.h0;
  const float* c_prev = in.c0;
  for (int s = 0; s < T; s++) {
    const int t = pos(in, s);
    fill_rows(gh, in.bhh, B, GH);
    k.gemm_packed(false, B, GH, H, 1.0f, h_prev, H, hp, gh, GH);
    const float* git = gi + t * BH * (GH / H);
    float* ht = y + t * BH;
    switch (in.kind) {
      case kRnnTanh:
      case kRnnRelu:
        k.rnn_step(in.kind == kRnnRelu, B, H, git, gh, ht);
        break;
      case kLstm: {
        float* ct = ws ? ws + 4 * TB * H + t * BH : cbuf + (s & 1) * BH;
        k.lstm_step(B, H, git, gh, c_prev, ct, ht, ws ? ws + t * 4 * BH : nullptr);
        c_prev = ct;
        break;
      }
      case kGru:
        k.gru_step(B, H, git, gh, h_prev, ht, ws ? ws + t * 3 * BH : nullptr, ws ? ws + 3 * TB * H + t * BH : nullptr);
        break;
    }
    h_prev = ht;
  }
  std::memcpy(hT, h_prev, BH * sizeof(float));
  if (in.kind == kLstm) std::memcpy(cT, c_prev, BH * sizeof(float));
}

void cell_backward(const CellInputs& in, const float* y, const float* ws, const float* dy, const float* dhT,
                   const float* dcT, float* dx, float* dh0, float* dc0, float* dwih, float* dwhh, float* dbih,
                   float* dbhh) {
  const Isa& k = isa();
  const int T = in.T, B = in.B, I = in.I, H = in.H;
  const int G = gates_of(in.kind), GH = G * H;
  const size_t TB = static_cast<size_t>(T) * B, BH = static_cast<size_t>(B) * H;
  thread_local std::vector<float> dgi_v, dgh_v, hprev_v, dh_v, dc_v, wp_v;

  float* dgi = grow(dgi_v, TB * GH);
  float* dgh = in.kind == kGru ? grow(dgh_v, TB * GH) : dgi;  // the same for every cell but GRU
  float* Hprev = grow(hprev_v, TB * H);                       // state before each position's step
  float* dh = grow(dh_v, 2 * BH);                              // [2][B,H]: current and next
  float* dc = in.kind == kLstm ? grow(dc_v, BH) : nullptr;
  float* whh_p = grow(wp_v, std::max(k.packed_b_floats(GH, H), k.packed_b_floats(GH, I)));
  k.pack_b(false, GH, H, in.whh, H, whh_p);

  std::memcpy(dh + ((T - 1) & 1) * BH, dhT, BH * sizeof(float));  // slot read by step T-1
  if (dc) std::memcpy(dc, dcT, BH * sizeof(float));
  const float* lstm_c = ws ? ws + 4 * TB * H : nullptr;
  const float* gru_n = ws ? ws + 3 * TB * H : nullptr;

  for (int s = T - 1; s >= 0; s--) {
    const int t = pos(in, s);
    const int tp = s > 0 ? pos(in, s - 1) : -1;
    const float* hp = tp >= 0 ? y + tp * BH : in.h0;
    std::memcpy(Hprev + t * BH, hp, BH * sizeof(float));
    float* dcur = dh + (s & 1) * BH;   // dL/dh at this step's output (before adding dy)
    float* dnext = dh + ((s & 1) ^ 1) * BH;  // becomes dL/dh_prev
    const float* dyt = dy + t * BH;
    float* gi_t = dgi + t * B * static_cast<size_t>(GH);
    float* gh_t = dgh + t * B * static_cast<size_t>(GH);
    for (int b = 0; b < B; b++) {
      const size_t o = static_cast<size_t>(b) * H;
      float* a = gi_t + static_cast<size_t>(b) * GH;
      float* q = gh_t + static_cast<size_t>(b) * GH;
      switch (in.kind) {
        case kRnnTanh:
        case kRnnRelu: {
          const float* h = y + t * BH + o;
          for (int u = 0; u < H; u++) {
            const float d = dcur[o + u] + dyt[o + u];
            a[u] = in.kind == kRnnTanh ? d * (1.0f - h[u] * h[u]) : (h[u] > 0.0f ? d : 0.0f);
            dnext[o + u] = 0.0f;
          }
          break;
        }
        case kLstm: {
          const float* g4 = ws + (t * BH + o) * 4;  // gates row for (t, b): [4H]
          const float* c = lstm_c + t * BH + o;
          const float* cp = tp >= 0 ? lstm_c + tp * BH + o : in.c0 + o;
          for (int u = 0; u < H; u++) {
            const float i = g4[u], f = g4[H + u], g = g4[2 * H + u], og = g4[3 * H + u];
            const float d = dcur[o + u] + dyt[o + u];
            const float tc = std::tanh(c[u]);
            const float dcv = dc[o + u] + d * og * (1.0f - tc * tc);
            a[u] = dcv * g * i * (1.0f - i);
            a[H + u] = dcv * cp[u] * f * (1.0f - f);
            a[2 * H + u] = dcv * i * (1.0f - g * g);
            a[3 * H + u] = d * tc * og * (1.0f - og);
            dc[o + u] = dcv * f;
            dnext[o + u] = 0.0f;
          }
          break;
        }
        case kGru: {
          const float* g3 = ws + (t * BH + o) * 3;  // gates row for (t, b): [3H]
          const float* ghn = gru_n + t * BH + o;
          for (int u = 0; u < H; u++) {
            const float r = g3[u], z = g3[H + u], n = g3[2 * H + u];
            const float d = dcur[o + u] + dyt[o + u];
            const float dan = d * (1.0f - z) * (1.0f - n * n);
            const float dar = dan * ghn[u] * r * (1.0f - r);
            const float daz = d * (hp[o + u] - n) * z * (1.0f - z);
            a[u] = q[u] = dar;
            a[H + u] = q[H + u] = daz;
            a[2 * H + u] = dan;
            q[2 * H + u] = dan * r;
            dnext[o + u] = d * z;
          }
          break;
        }
      }
    }
    // dh_prev += dgh_t W_hh  ([B, GH] x [GH, H])
    k.gemm_packed(false, B, H, GH, 1.0f, gh_t, GH, whh_p, dnext, H);
  }
  std::memcpy(dh0, dh + BH, BH * sizeof(float));  // step 0 wrote its dnext into slot 1
  if (dc) std::memcpy(dc0, dc, BH * sizeof(float));

  // Weight and input gradients over all steps at once.
  float* wih_p = whh_p;  // reuse: W_hh's packing is no longer needed
  k.pack_b(false, GH, I, in.wih, I, wih_p);
  k.gemm_packed(false, static_cast<int>(TB), I, GH, 1.0f, dgi, GH, wih_p, dx, I);
  sgemm(true, false, GH, I, static_cast<int>(TB), 1.0f, dgi, GH, in.x, I, 1.0f, dwih, I);
  sgemm(true, false, GH, H, static_cast<int>(TB), 1.0f, dgh, GH, Hprev, H, 1.0f, dwhh, H);
  add_column_sums(dbih, dgi, TB, GH);
  add_column_sums(dbhh, dgh, TB, GH);
}

}  // namespace rnnkit
