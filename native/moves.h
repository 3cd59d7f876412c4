// Data movement for the layers (DESIGN.md, "The kernel contract"; src/backend/types.ts, MoveOps): fills,
// strided copies, the batch-first transpose, the direction interleave of bidirectional layers and dropout. A layer
// moves data between buffers through these, never through a view, so a device backend runs the same calls on the
// device. Mirrored by assembly/moves.ts.
#pragma once
#include <cstddef>
#include <cstdint>

namespace rnnkit {

// x[n] = value
void fill(size_t n, float* x, float value);
// dst[r * dst_stride + c] = src[r * src_stride + c] for r < rows, c < cols; src and dst do not overlap
void copy_strided(size_t rows, size_t cols, const float* src, size_t src_stride, float* dst, size_t dst_stride);
// src [A, B, C] -> dst [B, A, C]: batch-first <-> sequence-major
void transpose01(size_t A, size_t B, size_t C, const float* src, float* dst);
// fwd [R, H], rev [R, H] -> out [R, 2H]: each row of out is fwd's row then rev's (a bidirectional layer's output)
void interleave(size_t R, size_t H, const float* fwd, const float* rev, float* out);
// in [R, 2H] -> fwd [R, H], rev [R, H]: the inverse (each direction's share of the output gradient)
void deinterleave(size_t R, size_t H, const float* in, float* fwd, float* rev);
// The 32-bit number i (0-based) of the mulberry32 stream whose state is `seed`: the state advanced i + 1 times
// by 0x6d2b79f5, then mixed (src/nn/random.ts's Random.next() is this divided by 2^32). The ISA's dropout
// (native/isa_impl.h) computes the same numbers a vector at a time. Internal linkage (static): a copy compiled
// into an AVX-512 or AVX2 object never stands in for another object's.
static inline uint32_t mulberry32_at(uint32_t seed, size_t i) {
  uint32_t z = seed + static_cast<uint32_t>(i + 1) * 0x6d2b79f5u;
  z = (z ^ (z >> 15)) * (z | 1u);
  z ^= z + (z ^ (z >> 7)) * (z | 61u);
  return z ^ (z >> 14);
}
// y[n] = x * mask, mask[i] = 0 when mulberry32_at(seed, i) < threshold, else scale. x and y may be the same
// buffer. The layer passes threshold = ceil(p 2^32) (in [0, 2^32]) and scale = 1 / (1 - p) rounded to float,
// so mask i is 0 exactly when Random.next() < p: the masks the layer drew in JavaScript before.
void dropout(size_t n, uint32_t seed, double threshold, float scale, const float* x, float* y);

}  // namespace rnnkit
