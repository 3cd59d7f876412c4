// The CUDA executor: functors from cell_ops.h as kernels on one stream, GEMMs through cuBLAS, memory with
// cudaMalloc. The CUDA runtime is linked statically (it needs only the driver, libcuda.so.1, at run time); cuBLAS is
// opened at run time by its soname (libcublas.so.13, then .12; RNNKIT_CUBLAS_DIR names a folder to look in
// first), so neither the build nor a machine without a GPU needs it. A machine without a driver, a device or cuBLAS
// gets a reason (open_device), never a crash.
#include <cuda_runtime.h>
#include <dlfcn.h>

#include <cstdio>
#include <cstdlib>

#include "driver.h"

namespace rnnkit_cuda {
namespace {

// The stable C ABI of cuBLAS's v2 entry points (cublas_api.h): an opaque handle, int status and enums, scalars
// read from host memory (the default pointer mode).
using cublasHandle_t = void*;
using cublasCreate_t = int (*)(cublasHandle_t*);
using cublasDestroy_t = int (*)(cublasHandle_t);
using cublasSetStream_t = int (*)(cublasHandle_t, cudaStream_t);
using cublasSetMathMode_t = int (*)(cublasHandle_t, int);
using cublasSgemm_t = int (*)(cublasHandle_t, int, int, int, int, int, const float*, const float*, int, const float*,
                              int, const float*, float*, int);
// cublasGemmEx: data types and compute type as ints (library_types.h, cublas_api.h).
using cublasGemmEx_t = int (*)(cublasHandle_t, int, int, int, int, int, const void*, const void*, int, int,
                               const void*, int, int, const void*, void*, int, int, int, int);
constexpr int kOpN = 0, kOpT = 1;
constexpr int kDefaultMath = 0;  // fp32 FMA, no TF32: the PyTorch vectors' tolerances hold
constexpr int kTf32Math = 3;     // opt-in (precision "tf32"): tensor cores, 10-bit mantissa products
constexpr int kR32F = 0;                  // CUDA_R_32F
constexpr int kCompute32FFast16BF = 75;   // CUBLAS_COMPUTE_32F_FAST_16BF: fp32 in and out, bf16 (or TF32) products
constexpr int kGemmDefault = -1;          // CUBLAS_GEMM_DEFAULT

struct Cublas {
  void* lib = nullptr;
  std::string path;
  cublasCreate_t create = nullptr;
  cublasDestroy_t destroy = nullptr;
  cublasSetStream_t set_stream = nullptr;
  cublasSetMathMode_t set_math_mode = nullptr;
  cublasSgemm_t sgemm = nullptr;
  cublasGemmEx_t gemm_ex = nullptr;  // precision "bf16" only
};

bool load_cublas(Cublas& cb, std::string& reason) {
  std::vector<std::string> candidates;
  const char* dir = std::getenv("RNNKIT_CUBLAS_DIR");
  for (const char* so : {"libcublas.so.13", "libcublas.so.12"}) {
    if (dir && *dir) candidates.push_back(std::string(dir) + "/" + so);
    candidates.push_back(so);
  }
  std::string tried;
  for (const std::string& name : candidates) {
    void* lib = dlopen(name.c_str(), RTLD_NOW | RTLD_LOCAL);
    if (!lib) {
      const char* e = dlerror();
      tried += (tried.empty() ? "" : "; ") + std::string(e ? e : name.c_str());
      continue;
    }
    cb.lib = lib;
    cb.path = name;
    cb.create = reinterpret_cast<cublasCreate_t>(dlsym(lib, "cublasCreate_v2"));
    cb.destroy = reinterpret_cast<cublasDestroy_t>(dlsym(lib, "cublasDestroy_v2"));
    cb.set_stream = reinterpret_cast<cublasSetStream_t>(dlsym(lib, "cublasSetStream_v2"));
    cb.set_math_mode = reinterpret_cast<cublasSetMathMode_t>(dlsym(lib, "cublasSetMathMode"));
    cb.sgemm = reinterpret_cast<cublasSgemm_t>(dlsym(lib, "cublasSgemm_v2"));
    cb.gemm_ex = reinterpret_cast<cublasGemmEx_t>(dlsym(lib, "cublasGemmEx"));
    if (cb.create && cb.destroy && cb.set_stream && cb.set_math_mode && cb.sgemm) return true;
    reason = name + " lacks the cuBLAS v2 entry points rnnkit calls (cublasCreate_v2, cublasSgemm_v2, ...)";
    dlclose(lib);
    cb.lib = nullptr;
    return false;
  }
  reason = "cuBLAS not found (" + tried + "); install it or set RNNKIT_CUBLAS_DIR to the folder holding libcublas.so.13";
  return false;
}

void check(cudaError_t e, const char* what) {
  if (e != cudaSuccess) throw std::runtime_error(std::string("CUDA ") + what + ": " + cudaGetErrorString(e));
}

template <class F>
__global__ void each_kernel(F f, size_t n) {
  const size_t i = static_cast<size_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  if (i < n) f(i);
}

class CudaExec {
 public:
  CudaExec(Cublas cb, cudaStream_t stream, cublasHandle_t handle, std::string details, bool bf16)
      : cb_(cb), stream_(stream), handle_(handle), details_(std::move(details)), bf16_(bf16) {}
  ~CudaExec() {
    for (auto& s : scratch_) if (s.p) cudaFree(s.p);
    if (doubles_.p) cudaFree(doubles_.p);
    cb_.destroy(handle_);
    cudaStreamDestroy(stream_);
  }
  std::string describe() const { return details_; }

