// Data movement for the layers (moves.h). Memory-bound single passes: one thread, memcpy per row.
#include "moves.h"

#include <algorithm>
#include <cstring>

namespace rnnkit {

void fill(size_t n, float* x, float value) { std::fill(x, x + n, value); }

void copy_strided(size_t rows, size_t cols, const float* src, size_t src_stride, float* dst, size_t dst_stride) {
  if (cols == 0) return;
  for (size_t r = 0; r < rows; r++) std::memcpy(dst + r * dst_stride, src + r * src_stride, cols * sizeof(float));
}

void transpose01(size_t A, size_t B, size_t C, const float* src, float* dst) {
  if (C == 0) return;
  for (size_t a = 0; a < A; a++) {
    for (size_t b = 0; b < B; b++) std::memcpy(dst + (b * A + a) * C, src + (a * B + b) * C, C * sizeof(float));
  }
}

void interleave(size_t R, size_t H, const float* fwd, const float* rev, float* out) {
  copy_strided(R, H, fwd, H, out, 2 * H);
  copy_strided(R, H, rev, H, out + H, 2 * H);
}

void deinterleave(size_t R, size_t H, const float* in, float* fwd, float* rev) {
  copy_strided(R, H, in, 2 * H, fwd, H);
  copy_strided(R, H, in + H, 2 * H, rev, H);
}

uint32_t mulberry32_at(uint32_t seed, size_t i) {
  uint32_t z = seed + static_cast<uint32_t>(i + 1) * 0x6d2b79f5u;
  z = (z ^ (z >> 15)) * (z | 1u);
  z ^= z + (z ^ (z >> 7)) * (z | 61u);
  return z ^ (z >> 14);
}

void dropout(size_t n, uint32_t seed, double threshold, float scale, const float* x, float* y) {
  for (size_t i = 0; i < n; i++) {
    const float m = static_cast<double>(mulberry32_at(seed, i)) < threshold ? 0.0f : scale;
    y[i] = x[i] * m;
  }
}

}  // namespace rnnkit
