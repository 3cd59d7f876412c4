// Float buffers aligned to a cache line. The kernels stream packed weights with full-vector loads; a 64-byte
// AVX-512 load from an address that is not a multiple of 64 touches two cache lines. std::vector<float> gives
// 16-byte alignment (large blocks come from mmap, 16 bytes past a page), which made the batch-1 recurrent
// product much slower than from aligned panels (native/KERNELS.md, "History (native)").
#pragma once
#include <cstddef>
#include <new>
#include <vector>

namespace rnnkit {

constexpr std::size_t kCacheLine = 64;

template <class T>
struct CacheAligned {
  using value_type = T;
  CacheAligned() = default;
  template <class U>
  CacheAligned(const CacheAligned<U>&) noexcept {}
  T* allocate(std::size_t n) {
    return static_cast<T*>(::operator new(n * sizeof(T), std::align_val_t(kCacheLine)));
  }
  void deallocate(T* p, std::size_t) noexcept { ::operator delete(p, std::align_val_t(kCacheLine)); }
  template <class U>
  bool operator==(const CacheAligned<U>&) const noexcept { return true; }
  template <class U>
  bool operator!=(const CacheAligned<U>&) const noexcept { return false; }
};

using FloatBuf = std::vector<float, CacheAligned<float>>;

}  // namespace rnnkit
