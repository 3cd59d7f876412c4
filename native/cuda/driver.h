// The CUDA backend's algorithm, written once over an executor: the CUDA executor (exec_cuda.cu: kernels and
// cuBLAS on one stream) and the host executor (exec_host.cc: loops and a reference column-major GEMM, the
// emulation that the CPU-only tests run). What differs between the two is only how an element-wise functor runs,
// how a GEMM runs and where memory lives.
//
// The cell algorithm (DESIGN.md, "How the fast ones do it"): the input projection of all T steps is one GEMM;
// each step is one recurrent GEMM h_prev W_hhᵀ plus ONE element-wise kernel for the gate math; backward runs the
// steps in reverse with one kernel and one GEMM per step, then the weight gradients as GEMMs over all steps.
#pragma once

#include <cmath>
#include <cstddef>
#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

#include "cell_ops.h"

namespace rnnkit_cuda {

/** Pointers are device pointers (host pointers in the emulation). Sizes as in native/KERNELS.md. */
struct CellCall {
  int kind, T, B, I, H;
  bool reverse;
  const float *x, *h0, *c0, *wih, *whh, *bih, *bhh;
  float *y, *hT, *cT, *ws;  // forward outputs (ws, cT may be null)
  // backward
  const float *dy, *dhT, *dcT;
  float *dx, *dh0, *dc0, *dwih, *dwhh, *dbih, *dbhh;
};

inline int gates_of(int kind) { return kind == LSTM ? 4 : kind == GRU ? 3 : 1; }
// Workspace floats forward keeps for backward (native/KERNELS.md): LSTM 4 gates + c, GRU 3 gates + ghn, per T*B*H.
inline size_t workspace_floats(int kind, size_t TBH) { return kind == LSTM ? 5 * TBH : kind == GRU ? 4 * TBH : 0; }

/** What the N-API glue (addon.cc) calls; one implementation per executor. */
class Device {
 public:
  virtual ~Device() = default;
  virtual std::string describe() const = 0;
  /** n zero-filled floats; throws std::runtime_error when the device has no memory left. */
  virtual float* alloc(size_t n) = 0;
  virtual void release(float* p) = 0;
  virtual void upload(float* dst, const float* src, size_t n) = 0;
  virtual void download(float* dst, const float* src, size_t n) = 0;
  virtual void copy(float* dst, const float* src, size_t n) = 0;
  virtual void fill(float* dst, float value, size_t n) = 0;
  virtual void copy2d(size_t rows, size_t cols, const float* src, size_t src_stride, float* dst, size_t dst_stride) = 0;
  virtual void transpose01(size_t A, size_t B, size_t C, const float* src, float* dst) = 0;
  virtual void dropout(size_t n, uint32_t seed, double threshold, float scale, const float* x, float* y) = 0;
  virtual void cell_forward(const CellCall& c) = 0;
  virtual void cell_backward(const CellCall& c) = 0;
  virtual void sgemm(bool ta, bool tb, int M, int N, int K, float alpha, const float* A, int lda, const float* B,
                     int ldb, float beta, float* C, int ldc) = 0;
  virtual void linear_forward(int N, int I, int O, const float* x, const float* w, const float* b, float* y) = 0;
  virtual void linear_backward(int N, int I, int O, const float* x, const float* w, const float* dy, float* dx,
                               float* dw, float* db) = 0;
  virtual double softmax_cross_entropy(int N, int C, const float* logits, const float* targets, float* dlogits,
                                       float scale) = 0;
  virtual void embedding_forward(int N, int D, int V, const float* ids, const float* table, float* out) = 0;
  virtual void embedding_backward(int N, int D, int V, const float* ids, const float* dout, float* dtable) = 0;
  virtual void adam_step(size_t n, float* p, const float* g, float* m, float* v, float lr, float beta1, float beta2,
                         float eps, float weight_decay, bool decoupled, int step) = 0;
  virtual void sgd_step(size_t n, float* p, const float* g, float* buf, float lr, float momentum,
                        float weight_decay, bool nesterov, bool first) = 0;
  virtual double sum_squares(size_t n, const float* x) = 0;
  virtual void scale(size_t n, float* x, float alpha) = 0;
  virtual void synchronize() = 0;
};

/**
 * Opens the device of this build: the first CUDA device with cuBLAS loaded at run time (exec_cuda.cu), or the
 * host emulation (exec_host.cc). `precision`: "fp32" (the default), "tf32" (cuBLAS may use TF32 tensor cores) or
 * "bf16" (the GEMMs through cublasGemmEx with bf16 tensor-core products); the emulation rounds the GEMMs' operands
 * to those mantissas. On failure returns null and says why in `reason`.
 */
std::unique_ptr<Device> open_device(const std::string& precision, std::string& reason);

// Scratch slots an executor keeps between calls (grown on demand, never shrunk).
enum Slot { S_GATES = 0, S_GH = 1, S_CELL = 2, S_DGH = 3, S_DH = 4, S_DC = 5, S_COUNT = 6 };

template <class Exec>
class DeviceImpl final : public Device {
 public:
  explicit DeviceImpl(std::unique_ptr<Exec> ex) : ex_(std::move(ex)) {}
  std::string describe() const override { return ex_->describe(); }
  float* alloc(size_t n) override { return ex_->alloc(n); }
  void release(float* p) override { ex_->release(p); }
  void upload(float* dst, const float* src, size_t n) override { ex_->to_device(dst, src, n * sizeof(float)); }
  void download(float* dst, const float* src, size_t n) override { ex_->to_host(dst, src, n * sizeof(float)); }
  void copy(float* dst, const float* src, size_t n) override { ex_->copy(dst, src, n); }
  void fill(float* dst, float value, size_t n) override { ex_->for_each(n, Fill{dst, value}); }
  void copy2d(size_t rows, size_t cols, const float* src, size_t src_stride, float* dst, size_t dst_stride) override {
    if (cols) ex_->for_each(rows * cols, Copy2D{cols, src_stride, dst_stride, src, dst});
  }
  void transpose01(size_t A, size_t B, size_t C, const float* src, float* dst) override {
    ex_->for_each(A * B * C, Transpose01{A, B, C, src, dst});
  }
  void dropout(size_t n, uint32_t seed, double threshold, float scale, const float* x, float* y) override {
    ex_->for_each(n, Dropout{seed, threshold, scale, x, y});
  }
  void synchronize() override { ex_->sync(); }

