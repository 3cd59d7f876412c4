// A small fixed thread pool for the kernels (size: RNNKIT_THREADS, else the number of cores). run() executes
// one function on n threads, the caller being thread 0, and returns when all are done. Workers spin briefly
// before sleeping, because a sleeping wake-up costs more than a whole batch-1 time step.
#pragma once
#include <atomic>
#include <condition_variable>
#include <functional>
#include <mutex>
#include <thread>
#include <vector>

namespace rnnkit {

class ThreadPool {
 public:
  static ThreadPool& get();
  int size() const { return static_cast<int>(workers_.size()) + 1; }
  void run(int n, const std::function<void(int tid, int n)>& fn);
  // Calls of run() that used more than one thread, since the process began (for tests and benchmarks).
  uint64_t threaded_runs() const { return threaded_runs_.load(std::memory_order_relaxed); }
  ~ThreadPool();

 private:
  explicit ThreadPool(int threads);
  void worker(int tid);
  std::vector<std::thread> workers_;
  std::mutex mu_;
  std::condition_variable cv_;
  std::atomic<uint64_t> generation_{0};
  std::atomic<int> pending_{0};
  std::atomic<uint64_t> threaded_runs_{0};
  const std::function<void(int, int)>* job_ = nullptr;
  int job_threads_ = 0;
  bool stop_ = false;
  std::mutex run_mu_;  // one parallel region at a time
};

// A reusable barrier for the threads of one run(): spins (with a CPU pause) and then yields.
class SpinBarrier {
 public:
  explicit SpinBarrier(int n) : n_(n) {}
  void wait();
  // Nanoseconds the threads spent waiting after the spin budget (others were late: busy cores, page faults).
  int64_t late_ns() const { return late_ns_.load(std::memory_order_relaxed); }

 private:
  const int n_;
  std::atomic<int64_t> late_ns_{0};
  std::atomic<int> arrived_{0};
  std::atomic<int> phase_{0};
};

// [begin, end) of part `i` of `n` over `total` items, boundaries rounded to multiples of `align`.
inline void split_range(int total, int n, int i, int align, int* begin, int* end) {
  const int blocks = (total + align - 1) / align;
  const int b0 = static_cast<int>(static_cast<long long>(blocks) * i / n);
  const int b1 = static_cast<int>(static_cast<long long>(blocks) * (i + 1) / n);
  *begin = b0 * align < total ? b0 * align : total;
  *end = b1 * align < total ? b1 * align : total;
}

}  // namespace rnnkit
