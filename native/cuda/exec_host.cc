// The host executor: the CUDA backend's algorithm (driver.h) and functors (cell_ops.h) run as plain loops, with
// a reference GEMM that has cuBLAS's column-major semantics. Built into build/emulation/rnnkit_cuda_emu.node, a
// test-only addon (CMakeLists.txt) that src/backend/cuda.ts loads when RNNKIT_CUDA_EMULATE=1, so that the CPU-only
// test suite checks the algorithm, the operand swaps of the GEMMs, the N-API glue and the TypeScript backend
// against the PyTorch vectors. What it cannot check is the CUDA runtime itself: launches, cuBLAS, transfers.
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <new>

#include "driver.h"

namespace rnnkit_cuda {
namespace {

// An operand as the tensor cores see it under a reduced precision: the float rounded to `keep` mantissa bits,
// to nearest, ties to even (bf16 keeps 7, TF32 10; 23 leaves it as it is). Infinities and NaN pass unchanged.
float round_mantissa(float x, int keep) {
  if (keep >= 23) return x;
  uint32_t u;
  std::memcpy(&u, &x, sizeof u);
  if ((u & 0x7f800000u) == 0x7f800000u) return x;
  const int drop = 23 - keep;
  u += (1u << (drop - 1)) - 1 + ((u >> drop) & 1u);
  u &= ~((1u << drop) - 1);
  std::memcpy(&x, &u, sizeof x);
  return x;
}

class HostExec {
 public:
  // precision: "fp32", "tf32" or "bf16"; the last two round every GEMM operand to that mantissa (the most cuBLAS
  // may do: with bf16 it may also use TF32 or fp32 for a GEMM).
  explicit HostExec(const std::string& precision)
      : precision_(precision), keep_(precision == "bf16" ? 7 : precision == "tf32" ? 10 : 23) {}
  std::string describe() const { return "CUDA emulation on the host (test build: no GPU involved), " + precision_; }

  float* alloc(size_t n) {
    void* p = std::calloc(n ? n : 1, sizeof(float));
    if (!p) throw std::runtime_error("out of host memory for " + std::to_string(n) + " floats");
    return static_cast<float*>(p);
  }
  void release(float* p) { std::free(p); }
  void to_device(void* dst, const void* src, size_t bytes) { std::memcpy(dst, src, bytes); }
  void to_host(void* dst, const void* src, size_t bytes) { std::memcpy(dst, src, bytes); }
  void copy(float* dst, const float* src, size_t n) { std::memmove(dst, src, n * sizeof(float)); }
  void sync() {}

  template <class F>
  void for_each(size_t n, const F& f) {
    for (size_t i = 0; i < n; ++i) f(i);
  }

  // cuBLAS's sgemm: column-major C[m,n] = alpha op(A) op(B) + beta C; C is not read when beta == 0.
  void gemm_cm(bool ta, bool tb, int m, int n, int k, float alpha, const float* A, int lda, const float* B, int ldb,
               float beta, float* C, int ldc) {
    for (int j = 0; j < n; ++j) {
      for (int i = 0; i < m; ++i) {
        double s = 0;
        for (int p = 0; p < k; ++p) {
          const float a = round_mantissa(ta ? A[p + static_cast<size_t>(i) * lda] : A[i + static_cast<size_t>(p) * lda], keep_);
          const float b = round_mantissa(tb ? B[j + static_cast<size_t>(p) * ldb] : B[p + static_cast<size_t>(j) * ldb], keep_);
          s += static_cast<double>(a) * b;
        }
        float* c = C + i + static_cast<size_t>(j) * ldc;
        *c = static_cast<float>(alpha * s) + (beta == 0.0f ? 0.0f : beta * *c);
      }
    }
  }

  float* scratch(int slot, size_t n) {
    std::vector<float>& v = scratch_[slot];
    if (v.size() < n) v.resize(n);
    return v.data();
  }
  double* scratch_double(size_t n) {
    if (doubles_.size() < n) doubles_.resize(n);
    return doubles_.data();
  }
  double sum_doubles(const double* x, size_t n) {
    double s = 0;
    for (size_t i = 0; i < n; ++i) s += x[i];
    return s;
  }

 private:
  std::vector<float> scratch_[S_COUNT];
  std::vector<double> doubles_;
  std::string precision_;
  int keep_;  // mantissa bits of the GEMMs' operands
};

}  // namespace

std::unique_ptr<Device> open_device(const std::string& precision, std::string& reason) {
  return std::make_unique<DeviceImpl<HostExec>>(std::make_unique<HostExec>(precision));
}

}  // namespace rnnkit_cuda