  // Row-major C[M,N] = alpha op(A) op(B) + beta C is the column-major Cᵀ = op(B)ᵀ op(A)ᵀ: the operands swap.
  void sgemm(bool ta, bool tb, int M, int N, int K, float alpha, const float* A, int lda, const float* B, int ldb,
             float beta, float* C, int ldc) override {
    if (M == 0 || N == 0) return;
    ex_->gemm_cm(tb, ta, N, M, K, alpha, B, ldb, A, lda, beta, C, ldc);
  }

  void cell_forward(const CellCall& c) override {
    const int G = gates_of(c.kind), GH = G * c.H;
    const size_t BH = static_cast<size_t>(c.B) * c.H, BGH = static_cast<size_t>(c.B) * GH;
    const size_t TB = static_cast<size_t>(c.T) * c.B;
    float* gi = ex_->scratch(S_GATES, TB * GH);
    sgemm(false, true, static_cast<int>(TB), GH, c.I, 1.0f, c.x, c.I, c.wih, c.I, 0.0f, gi, GH);
    float* gh = ex_->scratch(S_GH, BGH);
    float* cbuf = (c.kind == LSTM && !c.ws) ? ex_->scratch(S_CELL, 2 * BH) : nullptr;
    float* ws_c = (c.ws && (c.kind == LSTM || c.kind == GRU)) ? c.ws + TB * GH : nullptr;  // cell states / ghn
    const float* hprev = c.h0;
    const float* cprev = c.kind == LSTM ? c.c0 : nullptr;
    for (int s = 0; s < c.T; ++s) {
      const int t = c.reverse ? c.T - 1 - s : s;
      sgemm(false, true, c.B, GH, c.H, 1.0f, hprev, c.H, c.whh, c.H, 0.0f, gh, GH);
      float* yt = c.y + t * BH;
      float* ct = nullptr;
      if (c.kind == LSTM) ct = ws_c ? ws_c + t * BH : cbuf + (s % 2) * BH;
      StepForward f{c.kind, c.B, c.H, gi + t * BGH, gh, c.bih, c.bhh, hprev, cprev, yt, ct,
                    c.ws ? c.ws + t * BGH : nullptr, (c.kind == GRU && ws_c) ? ws_c + t * BH : nullptr};
      ex_->for_each(BH, f);
      hprev = yt;
      cprev = ct;
    }
    ex_->copy(c.hT, hprev, BH);
    if (c.kind == LSTM && c.cT) ex_->copy(c.cT, cprev, BH);
  }

