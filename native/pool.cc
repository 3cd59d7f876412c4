#include "pool.h"

#include <cctype>
#include <chrono>
#include <cstdlib>

#include "settings.h"

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#define RNNKIT_PAUSE() _mm_pause()
#elif defined(__aarch64__)
#define RNNKIT_PAUSE() asm volatile("yield")
#else
#define RNNKIT_PAUSE() ((void)0)
#endif

namespace rnnkit {

namespace {
BadSetting g_threads_setting;

// RNNKIT_THREADS: an integer from 1 to 256; unset, empty or auto: the number of cores. Anything else is recorded
// (settings.h) and the default used meanwhile, since the loader refuses the backend anyway.
int configured_threads() {
  const std::string v = env_setting("RNNKIT_THREADS");
  if (!v.empty() && lower(v) != "auto") {
    char* end = nullptr;
    const long n = std::strtol(v.c_str(), &end, 10);
    if (*end == '\0' && std::isdigit(static_cast<unsigned char>(v[0])) && n >= 1 && n <= 256) return static_cast<int>(n);
    g_threads_setting = {"RNNKIT_THREADS", v, "an integer from 1 to 256, or auto"};
  }
  const unsigned hc = std::thread::hardware_concurrency();
  return hc >= 1 && hc <= 256 ? static_cast<int>(hc) : 1;
}
// Spin budgets (CPU pause instructions, tens of cycles each): an idle worker spins ~1 ms before sleeping; a
// barrier spins ~0.1 ms before yielding its core, which matters when the machine is oversubscribed.
constexpr int kSpins = 20000;
constexpr int kBarrierSpins = 2000;
}  // namespace

ThreadPool& ThreadPool::get() {
  static ThreadPool* pool = new ThreadPool(configured_threads());  // never destroyed: workers outlive statics
  return *pool;
}

const BadSetting& threads_setting() {
  ThreadPool::get();  // reads the setting
  return g_threads_setting;
}

ThreadPool::ThreadPool(int threads) {
  for (int i = 1; i < threads; i++) workers_.emplace_back([this, i] { worker(i); });
}

ThreadPool::~ThreadPool() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stop_ = true;
  }
  generation_.fetch_add(1);
  cv_.notify_all();
  for (auto& t : workers_) t.join();
}

void ThreadPool::worker(int tid) {
  uint64_t seen = 0;
  for (;;) {
    uint64_t g = generation_.load(std::memory_order_acquire);
    for (int i = 0; g == seen && i < kSpins; i++) {
      RNNKIT_PAUSE();
      g = generation_.load(std::memory_order_acquire);
    }
    if (g == seen) {
      std::unique_lock<std::mutex> lock(mu_);
      cv_.wait(lock, [&] { return generation_.load(std::memory_order_acquire) != seen || stop_; });
      g = generation_.load(std::memory_order_acquire);
    }
    if (stop_) return;
    seen = g;
    if (tid < job_threads_) {
      (*job_)(tid, job_threads_);
      pending_.fetch_sub(1, std::memory_order_acq_rel);
    }
  }
}

void ThreadPool::run(int n, const std::function<void(int, int)>& fn) {
  if (n > size()) n = size();
  if (n <= 1) {
    fn(0, 1);
    return;
  }
  std::lock_guard<std::mutex> region(run_mu_);
  threaded_runs_.fetch_add(1, std::memory_order_relaxed);
  {
    std::lock_guard<std::mutex> lock(mu_);
    job_ = &fn;
    job_threads_ = n;
    pending_.store(n - 1, std::memory_order_release);
    generation_.fetch_add(1, std::memory_order_acq_rel);
  }
  cv_.notify_all();
  fn(0, n);
  while (pending_.load(std::memory_order_acquire) != 0) RNNKIT_PAUSE();
}

void SpinBarrier::wait() {
  const int phase = phase_.load(std::memory_order_acquire);
  if (arrived_.fetch_add(1, std::memory_order_acq_rel) == n_ - 1) {
    arrived_.store(0, std::memory_order_relaxed);
    phase_.fetch_add(1, std::memory_order_acq_rel);
    return;
  }
  std::chrono::steady_clock::time_point late;
  int i = 0;
  for (; phase_.load(std::memory_order_acquire) == phase; i++) {
    if (i < kBarrierSpins) {
      RNNKIT_PAUSE();
    } else {
      if (i == kBarrierSpins) late = std::chrono::steady_clock::now();
      std::this_thread::yield();
    }
  }
  if (i > kBarrierSpins) {
    const auto ns = std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::steady_clock::now() - late).count();
    late_ns_.fetch_add(ns, std::memory_order_relaxed);
  }
}

}  // namespace rnnkit
