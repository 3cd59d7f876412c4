// Data movement for the layers (moves.h). Memory-bound single passes, memcpy per row; large ones split over the
// pool's threads (a float moved counts as one flop of work for the thread count: at least 100,000 floats, 400 KB,
// a thread), each thread a contiguous range, so the results never depend on the thread count.
#include "moves.h"

#include <algorithm>
#include <cstring>

#include "isa.h"
#include "pool.h"

namespace rnnkit {

void fill(size_t n, float* x, float value) {
  parallel_ranges(n, static_cast<double>(n), [&](size_t i0, size_t i1) { std::fill(x + i0, x + i1, value); });
}

void copy_strided(size_t rows, size_t cols, const float* src, size_t src_stride, float* dst, size_t dst_stride) {
  if (cols == 0) return;
  if (rows == 1) {  // one long row (a parameter's copy): its columns over the threads
    parallel_ranges(cols, static_cast<double>(cols),
                    [&](size_t c0, size_t c1) { std::memcpy(dst + c0, src + c0, (c1 - c0) * sizeof(float)); });
    return;
  }
  const auto row = [&](size_t r) { std::memcpy(dst + r * dst_stride, src + r * src_stride, cols * sizeof(float)); };
  if (dst_stride < cols) {  // destination rows overlap: in order on one thread, so the last row written wins
    for (size_t r = 0; r < rows; r++) row(r);
    return;
  }
  parallel_rows(rows, static_cast<double>(cols), row);
}

void transpose01(size_t A, size_t B, size_t C, const float* src, float* dst) {
  if (C == 0) return;
  parallel_rows(A, static_cast<double>(B) * C, [&](size_t a) {
    for (size_t b = 0; b < B; b++) std::memcpy(dst + (b * A + a) * C, src + (a * B + b) * C, C * sizeof(float));
  });
}

void interleave(size_t R, size_t H, const float* fwd, const float* rev, float* out) {
  copy_strided(R, H, fwd, H, out, 2 * H);
  copy_strided(R, H, rev, H, out + H, 2 * H);
}

void deinterleave(size_t R, size_t H, const float* in, float* fwd, float* rev) {
  copy_strided(R, H, in, 2 * H, fwd, H);
  copy_strided(R, H, in + H, 2 * H, rev, H);
}

// Each mask element depends on its index alone, so any split gives the same mask. The numbers are made a vector at
// a time (isa().dropout): a range costs about a memory pass.
void dropout(size_t n, uint32_t seed, double threshold, float scale, const float* x, float* y) {
  const Isa& k = isa();
  parallel_ranges(n, static_cast<double>(n),
                  [&](size_t i0, size_t i1) { k.dropout(i0, i1, seed, threshold, scale, x, y); });
}

}  // namespace rnnkit