  void cell_backward(const CellCall& c) override {
    const int G = gates_of(c.kind), GH = G * c.H;
    const size_t BH = static_cast<size_t>(c.B) * c.H, BGH = static_cast<size_t>(c.B) * GH;
    const size_t TB = static_cast<size_t>(c.T) * c.B;
    float* dgi = ex_->scratch(S_GATES, TB * GH);
    float* dgh = c.kind == GRU ? ex_->scratch(S_DGH, TB * GH) : dgi;
    float* dh = ex_->scratch(S_DH, BH);
    ex_->copy(dh, c.dhT, BH);
    float* dc = nullptr;
    if (c.kind == LSTM) {
      dc = ex_->scratch(S_DC, BH);
      if (c.dcT) ex_->copy(dc, c.dcT, BH);
      else ex_->for_each(BH, Fill{dc, 0.0f});
    }
    const float* ws_c = (c.kind == LSTM || c.kind == GRU) ? c.ws + TB * GH : nullptr;
    for (int s = c.T - 1; s >= 0; --s) {
      const int t = c.reverse ? c.T - 1 - s : s;
      const int tp = c.reverse ? t + 1 : t - 1;  // the step before in processing order (s > 0)
      const float* hprev = s == 0 ? c.h0 : c.y + tp * BH;
      const float* cprev = c.kind == LSTM ? (s == 0 ? c.c0 : ws_c + tp * BH) : nullptr;
      StepBackward b{c.kind, c.B, c.H, c.dy + t * BH, dh, dc, c.y + t * BH, hprev, cprev,
                     c.kind == LSTM ? ws_c + t * BH : nullptr, c.ws ? c.ws + t * BGH : nullptr,
                     c.kind == GRU ? ws_c + t * BH : nullptr, dgi + t * BGH, dgh + t * BGH};
      ex_->for_each(BH, b);
      // dh_prev = dgh W_hh (+ the GRU's direct term dh * z, which the step left in dh).
      sgemm(false, false, c.B, c.H, GH, 1.0f, dgh + t * BGH, GH, c.whh, c.H, c.kind == GRU ? 1.0f : 0.0f, dh, c.H);
    }
    ex_->copy(c.dh0, dh, BH);
    if (c.kind == LSTM && c.dc0) ex_->copy(c.dc0, dc, BH);
    const int TBi = static_cast<int>(TB);
    sgemm(false, false, TBi, c.I, GH, 1.0f, dgi, GH, c.wih, c.I, 1.0f, c.dx, c.I);
    sgemm(true, false, GH, c.I, TBi, 1.0f, dgi, GH, c.x, c.I, 1.0f, c.dwih, c.I);
    // dwhh += dghᵀ Hprev: the first processed step read h0, every other step the output of the step before.
    const int t0 = c.reverse ? c.T - 1 : 0;
    sgemm(true, false, GH, c.H, c.B, 1.0f, dgh + t0 * BGH, GH, c.h0, c.H, 1.0f, c.dwhh, c.H);
    if (c.T > 1) {
      const size_t g_off = c.reverse ? 0 : BGH, y_off = c.reverse ? BH : 0;
      sgemm(true, false, GH, c.H, (c.T - 1) * c.B, 1.0f, dgh + g_off, GH, c.y + y_off, c.H, 1.0f, c.dwhh, c.H);
    }
    ex_->for_each(GH, ColumnSumAdd{TBi, GH, dgi, c.dbih});
    ex_->for_each(GH, ColumnSumAdd{TBi, GH, dgh, c.dbhh});
  }