  float* alloc(size_t n) {
    void* p = nullptr;
    check(cudaMalloc(&p, (n ? n : 1) * sizeof(float)), "cudaMalloc");
    check(cudaMemsetAsync(p, 0, (n ? n : 1) * sizeof(float), stream_), "cudaMemsetAsync");
    return static_cast<float*>(p);
  }
  void release(float* p) {
    check(cudaStreamSynchronize(stream_), "cudaStreamSynchronize");
    check(cudaFree(p), "cudaFree");
  }
  // From pageable host memory the copy is staged before the call returns, so the caller may reuse the array.
  void to_device(void* dst, const void* src, size_t bytes) {
    check(cudaMemcpyAsync(dst, src, bytes, cudaMemcpyHostToDevice, stream_), "copy to the device");
  }
  void to_host(void* dst, const void* src, size_t bytes) {
    check(cudaMemcpyAsync(dst, src, bytes, cudaMemcpyDeviceToHost, stream_), "copy to the host");
    check(cudaStreamSynchronize(stream_), "cudaStreamSynchronize");
  }
  void copy(float* dst, const float* src, size_t n) {
    if (n) check(cudaMemcpyAsync(dst, src, n * sizeof(float), cudaMemcpyDeviceToDevice, stream_), "device copy");
  }
  void sync() { check(cudaStreamSynchronize(stream_), "cudaStreamSynchronize"); }

  template <class F>
  void for_each(size_t n, const F& f) {
    if (n == 0) return;
    constexpr unsigned kBlock = 256;
    const size_t grid = (n + kBlock - 1) / kBlock;
    each_kernel<<<static_cast<unsigned>(grid), kBlock, 0, stream_>>>(f, n);
    check(cudaGetLastError(), "kernel launch");
  }

  void gemm_cm(bool ta, bool tb, int m, int n, int k, float alpha, const float* A, int lda, const float* B, int ldb,
               float beta, float* C, int ldc) {
    if (bf16_) {  // fp32 operands and result; cuBLAS may round the operands to bf16 (or TF32) for the tensor cores
      const int st = cb_.gemm_ex(handle_, ta ? kOpT : kOpN, tb ? kOpT : kOpN, m, n, k, &alpha, A, kR32F, lda, B, kR32F,
                                 ldb, &beta, C, kR32F, ldc, kCompute32FFast16BF, kGemmDefault);
      if (st != 0) throw std::runtime_error("cublasGemmEx (bf16) failed with status " + std::to_string(st));
      return;
    }
    const int st = cb_.sgemm(handle_, ta ? kOpT : kOpN, tb ? kOpT : kOpN, m, n, k, &alpha, A, lda, B, ldb, &beta, C,
                             ldc);
    if (st != 0) throw std::runtime_error("cublasSgemm_v2 failed with status " + std::to_string(st));
  }

  float* scratch(int slot, size_t n) { return grow(scratch_[slot], n * sizeof(float), "scratch"); }
  double* scratch_double(size_t n) { return reinterpret_cast<double*>(grow(doubles_, n * sizeof(double), "scratch")); }
  double sum_doubles(const double* x, size_t n) {
    host_doubles_.resize(n);
    to_host(host_doubles_.data(), x, n * sizeof(double));
    double s = 0;
    for (double v : host_doubles_) s += v;
    return s;
  }

