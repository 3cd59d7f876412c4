// The per-instruction-set entry points. native/isa_impl.h is compiled once per ISA (isa_avx512.cc,
// isa_avx2.cc, isa_generic.cc) with different compiler flags; isa.cc picks one at load time from what the
// CPU supports (or RNNKIT_ISA=avx512|avx2|generic for testing).
#pragma once
#include <cstddef>
#include <cstdint>

namespace rnnkit {

// Called by gemm_panels when the group of panels starting at p is complete for rows [r0, r1).
using PanelsDone = void (*)(void* ctx, int r0, int r1, int p);

struct Isa {
  const char* name;
  int nr;  // columns per packed-B micro-panel
  // Floats needed to pack a K x N right-hand side.
  size_t (*packed_b_floats)(int K, int N);
  // Pack op(B) (K x N; B is N x K when transB) into micro-panels of nr columns, zero padded.
  void (*pack_b)(bool transB, int K, int N, const float* B, int ldb, float* out);
  // C[M,N] += alpha * op(A)[M,K] * Bpacked[K,N].
  void (*gemm_packed)(bool transA, int M, int N, int K, float alpha, const float* A, int lda,
                      const float* Bp, float* C, int ldc);
  // C[M, cols] += A[M,K] * panels (K x nr each, one after another), calling done after each group of
  // panels is complete for a block of rows; last_first: visit the panels last to first; prepacked: A comes
  // from pack_a_panels; init (a row like C's, or null): C = init + A * panels, C not read (native/isa_impl.h).
  void (*gemm_panels)(int M, int K, const float* A, int lda, bool prepacked, const float* Bp, int np, const int* cols,
                      const int* widths, float* C, int ldc, int group, bool last_first, PanelsDone done, void* ctx,
                      const float* init);
  // A [M,K] packed once for several gemm_panels calls (M*K floats).
  void (*pack_a_panels)(int M, int K, const float* A, int lda, float* out);
  // Whether gemm_panels over M rows sums every element in one chain in order of depth (no micro-tile under 4
  // rows, whose partial sums interleave: native/isa_impl.h, micro): then a row's bits do not depend on the rows
  // it shares the product with.
  bool (*one_chain_rows)(int M);
  // Batch 1 (native/isa_impl.h): chunks [c0, c1) of G packed panels each (K x nr) laid out by rows at out (same
  // offsets), and C[g][0, n[g]) += h[K] times gate g of one chunk laid out that way at Bc.
  void (*pack_rows1)(int G, int K, const float* panels, int c0, int c1, float* out);
  void (*gemv_chunk)(int G, int K, const float* h, const float* Bc, float* const* C, const int* n);
  // Fused gate math for one step over rows [0, rows) and hidden units [u0, u1) (shapes in native/isa_impl.h).
  void (*rnn_gates)(int relu, int rows, int H, int u0, int u1, const float* pre, size_t stride, float* h);
  void (*lstm_gates)(int rows, int H, int u0, int u1, const float* pre, size_t stride, const float* c_prev, float* c,
                     float* h, float* gates);
  void (*gru_gates)(int rows, int H, int u0, int u1, const float* pre, size_t stride, const float* h_prev, float* h,
                    float* gates, float* ghn);
  // Gate gradients of one backward step over rows [0, rows) and units [u0, u1) (native/isa_impl.h).
  void (*rnn_grads)(int relu, int rows, int H, int u0, int u1, const float* h, const float* dcur, const float* dy,
                    float* da, float* dnext);
  void (*lstm_grads)(int rows, int H, int u0, int u1, const float* gates, const float* c, const float* c_prev,
                     const float* dcur, const float* dy, float* dc, float* da, float* dnext);
  void (*gru_grads)(int rows, int H, int u0, int u1, const float* gates, const float* ghn, const float* h_prev,
                    const float* dcur, const float* dy, float* dgi, float* dgh, float* dnext);
  // out[c] = exp(z[c] - shift), c < n (the vector exp of the gate math); returns their sum in float64.
  double (*exp_shifted)(int n, const float* z, float shift, float* out);
  // Σ a[k] b[k] over n floats (vector partial sums in a fixed order), and y[j] += alpha x[j]: a one-row product.
  float (*dot)(int n, const float* a, const float* b);
  void (*axpy)(int n, float alpha, const float* x, float* y);
  // y[i] = x[i] * mask[i] for i in [i0, i1): mask[i] = 0 when mulberry32_at(seed, i) < threshold, else scale
  // (native/moves.h, dropout), the numbers a vector at a time.
  void (*dropout)(size_t i0, size_t i1, uint32_t seed, double threshold, float scale, const float* x, float* y);
  // Adam over [i0, i1) (native/dense.h, adam_step; step_size = lr / (1 - beta1^t), inv_sqrt_bc2 =
  // 1 / sqrt(1 - beta2^t)): each product and sum rounded on its own, never fused, so every ISA gives the bits.
  void (*adam_range)(size_t i0, size_t i1, float* p, const float* g, float* m, float* v, float lr, float beta1,
                     float beta2, float eps, float weight_decay, bool decoupled, float step_size, float inv_sqrt_bc2);
};

// The ISA in use (chosen once).
const Isa& isa();

namespace avx512 { extern const Isa table; }
namespace avx2 { extern const Isa table; }
namespace generic { extern const Isa table; }

}  // namespace rnnkit