  void linear_forward(int N, int I, int O, const float* x, const float* w, const float* b, float* y) override {
    if (b) ex_->for_each(static_cast<size_t>(N) * O, BroadcastRows{O, b, y});
    sgemm(false, true, N, O, I, 1.0f, x, I, w, I, b ? 1.0f : 0.0f, y, O);
  }

  void linear_backward(int N, int I, int O, const float* x, const float* w, const float* dy, float* dx, float* dw,
                       float* db) override {
    if (dx) sgemm(false, false, N, I, O, 1.0f, dy, O, w, I, 0.0f, dx, I);
    sgemm(true, false, O, I, N, 1.0f, dy, O, x, I, 1.0f, dw, I);
    if (db) ex_->for_each(O, ColumnSumAdd{N, O, dy, db});
  }

  double softmax_cross_entropy(int N, int C, const float* logits, const float* targets, float* dlogits,
                               float scale) override {
    double* loss = ex_->scratch_double(static_cast<size_t>(N));
    ex_->for_each(N, SoftmaxCrossEntropyRow{C, logits, targets, dlogits, scale, loss});
    return ex_->sum_doubles(loss, static_cast<size_t>(N));
  }

  void embedding_forward(int N, int D, int V, const float* ids, const float* table, float* out) override {
    ex_->for_each(static_cast<size_t>(N) * D, EmbeddingGather{D, V, ids, table, out});
  }

  void embedding_backward(int N, int D, int V, const float* ids, const float* dout, float* dtable) override {
    ex_->for_each(static_cast<size_t>(N) * D, EmbeddingScatterAdd{D, V, ids, dout, dtable});
  }

  void adam_step(size_t n, float* p, const float* g, float* m, float* v, float lr, float beta1, float beta2,
                 float eps, float weight_decay, bool decoupled, int step) override {
    const float bc1 = 1.0f - static_cast<float>(std::pow(static_cast<double>(beta1), step));
    const float bc2 = 1.0f - static_cast<float>(std::pow(static_cast<double>(beta2), step));
    ex_->for_each(n, AdamUpdate{p, g, m, v, lr, beta1, beta2, eps, weight_decay, bc1, bc2, decoupled});
  }

  void sgd_step(size_t n, float* p, const float* g, float* buf, float lr, float momentum, float weight_decay,
                bool nesterov, bool first) override {
    ex_->for_each(n, SgdUpdate{p, g, buf, lr, momentum, weight_decay, nesterov, first});
  }

  double sum_squares(size_t n, const float* x) override {
    const size_t parts = n < 8192 ? (n ? n : 1) : 8192;
    double* partial = ex_->scratch_double(parts);
    ex_->for_each(parts, SumSquaresPart{n, parts, x, partial});
    return ex_->sum_doubles(partial, parts);
  }

  void scale(size_t n, float* x, float alpha) override { ex_->for_each(n, Scale{x, alpha}); }

 private:
  std::unique_ptr<Exec> ex_;
};

}  // namespace rnnkit_cuda
