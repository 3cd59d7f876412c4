// One instruction set's GEMM and fused gate math, written with GCC/Clang vector extensions so the same source
// becomes AVX-512, AVX2 or SSE2/NEON code. Included by isa_<name>.cc with RNNKIT_NS (namespace) and RNNKIT_VW
// (floats per vector) defined. No allocation here except the per-thread A-packing buffers of gemm_packed and
// gemm_panels, which grow once.
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <vector>

#include "aligned.h"
#include "isa.h"
#include "moves.h"
#if defined(__aarch64__)
#include <arm_neon.h>
#endif

#define RNNKIT_STR2(x) #x
#define RNNKIT_STR(x) RNNKIT_STR2(x)

namespace rnnkit {
namespace RNNKIT_NS {
namespace {

constexpr int VW = RNNKIT_VW;
// The micro-tile is MR rows x NV vectors of C, held in MR * NV accumulator registers.
// x86: NV 2; MR 6 (12 accumulators of the 16 vector registers) for AVX2 and narrower; AVX-512 has 32
// registers and takes 8 (16 accumulators; a batch of 32 is then four whole tiles instead of 6+6+6+6+4+4).
// AArch64 (the 4-wide build is NEON there) also has 32: an 8 x 12 tile, 24 accumulators + 3 B vectors + 2 vectors
// of A whose lanes feed fmla by element = 29 registers, 1.5x the loads' reuse of a 6 x 8 tile.
#if defined(__aarch64__)
constexpr int NV = 3;
constexpr int MR = 8;
#else
constexpr int NV = 2;
constexpr int MR = VW == 16 ? 8 : 6;
#endif
constexpr int NR = NV * VW;  // micro-tile columns
constexpr int KC = 256;     // depth of one packed block (A block MC x KC stays in L2)
constexpr int MC = 72;
// Depth of one block in gemm_panels: a B panel block of 32 KiB (KCP x NR floats; 16 KiB in the portable build
// on x86, 24 KiB on arm64), which stays in L1 while every row tile of the block passes over it; a 64 KiB block
// (AVX-512 at 512 deep) is streamed from L2 for each tile (native/KERNELS.md, "History (native)").
constexpr int KCP = VW == 16 ? 256 : 512;

typedef float vf __attribute__((vector_size(VW * 4)));
typedef int32_t vi __attribute__((vector_size(VW * 4)));
typedef uint32_t vu __attribute__((vector_size(VW * 4)));

inline vf load(const float* p) { vf v; std::memcpy(&v, p, sizeof v); return v; }
inline void store(float* p, vf v) { std::memcpy(p, &v, sizeof v); }
inline vf splat(float x) { return x - vf{}; }  // x - 0 == x exactly, so this folds to a broadcast

// AArch64's fmla by element multiplies by one lane of a vector: A's values at one depth are loaded as vectors
// (when the tile's rows are a multiple of 4), 2 registers for 8 rows; as 8 scalars (what GCC makes of splat)
// three accumulators of the 8 x 12 tile spilled to the stack.
#if defined(__aarch64__)
constexpr bool kLaneA = true;
// acc[r][v] += a[r] * b[v] for r < M (a multiple of 4), v < NV.
template <int M>
inline void fma_lanes(vf (&acc)[M][NV], const vf (&b)[NV], const float* a) {
#pragma GCC unroll 4
  for (int i = 0; i < M / 4; i++) {
    const float32x4_t av = vld1q_f32(a + 4 * i);
#pragma GCC unroll 4
    for (int v = 0; v < NV; v++) {
      acc[4 * i][v] = vfmaq_laneq_f32(acc[4 * i][v], b[v], av, 0);
      acc[4 * i + 1][v] = vfmaq_laneq_f32(acc[4 * i + 1][v], b[v], av, 1);
      acc[4 * i + 2][v] = vfmaq_laneq_f32(acc[4 * i + 2][v], b[v], av, 2);
      acc[4 * i + 3][v] = vfmaq_laneq_f32(acc[4 * i + 3][v], b[v], av, 3);
    }
  }
}
#else
constexpr bool kLaneA = false;
template <int M>
inline void fma_lanes(vf (&)[M][NV], const vf (&)[NV], const float*) {}
#endif

// Scalar and vector forms share one template so the tail of a row computes exactly what the body does.
template <class V> inline V ld(const float* p);
template <> inline float ld<float>(const float* p) { return *p; }
template <> inline vf ld<vf>(const float* p) { return load(p); }
inline void st(float* p, float v) { *p = v; }
inline void st(float* p, vf v) { store(p, v); }

// A float's (or a vector's) bits as unsigned integers, and back.
inline uint32_t bits_of(float x) { uint32_t b; std::memcpy(&b, &x, 4); return b; }
inline vu bits_of(vf x) { vu b; std::memcpy(&b, &x, sizeof b); return b; }
inline float from_bits(uint32_t b) { float x; std::memcpy(&x, &b, 4); return x; }
inline vf from_bits(vu b) { vf x; std::memcpy(&x, &b, sizeof x); return x; }

// exp(x) by range reduction x = n ln2 + r, |r| <= ln2/2, and a degree-7 polynomial (Cephes expf coefficients):
// about 1 ulp over the clamped range. Inputs are clamped to [-87, 88], enough for sigmoid and tanh.
// expm1_parts gives the two pieces both exp and tanh use: 2^n and q = expm1(r) = r + r^2 P(r).
// n = round(x log2 e) by adding 1.5 * 2^23 (t) and subtracting it again; t's low mantissa bits then hold n, so
// 2^n is (bits(t) << 23) + (127 << 23) in unsigned arithmetic (the magic's own bits shift out): n in [-126, 127]
// here, and no float-to-integer conversion (undefined for the NaN that a NaN x gives).
template <class V> inline V expm1_parts(V x, V& pow2n) {
  const V magic = V{} + 12582912.0f;  // 1.5 * 2^23: adding and subtracting rounds to the nearest integer
  const V t = x * 1.44269504088896341f + magic;
  V n = t - magic;
  V r = x - n * 0.693359375f;
  r = r - n * -2.12194440e-4f;
  V p = V{} + 1.9875691500e-4f;
  p = p * r + 1.3981999507e-3f;
  p = p * r + 8.3334519073e-3f;
  p = p * r + 4.1665795894e-2f;
  p = p * r + 1.6666665459e-1f;
  p = p * r + 5.0000001201e-1f;
  pow2n = from_bits((bits_of(t) << 23) + (127u << 23));
  return p * r * r + r;
}
template <class V> inline V vexp(V x) {
  const V hi = V{} + 88.0f, lo = V{} - 87.0f;
  x = x > hi ? hi : x;
  x = x < lo ? lo : x;
  V s;
  V q = expm1_parts<V>(x, s);
  return (q + 1.0f) * s;
}
template <class V> inline V vsigmoid(V x) { return 1.0f / (1.0f + vexp<V>(-x)); }
// tanh(x) = sign(x) t / (t + 2), t = expm1(2|x|) = 2^n q + (2^n - 1): one exponential, and no cancellation near 0
// (n = 0 leaves t = q; 2.4 ulp at most, measured from 2^-30 to 12; test/cells.test.ts checks 3 ulp from 1e-12 to
// 2). |x| clamped to 10, where tanh is 1. tanh(-0) is -0, as in PyTorch.
template <class V> inline V vtanh(V x) {
  const auto sign = bits_of(x) & 0x80000000u;
  V ax = from_bits(bits_of(x) ^ sign);
  ax = ax > 10.0f ? V{} + 10.0f : ax;
  V s;
  V q = expm1_parts<V>(ax + ax, s);
  V t = s * q + (s - 1.0f);
  t = t / (t + 2.0f);  // >= +0 (or NaN)
  return from_bits(bits_of(t) | sign);
}

// Runs body(V-tag, u) over u in [u0, u1): vector steps, then a scalar tail.
template <class F> inline void for_lanes(int u0, int u1, F&& body) {
  int u = u0;
  for (; u + VW <= u1; u += VW) body(vf{}, u);
  for (; u < u1; u++) body(0.0f, u);
}

// Runs body(V-tag, b, o, u) over rows b in [0, rows) and units u in [u0, u1) (for_lanes), o = b*H being the
// row's offset in arrays of row stride H: the loops of every gate function below.
template <class F> inline void for_rows(int rows, int H, int u0, int u1, F&& body) {
  for (int b = 0; b < rows; b++) {
    const size_t o = static_cast<size_t>(b) * H;
    for_lanes(u0, u1, [&](auto v, int u) { body(v, b, o, u); });
  }
}

// ---------------------------------------------------------------------------------------------------------
// GEMM. B is packed once into micro-panels [ceil(N/NR)][K][NR]; A is packed per MC x KC block into one
// micro-panel per tile of rows (pack_a). The micro-kernel keeps an M x NR tile of C in registers (M <= MR).

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

// Rows of the micro-tile starting `rem` rows before the end of a block: MR at a time, but a remainder a little
// over MR becomes two near-equal tiles (MR 6: 7 or 8 rows -> 4 + 3 or 4 + 4; MR 8: 9 to 11 -> 5 + 4 to 6 + 5):
// a 1- to 3-row tile has too few accumulators to keep the FMA units busy.
inline int tile_rows(int rem) {
  if (MR == 6) return rem == 7 || rem == 8 ? 4 : std::min(MR, rem);
  return rem > MR && rem < MR + 4 ? (rem + 1) / 2 : std::min(MR, rem);
}

// A block rows [i0, i0+mc), depth [p0, p0+kc) of op(A) into micro-panels, one per tile (tile_rows): the tile
// starting at block row ir holds its m rows k-major at out + ir*kc (element (r, k) at [k*m + r]).
void pack_a(bool transA, int mc, int kc, const float* A, int lda, int i0, int p0, float* out) {
  if (transA) {  // row k of op(A)'s block is contiguous in A: read it once, deal it out to the tiles
    for (int k = 0; k < kc; k++) {
      const float* src = A + static_cast<size_t>(p0 + k) * lda + i0;
      // Rows are lda apart (often a page or more), so hardware prefetchers miss them: ask for a later row now.
      if (k + 8 < kc) for (int r = 0; r < mc; r += 16) __builtin_prefetch(src + 8 * static_cast<size_t>(lda) + r);
      for (int ir = 0; ir < mc;) {
        const int mr = tile_rows(mc - ir);
        float* dst = out + static_cast<size_t>(ir) * kc + static_cast<size_t>(k) * mr;
        for (int r = 0; r < mr; r++) dst[r] = src[ir + r];
        ir += mr;
      }
    }
    return;
  }
  for (int ir = 0; ir < mc;) {
    const int mr = tile_rows(mc - ir);
    float* P = out + static_cast<size_t>(ir) * kc;
    const float* src = A + static_cast<size_t>(i0 + ir) * lda + p0;
    if (mr == MR) {  // the common full tile, unrolled
      for (int k = 0; k < kc; k++) {
#pragma GCC unroll 8
        for (int r = 0; r < MR; r++) P[k * MR + r] = src[static_cast<size_t>(r) * lda + k];
      }
    } else {
      for (int k = 0; k < kc; k++) {
        for (int r = 0; r < mr; r++) P[k * mr + r] = src[static_cast<size_t>(r) * lda + k];
      }
    }
    ir += mr;
  }
}

// C[M x n] += alpha * Ap[M x kc] * Bp[kc x NR] (first n columns); with `init` (one row of n floats, the same for
// every row of the tile), C[M x n] = init + alpha * Ap Bp instead: C is written without being read.
// For M < 4 rows there are too few accumulators to hide the FMA latency (2M chains), so the k loop is split
// into KU interleaved partial sums (at least 8 chains), added up at the end. One-row blocks (M mod MC == 1, batch-1 backward) are M = 1.
// A tile of few rows (M < 4) streams B from L2 faster than the L1 prefetcher brings it in: ask for B's row
// kPrefetchK steps (~2 KiB) ahead, every cache line of it. The M >= 4 tiles prefetch too: the first row tile of
// a block brings its B panel block in from L2. Both measured faster (native/KERNELS.md, "History (native)").
constexpr int kPrefetchK = 2048 / (NR * 4);
inline void prefetch_row(const float* row) {
  for (int c = 0; c < NR; c += 16) __builtin_prefetch(row + c);
}

template <int M>
void micro(int kc, const float* Ap, const float* Bp, float* C, int ldc, int n, float alpha, const float* init) {
  constexpr int KU = M >= 4 ? 1 : (M == 3 ? 2 : 8 / (2 * M));
  vf acc[M][NV];
#pragma GCC unroll 8
  for (int r = 0; r < M; r++) {
#pragma GCC unroll 4
    for (int v = 0; v < NV; v++) acc[r][v] = vf{};
  }
  int k = 0;
  if (KU > 1) {
    vf p[KU][M][NV];
    for (int u = 0; u < KU; u++) for (int r = 0; r < M; r++) for (int v = 0; v < NV; v++) p[u][r][v] = vf{};
    for (; k + KU <= kc; k += KU) {
      for (int u = 0; u < KU; u++) prefetch_row(Bp + (k + u + kPrefetchK) * NR);
      for (int u = 0; u < KU; u++) {
        vf b[NV];
        for (int v = 0; v < NV; v++) b[v] = load(Bp + (k + u) * NR + v * VW);
        for (int r = 0; r < M; r++) {
          const vf a = splat(Ap[(k + u) * M + r]);
          for (int v = 0; v < NV; v++) p[u][r][v] += a * b[v];
        }
      }
    }
    for (int u = 0; u < KU; u++) for (int r = 0; r < M; r++) for (int v = 0; v < NV; v++) acc[r][v] += p[u][r][v];
  }
  for (; k < kc; k++) {
    if (M >= 4) prefetch_row(Bp + (k + kPrefetchK) * NR);
    vf b[NV];
#pragma GCC unroll 4
    for (int v = 0; v < NV; v++) b[v] = load(Bp + k * NR + v * VW);
    if constexpr (kLaneA && M % VW == 0) {
      fma_lanes<M>(acc, b, Ap + k * M);
    } else {
#pragma GCC unroll 8
      for (int r = 0; r < M; r++) {
        const vf a = splat(Ap[k * M + r]);
#pragma GCC unroll 4
        for (int v = 0; v < NV; v++) acc[r][v] += a * b[v];
      }
    }
  }
#pragma GCC unroll 8
  for (int r = 0; r < M; r++) {
    float* c = C + static_cast<size_t>(r) * ldc;
    const float* base = init ? init : c;
    if (n == NR) {
#pragma GCC unroll 4
      for (int v = 0; v < NV; v++) store(c + v * VW, load(base + v * VW) + alpha * acc[r][v]);
    } else {
      float tmp[NR];
      for (int v = 0; v < NV; v++) store(tmp + v * VW, acc[r][v]);
      for (int j = 0; j < n; j++) c[j] = base[j] + alpha * tmp[j];
    }
  }
}

using MicroFn = void (*)(int, const float*, const float*, float*, int, int, float, const float*);
constexpr MicroFn kMicro[9] = {nullptr,  micro<1>, micro<2>, micro<3>, micro<4>,
                               micro<5>, micro<6>, micro<7>, micro<8>};
static_assert(MR <= 8, "kMicro has tiles of up to 8 rows");

// One packed A block (mc x kc, in abuf) times one B panel (kc x NR at Bpp), into C (row 0 of the block); with
// `init` (a row), every row of C starts from it instead of from C (micro).
inline void block_panel(int mc, int kc, const float* abuf, const float* Bpp, float* C, int ldc, int n, float alpha,
                        const float* init = nullptr) {
  for (int ir = 0; ir < mc;) {
    const int m = tile_rows(mc - ir);
    kMicro[m](kc, abuf + static_cast<size_t>(ir) * kc, Bpp, C + static_cast<size_t>(ir) * ldc, ldc, n, alpha, init);
    ir += m;
  }
}

void gemm_packed(bool transA, int M, int N, int K, float alpha, const float* A, int lda, const float* Bp,
                 float* C, int ldc) {
  if (M <= 0 || N <= 0 || K <= 0) return;
  thread_local FloatBuf abuf;
  const size_t need = static_cast<size_t>(MC) * KC;
  if (abuf.size() < need) abuf.resize(need);
  for (int pc = 0; pc < K; pc += KC) {
    const int kc = std::min(KC, K - pc);
    for (int ic = 0; ic < M; ic += MC) {
      const int mc = std::min(MC, M - ic);
      pack_a(transA, mc, kc, A, lda, ic, pc, abuf.data());
      for (int jr = 0; jr < N; jr += NR) {
        const float* Bpp = Bp + static_cast<size_t>(jr / NR) * NR * K + static_cast<size_t>(pc) * NR;
        block_panel(mc, kc, abuf.data(), Bpp, C + static_cast<size_t>(ic) * ldc + jr, ldc, std::min(NR, N - jr),
                    alpha);
      }
    }
  }
}

// One row of A times NP consecutive panels (`panel` floats apart): C[q] += a * panel q, its first n[q] columns
// (C[q] = init[q] + a * panel q when init is given).
// For one-row blocks (M mod MC == 1: a T = 1, B = 1 input projection, say), which stream the weights from L2: one broadcast of a[k] serves NV * NP loads and keeps
// NV * NP accumulator chains: it streams faster than micro<1> panel by panel (native/KERNELS.md,
// "History (native)").
template <int NP>
void micro1_panels(int kc, const float* Ap, const float* Bp, size_t panel, float* const* C, const int* n,
                   const float* const* init) {
  vf acc[NP][NV];
#pragma GCC unroll 4
  for (int q = 0; q < NP; q++) {
#pragma GCC unroll 4
    for (int v = 0; v < NV; v++) acc[q][v] = vf{};
  }
  for (int k = 0; k < kc; k++) {
    const vf a = splat(Ap[k]);
#pragma GCC unroll 4
    for (int q = 0; q < NP; q++) {
      const float* b = Bp + q * panel + static_cast<size_t>(k) * NR;
#pragma GCC unroll 4
      for (int v = 0; v < NV; v++) acc[q][v] += a * load(b + v * VW);
    }
  }
#pragma GCC unroll 4
  for (int q = 0; q < NP; q++) {
    float* c = C[q];
    const float* base = init ? init[q] : c;
    if (n[q] == NR) {
#pragma GCC unroll 4
      for (int v = 0; v < NV; v++) store(c + v * VW, load(base + v * VW) + acc[q][v]);
    } else {
      float tmp[NR];
      for (int v = 0; v < NV; v++) store(tmp + v * VW, acc[q][v]);
      for (int j = 0; j < n[q]; j++) c[j] = base[j] + tmp[j];
    }
  }
}

// C[M, panel columns] += A[M,K] * panels, for the recurrent layers (native/KERNELS.md, "Packed layout").
// Panel p is a K x NR block at Bp + p*K*NR whose widths[p] columns go to C + cols[p]. After the last depth
// block of every `group` consecutive panels, done(ctx, r0, r1, p) runs for the rows [r0, r1) just finished
// and the group starting at panel p, so the gate math reads pre-activations that are still in cache.
// The depth block is KCP (32 KiB panel blocks, 512 deep for AVX2: one pass over the pre-activations rather than
// two with 16 KiB ones). `last_first` visits the panels last to first (np is a multiple of group): alternating
// directions from step to step, a step starts on the panels the previous one touched last, which are still in
// L2 when the weights are a little larger than it.
// A is either the matrix itself (lda its row stride), packed here block by block, or (prepacked) what
// pack_a_panels made of it, so that several calls over different panels pack it only once.
// With `init` (one row laid out as C's, ldc columns), C starts from that row instead of from its own contents
// (C = init + A * panels): the input projection starts from the biases without a pass that copies them in.
void gemm_panels(int M, int K, const float* A, int lda, bool prepacked, const float* Bp, int np, const int* cols,
                 const int* widths, float* C, int ldc, int group, bool last_first, PanelsDone done, void* ctx,
                 const float* init) {
  if (M <= 0 || np <= 0 || K <= 0) return;
  thread_local FloatBuf abuf;
  const size_t need = static_cast<size_t>(MC) * KCP;
  if (!prepacked && abuf.size() < need) abuf.resize(need);
  const size_t panel = static_cast<size_t>(K) * NR;
  for (int ic = 0; ic < M; ic += MC) {
    const int mc = std::min(MC, M - ic);
    for (int pc = 0; pc < K; pc += KCP) {
      const int kc = std::min(KCP, K - pc);
      const bool last = pc + kc >= K;
      const float* from = pc == 0 ? init : nullptr;  // later depth blocks add to what the first wrote
      const float* ablock = A + static_cast<size_t>(ic) * K + static_cast<size_t>(pc) * mc;
      if (!prepacked) {
        pack_a(false, mc, kc, A, lda, ic, pc, abuf.data());
        ablock = abuf.data();
      }
      if (mc == 1) {  // one row (M mod MC == 1): the panels of a group up to four at a time, then its gate math
        float* const crow = C + static_cast<size_t>(ic) * ldc;
        for (int g = 0; g < np; g += group) {
          const int p0 = last_first ? np - group - g : g;
          for (int q = 0; q < group;) {
            const int p = p0 + q, take = std::min(4, group - q);
            const float* Bpp = Bp + p * panel + static_cast<size_t>(pc) * NR;
            float* cs[4];
            const float* is[4];
            for (int i = 0; i < take; i++) {
              cs[i] = crow + cols[p + i];
              is[i] = from ? from + cols[p + i] : nullptr;
            }
            const float* const* ip = from ? is : nullptr;
            if (take == 4) micro1_panels<4>(kc, ablock, Bpp, panel, cs, widths + p, ip);
            else if (take == 3) micro1_panels<3>(kc, ablock, Bpp, panel, cs, widths + p, ip);
            else block_panel(1, kc, ablock, Bpp, cs[0], ldc, widths[p], 1.0f, is[0]);
            q += take;
          }
          if (last && done) done(ctx, ic, ic + mc, p0);
        }
        continue;
      }
      for (int q = 0; q < np; q++) {
        const int p = last_first ? np - 1 - q : q;
        const float* Bpp = Bp + p * panel + static_cast<size_t>(pc) * NR;
        block_panel(mc, kc, ablock, Bpp, C + static_cast<size_t>(ic) * ldc + cols[p], ldc, widths[p], 1.0f,
                    from ? from + cols[p] : nullptr);
        if (last && done && (q + 1) % group == 0) done(ctx, ic, ic + mc, last_first ? p : p + 1 - group);
      }
    }
  }
}

// A [M, K] (row stride lda) packed for gemm_panels(prepacked): its blocks of MC rows x KCP deep one after
// another, block (ic, pc) at out + ic*K + pc*mc; M*K floats in all.
void pack_a_panels(int M, int K, const float* A, int lda, float* out) {
  for (int ic = 0; ic < M; ic += MC) {
    const int mc = std::min(MC, M - ic);
    for (int pc = 0; pc < K; pc += KCP) {
      float* block = out + static_cast<size_t>(ic) * K + static_cast<size_t>(pc) * mc;
      pack_a(false, mc, std::min(KCP, K - pc), A, lda, ic, pc, block);
    }
  }
}

bool one_chain_rows(int M) {
  for (int ic = 0; ic < M; ic += MC) {
    const int mc = std::min(MC, M - ic);
    if (mc == 1) continue;  // micro1_panels: one chain
    for (int ir = 0; ir < mc;) {
      const int mr = tile_rows(mc - ir);
      if (mr < 4) return false;
      ir += mr;
    }
  }
  return true;
}

// ---------------------------------------------------------------------------------------------------------
// Batch 1. A step is one row h times each chunk's G panels, every weight read once from L2. Two things keep
// that stream from the L2's bandwidth (native/KERNELS.md, "History (native)"): G panel streams K * NR floats
// apart, which map to the same L1 sets, and only G * NV accumulator chains, too few to hide the FMA latency
// behind the loads. So batch-1 calls read a copy of W_hh laid out by rows: chunk c at c * G * K * NR, its row k
// the G panels' rows side by side (G * NR floats, one stream), and the product keeps kU partial sums per column,
// over depths k = u mod kU, added up in order at the end.

// Chunks [c0, c1) of the packed panels (G per chunk, K x NR each) laid out by rows at `out` (same offsets).
void pack_rows1(int G, int K, const float* panels, int c0, int c1, float* out) {
  const size_t panel = static_cast<size_t>(K) * NR;
  for (int c = c0; c < c1; c++) {
    const float* src = panels + static_cast<size_t>(c) * G * panel;
    float* dst = out + static_cast<size_t>(c) * G * panel;
    for (int k = 0; k < K; k++) {
      for (int g = 0; g < G; g++) {
        std::memcpy(dst + (static_cast<size_t>(k) * G + g) * NR, src + g * panel + static_cast<size_t>(k) * NR,
                    NR * sizeof(float));
      }
    }
  }
}

// Accumulator chains the batch-1 product aims at: half of the vector registers, the rest for h and loads.
#if defined(__aarch64__)
constexpr int kChains = 16;
#else
constexpr int kChains = VW == 16 ? 16 : 8;
#endif

// C[g][0, n[g]) += h[K] times gate g's columns of one chunk laid out by rows (pack_rows1) at Bc.
template <int G>
void gemv_rows(int K, const float* h, const float* Bc, float* const* C, const int* n) {
  constexpr int W = G * NV;  // vectors per row
  constexpr int KU = W >= kChains ? 1 : kChains / W;
  vf acc[KU][W];
  for (int u = 0; u < KU; u++) {
    for (int j = 0; j < W; j++) acc[u][j] = vf{};
  }
  int k = 0;
  for (; k + KU <= K; k += KU) {
#pragma GCC unroll 8
    for (int u = 0; u < KU; u++) {
      const vf a = splat(h[k + u]);
      const float* row = Bc + static_cast<size_t>(k + u) * W * VW;
#pragma GCC unroll 12
      for (int j = 0; j < W; j++) acc[u][j] += a * load(row + j * VW);
    }
  }
  for (int u = 0; k < K; k++, u++) {  // the last K mod KU depths, one per partial sum
    const vf a = splat(h[k]);
    const float* row = Bc + static_cast<size_t>(k) * W * VW;
    for (int j = 0; j < W; j++) acc[u][j] += a * load(row + j * VW);
  }
  for (int u = 1; u < KU; u++) {
    for (int j = 0; j < W; j++) acc[0][j] += acc[u][j];
  }
  for (int g = 0; g < G; g++) {
    float* c = C[g];
    if (n[g] == NR) {
      for (int v = 0; v < NV; v++) store(c + v * VW, load(c + v * VW) + acc[0][g * NV + v]);
    } else {
      float tmp[NR];
      for (int v = 0; v < NV; v++) store(tmp + v * VW, acc[0][g * NV + v]);
      for (int j = 0; j < n[g]; j++) c[j] += tmp[j];
    }
  }
}

void gemv_chunk(int G, int K, const float* h, const float* Bc, float* const* C, const int* n) {
  switch (G) {
    case 1: gemv_rows<1>(K, h, Bc, C, n); break;
    case 3: gemv_rows<3>(K, h, Bc, C, n); break;
    case 4: gemv_rows<4>(K, h, Bc, C, n); break;
  }
}

// ---------------------------------------------------------------------------------------------------------
// Fused gate math for one step, rows [0, rows) and hidden units [u0, u1). pre: pre-activations with every bias
// included, row stride ld, gate blocks of H columns (GRU: r, z, n's input part, then W_hn h + b_hn). States
// h, c, h_prev, c_prev, ghn have row stride H; gates (kept for backward when not null) 4H (LSTM) or 3H (GRU).

void rnn_gates(int relu, int rows, int H, int u0, int u1, const float* pre, size_t stride, float* h) {
  for_rows(rows, H, u0, u1, [&](auto v, int b, size_t o, int u) {
    using V = decltype(v);
    const V s = ld<V>(pre + b * stride + u);
    st(h + o + u, relu ? (s > 0.0f ? s : V{}) : vtanh<V>(s));
  });
}

void lstm_gates(int rows, int H, int u0, int u1, const float* pre, size_t stride, const float* c_prev, float* c,
                float* h, float* gates) {
  for_rows(rows, H, u0, u1, [&](auto v, int b, size_t o, int u) {
    using V = decltype(v);
    const float* a = pre + b * stride;
    const V i = vsigmoid<V>(ld<V>(a + u));
    const V f = vsigmoid<V>(ld<V>(a + H + u));
    const V g = vtanh<V>(ld<V>(a + 2 * H + u));
    const V og = vsigmoid<V>(ld<V>(a + 3 * H + u));
    const V cn = f * ld<V>(c_prev + o + u) + i * g;
    st(c + o + u, cn);
    st(h + o + u, og * vtanh<V>(cn));
    if (gates) {
      float* gs = gates + 4 * o;
      st(gs + u, i);
      st(gs + H + u, f);
      st(gs + 2 * H + u, g);
      st(gs + 3 * H + u, og);
    }
  });
}

void gru_gates(int rows, int H, int u0, int u1, const float* pre, size_t stride, const float* h_prev, float* h,
               float* gates, float* ghn) {
  for_rows(rows, H, u0, u1, [&](auto v, int b, size_t o, int u) {
    using V = decltype(v);
    const float* a = pre + b * stride;
    const V r = vsigmoid<V>(ld<V>(a + u));
    const V z = vsigmoid<V>(ld<V>(a + H + u));
    const V hn = ld<V>(a + 3 * H + u);
    const V n = vtanh<V>(ld<V>(a + 2 * H + u) + r * hn);
    st(h + o + u, (1.0f - z) * n + z * ld<V>(h_prev + o + u));
    if (gates) {
      float* gs = gates + 3 * o;
      st(gs + u, r);
      st(gs + H + u, z);
      st(gs + 2 * H + u, n);
      st(ghn + o + u, hn);
    }
  });
}

// ---------------------------------------------------------------------------------------------------------
// Gate gradients for one backward step (native/KERNELS.md, "Backward"), rows [0, rows), units [u0, u1).
// dcur: dL/dh from the later step, dy: the output gradient; da: pre-activation gradients (dgi; for GRU also
// dgh); dnext: dL/dh_prev before the recurrent product is added (zero, or GRU's direct term dh*z). States,
// dcur, dy, dc and dnext have row stride H; gates, da, dgi and dgh G*H.

void rnn_grads(int relu, int rows, int H, int u0, int u1, const float* h, const float* dcur, const float* dy,
               float* da, float* dnext) {
  for_rows(rows, H, u0, u1, [&](auto v, int, size_t o, int u) {
    using V = decltype(v);
    const V d = ld<V>(dcur + o + u) + ld<V>(dy + o + u);
    const V hv = ld<V>(h + o + u);
    st(da + o + u, relu ? (hv > 0.0f ? d : V{}) : d * (1.0f - hv * hv));
    st(dnext + o + u, V{});
  });
}

void lstm_grads(int rows, int H, int u0, int u1, const float* gates, const float* c, const float* c_prev,
                const float* dcur, const float* dy, float* dc, float* da, float* dnext) {
  for_rows(rows, H, u0, u1, [&](auto v, int, size_t o, int u) {
    using V = decltype(v);
    const size_t o4 = 4 * o;
    const V i = ld<V>(gates + o4 + u), f = ld<V>(gates + o4 + H + u);
    const V g = ld<V>(gates + o4 + 2 * H + u), og = ld<V>(gates + o4 + 3 * H + u);
    const V d = ld<V>(dcur + o + u) + ld<V>(dy + o + u);
    const V tc = vtanh<V>(ld<V>(c + o + u));
    const V dcv = ld<V>(dc + o + u) + d * og * (1.0f - tc * tc);
    st(da + o4 + u, dcv * g * i * (1.0f - i));
    st(da + o4 + H + u, dcv * ld<V>(c_prev + o + u) * f * (1.0f - f));
    st(da + o4 + 2 * H + u, dcv * i * (1.0f - g * g));
    st(da + o4 + 3 * H + u, d * tc * og * (1.0f - og));
    st(dc + o + u, dcv * f);
    st(dnext + o + u, V{});
  });
}

void gru_grads(int rows, int H, int u0, int u1, const float* gates, const float* ghn, const float* h_prev,
               const float* dcur, const float* dy, float* dgi, float* dgh, float* dnext) {
  for_rows(rows, H, u0, u1, [&](auto v, int, size_t o, int u) {
    using V = decltype(v);
    const size_t o3 = 3 * o;
    const V r = ld<V>(gates + o3 + u), z = ld<V>(gates + o3 + H + u), n = ld<V>(gates + o3 + 2 * H + u);
    const V d = ld<V>(dcur + o + u) + ld<V>(dy + o + u);
    const V dan = d * (1.0f - z) * (1.0f - n * n);
    const V dar = dan * ld<V>(ghn + o + u) * r * (1.0f - r);
    const V daz = d * (ld<V>(h_prev + o + u) - n) * z * (1.0f - z);
    st(dgi + o3 + u, dar);
    st(dgh + o3 + u, dar);
    st(dgi + o3 + H + u, daz);
    st(dgh + o3 + H + u, daz);
    st(dgi + o3 + 2 * H + u, dan);
    st(dgh + o3 + 2 * H + u, dan * r);
    st(dnext + o + u, d * z);
  });
}

// A one-row product's two forms (sgemm with M == 1, kernels.cc), each reading its operands once, unpacked.
// Σ a[k] b[k], k < n: four vector partial sums (element k into sum (k / VW) mod 4, lane k mod VW) added pairwise,
// then the lanes in order, then the tail: a fixed order.
float dot(int n, const float* a, const float* b) {
  vf acc[4] = {};
  int k = 0;
  for (; k + 4 * VW <= n; k += 4 * VW) {
#pragma GCC unroll 4
    for (int q = 0; q < 4; q++) acc[q] += load(a + k + q * VW) * load(b + k + q * VW);
  }
  for (; k + VW <= n; k += VW) acc[0] += load(a + k) * load(b + k);
  const vf v = (acc[0] + acc[1]) + (acc[2] + acc[3]);
  float s = 0.0f;
  for (int l = 0; l < VW; l++) s += v[l];
  for (; k < n; k++) s += a[k] * b[k];
  return s;
}
// y[j] += alpha x[j], j < n.
void axpy(int n, float alpha, const float* x, float* y) {
  for_lanes(0, n, [&](auto v, int j) {
    using V = decltype(v);
    st(y + j, ld<V>(y + j) + alpha * ld<V>(x + j));
  });
}

// out[c] = exp(z[c] - shift) for c < n (vexp), and their sum in float64 as four interleaved sums added pairwise
// (a fixed order): a softmax row's numerators and denominator. Below -87 (under the smallest normal float; vexp
// clamps there) the exponential is 0, so a masked logit (-inf) keeps an exactly zero gradient.
double exp_shifted(int n, const float* z, float shift, float* out) {
  for_lanes(0, n, [&](auto v, int c) {
    using V = decltype(v);
    const V d = ld<V>(z + c) - shift;
    st(out + c, d < -87.0f ? V{} : vexp<V>(d));
  });
  double acc[4] = {};
  int c = 0;
  for (; c + 4 <= n; c += 4) {
    for (int j = 0; j < 4; j++) acc[j] += out[c + j];
  }
  for (; c < n; c++) acc[c % 4] += out[c];
  return (acc[0] + acc[1]) + (acc[2] + acc[3]);
}

// Dropout over [i0, i1) (native/moves.h): mulberry32_at(seed, i) for VW indices at once in 32-bit lanes, the
// compare against threshold made on integers. A number u is below threshold exactly when it is below t =
// ceil(threshold) (threshold in [0, 2^32]), and every u is below a threshold over 2^32 - 1. The mask is exactly 0
// or scale, so each product is the scalar loop's.
void dropout(size_t i0, size_t i1, uint32_t seed, double threshold, float scale, const float* x, float* y) {
  const bool all = threshold > 4294967295.0;
  const uint32_t t = all ? 0u : static_cast<uint32_t>(std::ceil(threshold));
  vu lane;
  for (int l = 0; l < VW; l++) lane[l] = static_cast<uint32_t>(l);
  const vi sv = (vi)splat(scale);
  size_t i = i0;
  for (; i + VW <= i1; i += VW) {
    vu z = seed + (static_cast<uint32_t>(i + 1) + lane) * 0x6d2b79f5u;
    z = (z ^ (z >> 15)) * (z | 1u);
    z ^= z + (z ^ (z >> 7)) * (z | 61u);
    z ^= z >> 14;
    const vi drop = all ? vi{} - 1 : (vi)(z < t);
    const vi m = sv & ~drop;
    store(y + i, load(x + i) * (vf)m);
  }
  for (; i < i1; i++) {
    const uint32_t u = mulberry32_at(seed, i);
    y[i] = x[i] * (all || u < t ? 0.0f : scale);
  }
}

// Adam over [i0, i1) in the ISA's vectors (restrict: four different buffers, src/backend/check.ts). Built without
// contraction: a multiply and an add fused into one rounding would change the bits from ISA to ISA (and from
// the baseline build, which has no FMA); each element's arithmetic is the scalar definition's.
#pragma GCC push_options
#pragma GCC optimize("fp-contract=off")
void adam_range(size_t i0, size_t i1, float* __restrict p, const float* __restrict g, float* __restrict m,
                float* __restrict v, float lr, float beta1, float beta2, float eps, float weight_decay, bool decoupled,
                float step_size, float inv_sqrt_bc2) {
  if (decoupled && weight_decay != 0.0f) {
    for (size_t i = i0; i < i1; i++) p[i] -= lr * weight_decay * p[i];
  }
  const float wd = decoupled ? 0.0f : weight_decay;
  for (size_t i = i0; i < i1; i++) {
    const float gi = g[i] + wd * p[i];
    const float mi = beta1 * m[i] + (1.0f - beta1) * gi;
    const float vi = beta2 * v[i] + (1.0f - beta2) * gi * gi;
    m[i] = mi;
    v[i] = vi;
    p[i] -= step_size * mi / (std::sqrt(vi) * inv_sqrt_bc2 + eps);
  }
}
#pragma GCC pop_options

}  // namespace

extern const Isa table;
const Isa table = {RNNKIT_STR(RNNKIT_NS), NR, packed_b_floats, pack_b, gemm_packed,
                   gemm_panels, pack_a_panels, one_chain_rows, pack_rows1, gemv_chunk, rnn_gates, lstm_gates, gru_gates, rnn_grads,
                   lstm_grads, gru_grads, exp_shifted, dot, axpy, dropout, adam_range};

}  // namespace RNNKIT_NS
}  // namespace rnnkit
