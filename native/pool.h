// A small fixed thread pool for the kernels (size: RNNKIT_THREADS, else the CPUs this process may use, and never
// more than those: usable_cpus()). run() executes one function on n threads, the caller being thread 0, and
// returns when all are done. Workers spin briefly before sleeping, because a sleeping wake-up costs more than a
// whole batch-1 time step. Below the pool: how many threads a call should use (its work, and the back-off).
#pragma once
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <initializer_list>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

namespace rnnkit {

// CPUs this process may run on: those of its affinity mask (taskset, cpusets), fewer when a cgroup CPU quota
// allows less (cgroup v2 cpu.max, v1 cpu.cfs_quota_us / cpu.cfs_period_us: a container given 2 CPUs of a 64-core
// host). Read once; at least 1.
int usable_cpus();
// The rule behind it, pure for tests: `affinity` CPUs (0: unknown) and a quota as cgroup writes it, "QUOTA PERIOD"
// in µs (v2's cpu.max; v1's two files joined by a space), QUOTA "max" or negative meaning none: the affinity
// count, capped at ceil(QUOTA / PERIOD) (1.5 CPUs of quota keep 2 threads busy part of the time).
int cpus_allowed(int affinity, const std::string& quota);
// Work a thread must get before another one pays (flops per recurrent step, or of a whole GEMM): above ~2-4 µs
// of a core's arithmetic, a barrier (~0.5-1 µs, more when a core is busy) costs under a quarter.
constexpr double kMinThreadFlops = 1e5;
// Threads for `flops` of work in `blocks` independent parts with at most `limit` threads: each thread gets at
// least kMinThreadFlops and a block, so small work stays on one thread and a pool larger than the work is not
// woken for nothing.
int threads_by_work(double flops, int blocks, int limit);

class ThreadPool {
 public:
  static ThreadPool& get();
  // The most threads a call runs on: RNNKIT_THREADS (else usable_cpus()), capped at usable_cpus().
  int size() const { return static_cast<int>(workers_.size()) + 1; }
  // What RNNKIT_THREADS asked for (else usable_cpus()), before the cap.
  int asked() const { return asked_; }
  void run(int n, const std::function<void(int tid, int n)>& fn);
  // Calls of run() that used more than one thread, since the process began (for tests and benchmarks).
  uint64_t threaded_runs() const { return threaded_runs_.load(std::memory_order_relaxed); }
  // Threads the latest call of run() ran on (for tests: the back-off's steps).
  int last_threads() const { return last_threads_.load(std::memory_order_relaxed); }
  ~ThreadPool();

 private:
  ThreadPool(int asked, int threads);
  void worker(int tid);
  std::vector<std::thread> workers_;
  std::mutex mu_;
  std::condition_variable cv_;
  std::atomic<uint64_t> generation_{0};
  std::atomic<int> pending_{0};
  std::atomic<uint64_t> threaded_runs_{0};
  std::atomic<int> last_threads_{0};
  int asked_ = 1;
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

// A call shape for the back-off: its call site and sizes (a hash, never 0).
uint64_t shape_key(std::initializer_list<int64_t> parts);
// Threads for a call of shape `key` whose work asks for `want` threads (threads_by_work): fewer while the shape
// is backed off, one step more for the call that measures whether to come back up (pool.cc, "The back-off").
int backed_off(uint64_t key, int want);
// After that call ran on `threads` from `since` until now doing `flops` of work, with `barrier` its barrier:
// steps the shape down when its threads waited for late ones over a quarter of the call (summed over threads),
// else measures the step it ran on and, after a measuring call, comes back up or pauses again.
void note_call(uint64_t key, int want, int threads, const SpinBarrier& barrier,
               std::chrono::steady_clock::time_point since, double flops);
// The back-off's counters since the process began: steps down, calls run on fewer threads than their work asks
// because of one, calls that measured the next step up, and steps up.
struct BackoffStats {
  uint64_t steps_down, calls, probes, recoveries;
};
BackoffStats backoff_stats();

// [begin, end) of part `i` of `n` over `total` items, boundaries rounded to multiples of `align`.
inline void split_range(int total, int n, int i, int align, int* begin, int* end) {
  const int blocks = (total + align - 1) / align;
  const int b0 = static_cast<int>(static_cast<long long>(blocks) * i / n);
  const int b1 = static_cast<int>(static_cast<long long>(blocks) * (i + 1) / n);
  *begin = b0 * align < total ? b0 * align : total;
  *end = b1 * align < total ? b1 * align : total;
}

}  // namespace rnnkit
