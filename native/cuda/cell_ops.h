// The element-wise work of the CUDA backend, written once as functors with a __host__ __device__ call operator:
// nvcc runs them as CUDA kernels (exec_cuda.cu), g++ runs them as plain loops in the emulation addon
// (exec_host.cc) that the CPU-only test suite uses to check everything around the GPU runtime itself.
//
// The formulas and layouts are those of native/KERNELS.md (PyTorch's gate order; sequence-major [T, B, *]
// buffers; workspace: LSTM [T,B,4H] activated gates then [T,B,H] cell states, GRU [T,B,3H] activated r,z,n
// then [T,B,H] ghn). One functor call handles one element (b, j) of a [B, H] step, or one row or column.
#pragma once

#include <cmath>
#include <cstddef>
#include <cstdint>

#if defined(__CUDACC__)
#define RK_HD __host__ __device__
#else
#define RK_HD
#endif

namespace rnnkit_cuda {

enum Kind : int { RNN_TANH = 0, RNN_RELU = 1, LSTM = 2, GRU = 3 };

RK_HD inline float sigm(float a) { return 1.0f / (1.0f + expf(-a)); }

// ---- recurrent steps -------------------------------------------------------------------------------------------
// gi: the input projection of this step's rows, [B, G*H] (x_t W_ihᵀ, bias not yet added); gh: h_prev W_hhᵀ,
// [B, G*H] (bias not yet added). hprev/cprev: [B, H]. y: this step's output rows [B, H].
struct StepForward {
  int kind, B, H;
  const float* gi;
  const float* gh;
  const float* bih;
  const float* bhh;
  const float* hprev;
  const float* cprev;  // LSTM; nullptr reads as zeros
  float* y;
  float* c;            // LSTM: this step's cell state [B, H]
  float* ws_gates;     // [B, G*H] activated gates of this step, or nullptr (inference)
  float* ws_extra;     // GRU: [B, H] ghn of this step, or nullptr
  RK_HD void operator()(size_t e) const {
    const int b = static_cast<int>(e / H), j = static_cast<int>(e % H);
    const int G = kind == LSTM ? 4 : kind == GRU ? 3 : 1;
    const float* gir = gi + static_cast<size_t>(b) * G * H;
    const float* ghr = gh + static_cast<size_t>(b) * G * H;
    float* wsr = ws_gates ? ws_gates + static_cast<size_t>(b) * G * H : nullptr;
    if (kind == LSTM) {
      const float ig = sigm(gir[j] + bih[j] + ghr[j] + bhh[j]);
      const float fg = sigm(gir[H + j] + bih[H + j] + ghr[H + j] + bhh[H + j]);
      const float gg = tanhf(gir[2 * H + j] + bih[2 * H + j] + ghr[2 * H + j] + bhh[2 * H + j]);
      const float og = sigm(gir[3 * H + j] + bih[3 * H + j] + ghr[3 * H + j] + bhh[3 * H + j]);
      const float cp = cprev ? cprev[e] : 0.0f;
      const float cn = fg * cp + ig * gg;
      c[e] = cn;
      y[e] = og * tanhf(cn);
      if (wsr) { wsr[j] = ig; wsr[H + j] = fg; wsr[2 * H + j] = gg; wsr[3 * H + j] = og; }
    } else if (kind == GRU) {
      const float r = sigm(gir[j] + bih[j] + ghr[j] + bhh[j]);
      const float z = sigm(gir[H + j] + bih[H + j] + ghr[H + j] + bhh[H + j]);
      const float ghn = ghr[2 * H + j] + bhh[2 * H + j];
      const float n = tanhf(gir[2 * H + j] + bih[2 * H + j] + r * ghn);
      y[e] = (1.0f - z) * n + z * hprev[e];
      if (wsr) { wsr[j] = r; wsr[H + j] = z; wsr[2 * H + j] = n; }
      if (ws_extra) ws_extra[e] = ghn;
    } else {
      const float a = gir[j] + bih[j] + ghr[j] + bhh[j];
      y[e] = kind == RNN_TANH ? tanhf(a) : (a > 0.0f ? a : 0.0f);
    }
  }
};

// One step of backpropagation through time. dh = dy_t + dh_next; writes the pre-activation gradients dgi
// (and dgh where it differs: GRU) of this step's rows, [B, G*H], and the parts of the previous step's
// gradients that do not come through W_hh: dc_next becomes dc_prev (LSTM, in place), and for GRU dh_next
// becomes the direct term dh * z (the GEMM dgh W_hh is then added with beta = 1). For the other kinds dh_next is
// left for the GEMM to overwrite.
struct StepBackward {
  int kind, B, H;
  const float* dy;        // [B, H] this step's rows
  float* dh_next;         // [B, H] in: from the step after; out: see above
  float* dc_next;         // [B, H] LSTM: in dc from the step after, out dc_prev
  const float* y;         // [B, H] this step's output
  const float* hprev;     // [B, H]
  const float* cprev;     // LSTM [B, H]; nullptr reads as zeros
  const float* c;         // LSTM [B, H] this step's cell state
  const float* ws_gates;  // [B, G*H]
  const float* ws_extra;  // GRU ghn [B, H]
  float* dgi;             // [B, G*H]
  float* dgh;             // [B, G*H]; the same as dgi except for GRU
  RK_HD void operator()(size_t e) const {
    const int b = static_cast<int>(e / H), j = static_cast<int>(e % H);
    const int G = kind == LSTM ? 4 : kind == GRU ? 3 : 1;
    const size_t row = static_cast<size_t>(b) * G * H;
    const float dh = dy[e] + dh_next[e];
    if (kind == LSTM) {
      const float* g = ws_gates + row;
      const float ig = g[j], fg = g[H + j], gg = g[2 * H + j], og = g[3 * H + j];
      const float tc = tanhf(c[e]);
      const float dc = dc_next[e] + dh * og * (1.0f - tc * tc);
      const float cp = cprev ? cprev[e] : 0.0f;
      float* d = dgi + row;
      d[j] = dc * gg * ig * (1.0f - ig);
      d[H + j] = dc * cp * fg * (1.0f - fg);
      d[2 * H + j] = dc * ig * (1.0f - gg * gg);
      d[3 * H + j] = dh * tc * og * (1.0f - og);
      dc_next[e] = dc * fg;
    } else if (kind == GRU) {
      const float* g = ws_gates + row;
      const float r = g[j], z = g[H + j], n = g[2 * H + j];
      const float hp = hprev[e];
      const float dan = dh * (1.0f - z) * (1.0f - n * n);
      const float dar = dan * ws_extra[e] * r * (1.0f - r);
      const float daz = dh * (hp - n) * z * (1.0f - z);
      float* di = dgi + row;
      float* dg = dgh + row;
      di[j] = dar; di[H + j] = daz; di[2 * H + j] = dan;
      dg[j] = dar; dg[H + j] = daz; dg[2 * H + j] = dan * r;
      dh_next[e] = dh * z;
    } else {
      const float h = y[e];
      dgi[row + j] = kind == RNN_TANH ? dh * (1.0f - h * h) : (h > 0.0f ? dh : 0.0f);
    }
  }
};

// ---- reductions and element-wise helpers ----------------------------------------------------------------------
// out[c] += Σ_r x[r, c] over `rows` rows of width `cols` (one call per column: threads read along a row).
struct ColumnSumAdd {
  int rows, cols;
  const float* x;
  float* out;
  RK_HD void operator()(size_t c) const {
    double s = 0;
    for (int r = 0; r < rows; ++r) s += x[static_cast<size_t>(r) * cols + c];
    out[c] += static_cast<float>(s);
  }
};

// partial[p] = Σ x[i]² over i = p, p + P, p + 2P, ... (P = parts): neighbouring calls read neighbouring floats.
struct SumSquaresPart {
  size_t n, parts;
  const float* x;
  double* partial;
  RK_HD void operator()(size_t p) const {
    double s = 0;
    for (size_t i = p; i < n; i += parts) s += static_cast<double>(x[i]) * x[i];
    partial[p] = s;
  }
};

struct Scale {
  float* x;
  float alpha;
  RK_HD void operator()(size_t i) const { x[i] *= alpha; }
};

struct Fill {
  float* x;
  float value;
  RK_HD void operator()(size_t i) const { x[i] = value; }
};

// y[n, o] = b[o] for every row, before a GEMM adds x wᵀ with beta = 1.
struct BroadcastRows {
  int O;
  const float* b;
  float* y;
  RK_HD void operator()(size_t i) const { y[i] = b[i % O]; }
};

// Data movement (src/backend/types.ts MoveOps). dst[r dstStride + c] = src[r srcStride + c], one call per element.
struct Copy2D {
  size_t cols, src_stride, dst_stride;
  const float* src;
  float* dst;
  RK_HD void operator()(size_t i) const {
    const size_t r = i / cols, c = i % cols;
    dst[r * dst_stride + c] = src[r * src_stride + c];
  }
};

// src [A, B, C] -> dst [B, A, C], one call per element of dst.
struct Transpose01 {
  size_t A, B, C;
  const float* src;
  float* dst;
  RK_HD void operator()(size_t i) const {
    const size_t c = i % C, ba = i / C, a = ba % A, b = ba / A;
    dst[i] = src[(a * B + b) * C + c];
  }
};

// Dropout with the seeded mask every backend draws alike (native/moves.cc): element i is dropped when number
// i + 1 of the mulberry32 stream from state `seed` is below `threshold` (p 2^32), else scaled by 1 / (1 - p).
struct Dropout {
  uint32_t seed;
  double threshold;
  float scale;
  const float* x;
  float* y;
  RK_HD void operator()(size_t i) const {
    uint32_t z = seed + static_cast<uint32_t>(i + 1) * 0x6d2b79f5u;
    z = (z ^ (z >> 15)) * (z | 1u);
    z ^= z + (z ^ (z >> 7)) * (z | 61u);
    z ^= z >> 14;
    y[i] = x[i] * (static_cast<double>(z) < threshold ? 0.0f : scale);
  }
};

// One row of softmax cross-entropy: loss[n] = -log softmax(logits[n])[t] (0 for an ignored row, t outside
// [0, C)), dlogits[n] = scale (softmax - onehot) (zeros for an ignored row). Log-sum-exp in double.
struct SoftmaxCrossEntropyRow {
  int C;
  const float* logits;
  const float* targets;
  float* dlogits;  // or nullptr
  float scale;
  double* loss;
  RK_HD void operator()(size_t n) const {
    const float* z = logits + n * C;
    const float tf = targets[n];
    // Ignored: a target outside [0, C) or not an integer (the padding target is -1).
    const bool use = tf >= 0.0f && tf < static_cast<float>(C) && static_cast<float>(static_cast<int>(tf)) == tf;
    const int t = use ? static_cast<int>(tf) : -1;
    float mx = z[0];
    for (int k = 1; k < C; ++k) mx = z[k] > mx ? z[k] : mx;
    double sum = 0;
    for (int k = 0; k < C; ++k) sum += exp(static_cast<double>(z[k] - mx));
    const double lse = log(sum) + mx;
    loss[n] = use ? lse - z[t] : 0.0;
    if (dlogits) {
      float* d = dlogits + n * C;
      for (int k = 0; k < C; ++k) {
        d[k] = use ? scale * (static_cast<float>(exp(static_cast<double>(z[k]) - lse)) - (k == t ? 1.0f : 0.0f)) : 0.0f;
      }
    }
  }
};

struct EmbeddingGather {
  int D, V;
  const float* ids;
  const float* table;
  float* out;
  RK_HD void operator()(size_t i) const {
    const size_t n = i / D, d = i % D;
    const float id = ids[n];
    out[i] = (id >= 0.0f && id < static_cast<float>(V)) ? table[static_cast<size_t>(id) * D + d] : 0.0f;
  }
};

// dtable[ids[n]] += dout[n]: rows may repeat, so the device adds atomically (order, hence the last bits, varies).
struct EmbeddingScatterAdd {
  int D, V;
  const float* ids;
  const float* dout;
  float* dtable;
  RK_HD void operator()(size_t i) const {
    const size_t n = i / D, d = i % D;
    const float id = ids[n];
    if (!(id >= 0.0f && id < static_cast<float>(V))) return;
    float* dst = dtable + static_cast<size_t>(id) * D + d;
#if defined(__CUDA_ARCH__)
    atomicAdd(dst, dout[i]);
#else
    *dst += dout[i];
#endif
  }
};

// PyTorch's Adam / AdamW (native/KERNELS.md): bc1 = 1 - beta1^step, bc2 = 1 - beta2^step computed by the caller.
struct AdamUpdate {
  float* p;
  const float* g;
  float* m;
  float* v;
  float lr, beta1, beta2, eps, weightDecay, bc1, bc2;
  bool decoupled;
  RK_HD void operator()(size_t i) const {
    float gi = g[i];
    if (decoupled) p[i] -= lr * weightDecay * p[i];
    else gi += weightDecay * p[i];
    m[i] = beta1 * m[i] + (1.0f - beta1) * gi;
    v[i] = beta2 * v[i] + (1.0f - beta2) * gi * gi;
    p[i] -= lr * (m[i] / bc1) / (sqrtf(v[i] / bc2) + eps);
  }
};

// PyTorch's SGD with momentum, dampening 0, optional Nesterov.
struct SgdUpdate {
  float* p;
  const float* g;
  float* buf;
  float lr, momentum, weightDecay;
  bool nesterov, first;
  RK_HD void operator()(size_t i) const {
    float gi = g[i] + weightDecay * p[i];
    if (momentum != 0.0f) {
      buf[i] = first ? gi : momentum * buf[i] + gi;
      gi = nesterov ? gi + momentum * buf[i] : buf[i];
    }
    p[i] -= lr * gi;
  }
};

}  // namespace rnnkit_cuda