 private:
  struct Block {
    void* p = nullptr;
    size_t bytes = 0;
  };
  float* grow(Block& b, size_t bytes, const char* what) {
    if (b.bytes < bytes) {
      if (b.p) {
        sync();
        check(cudaFree(b.p), "cudaFree");
        b.p = nullptr;
        b.bytes = 0;
      }
      check(cudaMalloc(&b.p, bytes), what);
      b.bytes = bytes;
    }
    return static_cast<float*>(b.p);
  }

  Cublas cb_;
  cudaStream_t stream_;
  cublasHandle_t handle_;
  std::string details_;
  bool bf16_;  // precision "bf16": GEMMs through cublasGemmEx with bf16 products
  Block scratch_[S_COUNT];
  Block doubles_;
  std::vector<double> host_doubles_;
};

}  // namespace

std::unique_ptr<Device> open_device(const std::string& precision, std::string& reason) {
  // The runtime's own word for a missing driver is "driver version is insufficient": say what is missing.
  if (void* driver = dlopen("libcuda.so.1", RTLD_NOW | RTLD_LOCAL)) {
    dlclose(driver);
  } else {
    reason = "no NVIDIA driver (libcuda.so.1 not found)";
    return nullptr;
  }
  int count = 0;
  cudaError_t e = cudaGetDeviceCount(&count);
  if (e != cudaSuccess) {
    reason = std::string("no usable CUDA driver or device (") + cudaGetErrorString(e) + ")";
    return nullptr;
  }
  if (count == 0) {
    reason = "no CUDA device";
    return nullptr;
  }
  int dev = 0;
  if (const char* d = std::getenv("RNNKIT_CUDA_DEVICE")) dev = std::atoi(d);
  if (dev < 0 || dev >= count) {
    reason = "RNNKIT_CUDA_DEVICE=" + std::to_string(dev) + " but this machine has " + std::to_string(count) +
             " CUDA device(s)";
    return nullptr;
  }
  cudaDeviceProp prop{};
  if ((e = cudaGetDeviceProperties(&prop, dev)) != cudaSuccess || (e = cudaSetDevice(dev)) != cudaSuccess) {
    reason = std::string("CUDA device ") + std::to_string(dev) + ": " + cudaGetErrorString(e);
    return nullptr;
  }
  if (prop.major * 10 + prop.minor < 75) {
    reason = std::string(prop.name) + " has compute capability " + std::to_string(prop.major) + "." +
             std::to_string(prop.minor) + "; rnnkit's CUDA kernels need 7.5 or newer";
    return nullptr;
  }
  Cublas cb;
  if (!load_cublas(cb, reason)) return nullptr;
  if (precision == "bf16" && !cb.gemm_ex) {
    reason = cb.path + " lacks cublasGemmEx, which precision bf16 needs";
    dlclose(cb.lib);
    return nullptr;
  }
  cudaStream_t stream = nullptr;
  if ((e = cudaStreamCreateWithFlags(&stream, cudaStreamNonBlocking)) != cudaSuccess) {
    reason = std::string("cudaStreamCreate: ") + cudaGetErrorString(e);
    return nullptr;
  }
  cublasHandle_t handle = nullptr;
  int st = cb.create(&handle);
  if (st == 0) st = cb.set_stream(handle, stream);
  if (st == 0) st = cb.set_math_mode(handle, precision == "tf32" ? kTf32Math : kDefaultMath);
  if (st != 0) {
    reason = "cuBLAS (" + cb.path + ") could not start: status " + std::to_string(st);
    if (handle) cb.destroy(handle);
    cudaStreamDestroy(stream);
    return nullptr;
  }
  char mem[32];
  std::snprintf(mem, sizeof mem, "%.0f GiB", static_cast<double>(prop.totalGlobalMem) / (1u << 30));
  std::string details = std::string(prop.name) + " (sm_" + std::to_string(prop.major) + std::to_string(prop.minor) +
                        ", " + mem + "), cuBLAS " + cb.path + ", " + precision;
  auto exec = std::make_unique<CudaExec>(cb, stream, handle, details, precision == "bf16");
  // A device the fat binary has no code for fails here, at the first launch, rather than in a user's call.
  try {
    float* probe = exec->alloc(1);
    exec->for_each(1, Fill{probe, 1.0f});
    exec->sync();
    exec->release(probe);
  } catch (const std::exception& ex) {
    reason = std::string("the CUDA kernels do not run on ") + prop.name + ": " + ex.what();
    return nullptr;
  }
  return std::make_unique<DeviceImpl<CudaExec>>(std::move(exec));
}

}  // namespace rnnkit_cuda
