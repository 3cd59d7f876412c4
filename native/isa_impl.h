// One instruction set's GEMM and fused gate math, written with GCC/Clang vector extensions so the same source
// becomes AVX-512, AVX2 or SSE2/NEON code. Included by isa_<name>.cc with RNNKIT_NS (namespace) and RNNKIT_VW
// (floats per vector) defined. No allocation here except the per-thread A-packing buffer, which grows once.
#include <algorithm>
#include <cstdint>
#include <cstring>
#include <vector>

#include "isa.h"

#define RNNKIT_STR2(x) #x
#define RNNKIT_STR(x) RNNKIT_STR2(x)

namespace rnnkit {
namespace RNNKIT_NS {
namespace {

constexpr int VW = RNNKIT_VW;
constexpr int NR = 2 * VW;  // micro-tile columns: two vectors
constexpr int MR = 6;       // micro-tile rows: 12 accumulators
constexpr int KC = 256;     // depth of one packed block (A block MC x KC stays in L2)
constexpr int MC = 72;

typedef float vf __attribute__((vector_size(VW * 4)));
typedef int32_t vi __attribute__((vector_size(VW * 4)));

inline vf load(const float* p) { vf v; std::memcpy(&v, p, sizeof v); return v; }
inline void store(float* p, vf v) { std::memcpy(p, &v, sizeof v); }
inline vf splat(float x) { return x - vf{}; }  // x - 0 == x exactly, so this folds to a broadcast

// Scalar and vector forms share one template so the tail of a row computes exactly what the body does.
template <class V> inline V ld(const float* p);
template <> inline float ld<float>(const float* p) { return *p; }
template <> inline vf ld<vf>(const float* p) { return load(p); }
inline void st(float* p, float v) { *p = v; }
inline void st(float* p, vf v) { store(p, v); }

inline float pow2i(float n) {  // 2^n for integral n in [-126, 127]
  int32_t bits = (static_cast<int32_t>(n) + 127) << 23;
  float r; std::memcpy(&r, &bits, 4); return r;
}
inline vf pow2i(vf n) {
  vi bits = (__builtin_convertvector(n, vi) + 127) << 23;
  vf r; std::memcpy(&r, &bits, sizeof r); return r;
}

// exp(x) by range reduction x = n ln2 + r, |r| <= ln2/2, and a degree-7 polynomial (Cephes expf coefficients):
// about 1 ulp over the clamped range. Inputs are clamped to [-87, 88], enough for sigmoid and tanh.
template <class V> inline V vexp(V x) {
  const V hi = V{} + 88.0f, lo = V{} - 87.0f;
  x = x > hi ? hi : x;
  x = x < lo ? lo : x;
  const V magic = V{} + 12582912.0f;  // 1.5 * 2^23: adding and subtracting rounds to the nearest integer
  V n = (x * 1.44269504088896341f + magic) - magic;
  V r = x - n * 0.693359375f;
  r = r - n * -2.12194440e-4f;
  V p = V{} + 1.9875691500e-4f;
  p = p * r + 1.3981999507e-3f;
  p = p * r + 8.3334519073e-3f;
  p = p * r + 4.1665795894e-2f;
  p = p * r + 1.6666665459e-1f;
  p = p * r + 5.0000001201e-1f;
  p = p * r * r + r + 1.0f;
  return p * pow2i(n);
}
template <class V> inline V vsigmoid(V x) { return 1.0f / (1.0f + vexp<V>(-x)); }
// tanh(x) = sign(x) (1 - e) / (1 + e), e = exp(-2|x|): absolute error ~1e-7 everywhere.
template <class V> inline V vtanh(V x) {
  V ax = x < 0.0f ? -x : x;
  V e = vexp<V>(-2.0f * ax);
  V t = (1.0f - e) / (1.0f + e);
  return x < 0.0f ? -t : t;
}

// Runs body(V-tag, u) over u in [u0, u1): vector steps, then a scalar tail.
template <class F> inline void for_lanes(int u0, int u1, F&& body) {
  int u = u0;
  for (; u + VW <= u1; u += VW) body(vf{}, u);
  for (; u < u1; u++) body(0.0f, u);
}

// ---------------------------------------------------------------------------------------------------------
// GEMM. B is packed once into micro-panels [ceil(N/NR)][K][NR]; A is packed per MC x KC block into
// micro-panels [MC/MR][KC][MR]. The micro-kernel keeps an M x NR tile of C in registers (M <= MR).

size_t packed_b_floats(int K, int N) { return static_cast<size_t>((N + NR - 1) / NR) * NR * K; }

void pack_b(bool transB, int K, int N, const float* B, int ldb, float* out) {
  for (int j0 = 0; j0 < N; j0 += NR) {
    const int nr = std::min(NR, N - j0);
    float* P = out + static_cast<size_t>(j0 / NR) * NR * K;
    for (int k = 0; k < K; k++) {
      float* row = P + static_cast<size_t>(k) * NR;
      if (!transB) {
        const float* src = B + static_cast<size_t>(k) * ldb + j0;
        for (int c = 0; c < nr; c++) row[c] = src[c];
      } else {
        for (int c = 0; c < nr; c++) row[c] = B[static_cast<size_t>(j0 + c) * ldb + k];
      }
      for (int c = nr; c < NR; c++) row[c] = 0.0f;
    }
  }
}

// A block rows [i0, i0+mc), depth [p0, p0+kc) of op(A) into MR-row micro-panels (a last partial panel keeps
// the MR stride).
void pack_a(bool transA, int mc, int kc, const float* A, int lda, int i0, int p0, float* out) {
  for (int ir = 0; ir < mc; ir += MR) {
    const int mr = std::min(MR, mc - ir);
    float* P = out + static_cast<size_t>(ir / MR) * MR * kc;
    for (int k = 0; k < kc; k++) {
      float* dst = P + static_cast<size_t>(k) * MR;
      for (int r = 0; r < mr; r++) {
        const int i = i0 + ir + r, p = p0 + k;
        dst[r] = transA ? A[static_cast<size_t>(p) * lda + i] : A[static_cast<size_t>(i) * lda + p];
      }
      // Rows mr..MR-1 of a partial panel are left as they are: micro<mr> never reads them.
    }
  }
}

// C[M x n] += alpha * Ap[M x kc] * Bp[kc x NR] (first n columns).
// For M < 4 rows there are too few accumulators to hide the FMA latency (2M chains), so the k loop is split
// into KU interleaved partial sums (at least 8 chains), added up at the end. Batch-1 recurrent steps are M = 1.
template <int M>
void micro(int kc, const float* Ap, const float* Bp, float* C, int ldc, int n, float alpha) {
  constexpr int KU = M >= 4 ? 1 : (M == 3 ? 2 : 8 / (2 * M));
  vf acc0[M], acc1[M];
#pragma GCC unroll 8
  for (int r = 0; r < M; r++) { acc0[r] = vf{}; acc1[r] = vf{}; }
  int k = 0;
  if (KU > 1) {
    vf p0[KU][M], p1[KU][M];
    for (int u = 0; u < KU; u++) for (int r = 0; r < M; r++) { p0[u][r] = vf{}; p1[u][r] = vf{}; }
    for (; k + KU <= kc; k += KU) {
      for (int u = 0; u < KU; u++) {
        const vf b0 = load(Bp + (k + u) * NR), b1 = load(Bp + (k + u) * NR + VW);
        for (int r = 0; r < M; r++) {
          const vf a = splat(Ap[(k + u) * MR + r]);
          p0[u][r] += a * b0;
          p1[u][r] += a * b1;
        }
      }
    }
    for (int u = 0; u < KU; u++) for (int r = 0; r < M; r++) { acc0[r] += p0[u][r]; acc1[r] += p1[u][r]; }
  }
  for (; k < kc; k++) {
    const vf b0 = load(Bp + k * NR), b1 = load(Bp + k * NR + VW);
    for (int r = 0; r < M; r++) {
      const vf a = splat(Ap[k * MR + r]);
      acc0[r] += a * b0;
      acc1[r] += a * b1;
    }
  }
#pragma GCC unroll 8
  for (int r = 0; r < M; r++) {
    float* c = C + static_cast<size_t>(r) * ldc;
    if (n == NR) {
      store(c, load(c) + alpha * acc0[r]);
      store(c + VW, load(c + VW) + alpha * acc1[r]);
    } else {
      float tmp[NR];
      store(tmp, acc0[r]);
      store(tmp + VW, acc1[r]);
      for (int j = 0; j < n; j++) c[j] += alpha * tmp[j];
    }
  }
}

using MicroFn = void (*)(int, const float*, const float*, float*, int, int, float);
constexpr MicroFn kMicro[MR + 1] = {nullptr, micro<1>, micro<2>, micro<3>, micro<4>, micro<5>, micro<6>};

void gemm_packed(bool transA, int M, int N, int K, float alpha, const float* A, int lda, const float* Bp,
                 float* C, int ldc) {
  if (M <= 0 || N <= 0 || K <= 0) return;
  thread_local std::vector<float> abuf;
  const size_t need = static_cast<size_t>(MC) * KC;
  if (abuf.size() < need) abuf.resize(need);
  for (int pc = 0; pc < K; pc += KC) {
    const int kc = std::min(KC, K - pc);
    for (int ic = 0; ic < M; ic += MC) {
      const int mc = std::min(MC, M - ic);
      pack_a(transA, mc, kc, A, lda, ic, pc, abuf.data());
      for (int jr = 0; jr < N; jr += NR) {
        const int n = std::min(NR, N - jr);
        const float* Bpp = Bp + static_cast<size_t>(jr / NR) * NR * K + static_cast<size_t>(pc) * NR;
        for (int ir = 0; ir < mc; ir += MR) {
          const int m = std::min(MR, mc - ir);
          kMicro[m](kc, abuf.data() + static_cast<size_t>(ir / MR) * MR * kc, Bpp,
                    C + static_cast<size_t>(ic + ir) * ldc + jr, ldc, n, alpha);
        }
      }
    }
  }
}

// C[M, panel columns] += A[M,K] * panels, for the recurrent layers (native/KERNELS.md, "Packed layout").
// Panel p is a K x NR block at Bp + p*K*NR whose widths[p] columns go to C + cols[p]. After the last depth
// block of every `group` consecutive panels, done(ctx, r0, r1, p) runs for the rows [r0, r1) just finished
// and the group starting at panel p, so the gate math reads pre-activations that are still in cache.
void gemm_panels(int M, int K, const float* A, int lda, const float* Bp, int np, const int* cols,
                 const int* widths, float* C, int ldc, int group, PanelsDone done, void* ctx) {
  if (M <= 0 || np <= 0 || K <= 0) return;
  thread_local std::vector<float> abuf;
  const size_t need = static_cast<size_t>(MC) * KC;
  if (abuf.size() < need) abuf.resize(need);
  const size_t panel = static_cast<size_t>(K) * NR;
  for (int ic = 0; ic < M; ic += MC) {
    const int mc = std::min(MC, M - ic);
    for (int pc = 0; pc < K; pc += KC) {
      const int kc = std::min(KC, K - pc);
      const bool last = pc + kc >= K;
      pack_a(false, mc, kc, A, lda, ic, pc, abuf.data());
      for (int p = 0; p < np; p++) {
        const float* Bpp = Bp + p * panel + static_cast<size_t>(pc) * NR;
        float* Cp = C + static_cast<size_t>(ic) * ldc + cols[p];
        for (int ir = 0; ir < mc; ir += MR) {
          const int m = std::min(MR, mc - ir);
          kMicro[m](kc, abuf.data() + static_cast<size_t>(ir / MR) * MR * kc, Bpp, Cp + static_cast<size_t>(ir) * ldc,
                    ldc, widths[p], 1.0f);
        }
        if (last && done && (p + 1) % group == 0) done(ctx, ic, ic + mc, p + 1 - group);
      }
    }
  }
}

// ---------------------------------------------------------------------------------------------------------
// Fused gate math for one step, rows [0, rows) and hidden units [u0, u1). pre: pre-activations with every bias
// included, row stride ld, gate blocks of H columns (GRU: r, z, n's input part, then W_hn h + b_hn). States
// h, c, h_prev, c_prev, ghn have row stride H; gates (kept for backward when not null) 4H (LSTM) or 3H (GRU).

void rnn_gates(int relu, int rows, int H, int u0, int u1, const float* pre, size_t stride, float* h) {
  for (int b = 0; b < rows; b++) {
    const float* a = pre + b * stride;
    float* out = h + static_cast<size_t>(b) * H;
    for_lanes(u0, u1, [&](auto v, int u) {
      using V = decltype(v);
      const V s = ld<V>(a + u);
      st(out + u, relu ? (s > 0.0f ? s : V{}) : vtanh<V>(s));
    });
  }
}

void lstm_gates(int rows, int H, int u0, int u1, const float* pre, size_t stride, const float* c_prev, float* c,
                float* h, float* gates) {
  for (int b = 0; b < rows; b++) {
    const float* a = pre + b * stride;
    float* gs = gates ? gates + static_cast<size_t>(b) * 4 * H : nullptr;
    const size_t o = static_cast<size_t>(b) * H;
    for_lanes(u0, u1, [&](auto v, int u) {
      using V = decltype(v);
      const V i = vsigmoid<V>(ld<V>(a + u));
      const V f = vsigmoid<V>(ld<V>(a + H + u));
      const V g = vtanh<V>(ld<V>(a + 2 * H + u));
      const V og = vsigmoid<V>(ld<V>(a + 3 * H + u));
      const V cn = f * ld<V>(c_prev + o + u) + i * g;
      st(c + o + u, cn);
      st(h + o + u, og * vtanh<V>(cn));
      if (gs) {
        st(gs + u, i);
        st(gs + H + u, f);
        st(gs + 2 * H + u, g);
        st(gs + 3 * H + u, og);
      }
    });
  }
}

void gru_gates(int rows, int H, int u0, int u1, const float* pre, size_t stride, const float* h_prev, float* h,
               float* gates, float* ghn) {
  for (int b = 0; b < rows; b++) {
    const float* a = pre + b * stride;
    float* gs = gates ? gates + static_cast<size_t>(b) * 3 * H : nullptr;
    const size_t o = static_cast<size_t>(b) * H;
    for_lanes(u0, u1, [&](auto v, int u) {
      using V = decltype(v);
      const V r = vsigmoid<V>(ld<V>(a + u));
      const V z = vsigmoid<V>(ld<V>(a + H + u));
      const V hn = ld<V>(a + 3 * H + u);
      const V n = vtanh<V>(ld<V>(a + 2 * H + u) + r * hn);
      st(h + o + u, (1.0f - z) * n + z * ld<V>(h_prev + o + u));
      if (gs) {
        st(gs + u, r);
        st(gs + H + u, z);
        st(gs + 2 * H + u, n);
        st(ghn + o + u, hn);
      }
    });
  }
}

}  // namespace

extern const Isa table;
const Isa table = {RNNKIT_STR(RNNKIT_NS), NR, packed_b_floats, pack_b, gemm_packed,
                   gemm_panels, rnn_gates, lstm_gates, gru_gates};

}  // namespace RNNKIT_NS
}  // namespace rnnkit
