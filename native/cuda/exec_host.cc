// The host executor: the CUDA backend's algorithm (driver.h) and functors (cell_ops.h) run as plain loops, with
// a reference GEMM that has cuBLAS's column-major semantics. Built into build/emulation/rnnkit_cuda_emu.node, a
// test-only addon (CMakeLists.txt) that src/backend/cuda.ts loads when RNNKIT_CUDA_EMULATE=1, so that the CPU-only
// test suite checks the algorithm, the operand swaps of the GEMMs, the N-API glue and the TypeScript backend
// against the PyTorch vectors. What it cannot check is the CUDA runtime itself: launches, cuBLAS, transfers.
#include <cstdlib>
#include <cstring>
#include <new>

#include "driver.h"

namespace rnnkit_cuda {
namespace {

class HostExec {
 public:
  std::string describe() const { return "CUDA emulation on the host (test build: no GPU involved)"; }

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
          const float a = ta ? A[p + static_cast<size_t>(i) * lda] : A[i + static_cast<size_t>(p) * lda];
          const float b = tb ? B[j + static_cast<size_t>(p) * ldb] : B[p + static_cast<size_t>(j) * ldb];
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
};

}  // namespace

std::unique_ptr<Device> open_device(const std::string& precision, std::string& reason) {
  return std::make_unique<DeviceImpl<HostExec>>(std::make_unique<HostExec>());
}

}  // namespace rnnkit_cuda
