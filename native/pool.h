// A small fixed thread pool for the kernels (size: RNNKIT_THREADS, else the CPUs this process may use, and never
// more than those: usable_cpus()). run() executes one function on n threads, the caller being thread 0, and
// returns when all are done. Workers spin briefly before sleeping, because a sleeping wake-up costs more than a
// whole batch-1 time step. Below the pool: how many threads a call should use (its work, and the back-off).
#pragma once
#include <algorithm>
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
// A recurrent forward's threads as groups of batch rows, each group's threads splitting the hidden units (a batch
// group's rows are sequences of their own, so only its threads meet at a step's end, and each copies only its
// rows of h_prev). Per step a thread multiplies its rows of h_prev by its columns (gates x units) of W_hhᵀ: that
// is `cols` multiply-adds per float of h_prev it copies, much of it from other cores, before a barrier. So the
// hidden units alone while every thread gets kSplitCols columns of the G*H; else the fewest groups (a divisor of
// nt) that give every thread kSplitCols, each group at least kGroupRows rows (a full micro-tile), or as many as
// those rows allow. On 2 threads that groups only small layers (the forward's cols are gates x H: H 64 to 256 by
// gates; the backward's are H: H under 512).
constexpr int kSplitCols = 256;
constexpr int kGroupRows = 8;
int batch_groups(int nt, int B, int cols);

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
// After that call ran on `threads` from `since` until now doing `flops` of work, its threads waiting `late_ns` in
// all past their barriers' spin (SpinBarrier::late_ns, summed over the call's barriers):
// steps the shape down when its threads waited for late ones over a quarter of the call (summed over threads),
// else measures the step it ran on and, after a measuring call, comes back up or pauses again.
void note_call(uint64_t key, int want, int threads, int64_t late_ns,
               std::chrono::steady_clock::time_point since, double flops);
// The back-off's counters since the process began: steps down, calls run on fewer threads than their work asks
// because of one, calls that measured the next step up, and steps up.
struct BackoffStats {
  uint64_t steps_down, calls, probes, recoveries;
};
BackoffStats backoff_stats();

// The back-off's state and rules (pool.cc, "The back-off"), with the clock given: backed_off and note_call run
// the process's table on the steady clock; the test-hooks addon replays made-up calls on a table of its own, so
// that its rules are tested without depending on how busy the machine is.
class BackoffTable {
 public:
  // Threads for a call of shape `key` whose work asks for `want`, at `now` (steady clock ns).
  int threads(uint64_t key, int want, int64_t now);
  // That call ran on `threads` for `call_ns`, its threads waiting `late_ns` in all past the barrier's spin
  // budget, doing `flops` of work, and ended at `now`.
  void note(uint64_t key, int want, int threads, int64_t late_ns, int64_t call_ns, double flops, int64_t now);
  BackoffStats stats() const;

 private:
  struct Slot {
    uint64_t key = 0;        // the call shape; 0: a free slot
    int cap = 0;             // threads the shape runs on during its pause; 0: no back-off
    int probe = 0;           // threads of the calls measuring the next step up, 0 when none is running
    int probe_left = 0;      // measuring calls still to hand out
    int probe_noted = 0;     // measuring calls done
    double probe_pace = 0;   // the fastest of them, ns per flop
    int64_t until = 0;       // steady clock ns: the pause ends
    double ns_per_flop = 0;  // running average (weight 0.5 on the newest) of calls at `cap`, 0: none yet
    // The step below the threads the shape came back up to, as last measured: a late call that is still faster
    // per flop than that step does not step down (late barriers are a reason to measure, speed decides).
    int below = 0;            // its threads, 0: none
    double below_pace = 0;    // its ns per flop
    int64_t below_at = 0;     // steady clock ns: when it came back up from it
  };
  static constexpr int kSlots = 64;  // shapes remembered at once; a new shape in a taken slot replaces it
  std::mutex mu_;
  Slot slots_[kSlots];
  std::atomic<uint64_t> steps_down_{0};  // steps down (slow barriers)
  std::atomic<uint64_t> calls_{0};       // calls run on fewer threads than their work asks, by a back-off
  std::atomic<uint64_t> probes_{0};      // calls that measured the next step up
  std::atomic<uint64_t> recoveries_{0};  // steps up (a faster measurement)
};

// [begin, end) of part `i` of `n` over `total` items, boundaries rounded to multiples of `align`.
inline void split_range(int total, int n, int i, int align, int* begin, int* end) {
  const int blocks = (total + align - 1) / align;
  const int b0 = static_cast<int>(static_cast<long long>(blocks) * i / n);
  const int b1 = static_cast<int>(static_cast<long long>(blocks) * (i + 1) / n);
  *begin = b0 * align < total ? b0 * align : total;
  *end = b1 * align < total ? b1 * align : total;
}

// fn(begin, end) over [0, n) in one contiguous range per thread, the boundaries whole cache lines (16 floats) so
// that no two threads write one line, on the threads `flops` of work asks for (threads_by_work), each given at
// least kMinRangeFloats: for elementwise passes (fills, scaling, optimizer steps).
constexpr size_t kMinRangeFloats = 16384;
template <class F>
void parallel_ranges(size_t n, double flops, F&& fn) {
  constexpr size_t kLine = 16;
  const size_t lines = (n + kLine - 1) / kLine;
  const size_t parts = std::min<size_t>(n / kMinRangeFloats, 1 << 20);
  const int nt = threads_by_work(flops, static_cast<int>(parts), ThreadPool::get().size());
  if (nt <= 1) {
    fn(size_t{0}, n);
    return;
  }
  ThreadPool::get().run(nt, [&](int tid, int k) {
    const size_t l0 = lines * tid / k, l1 = lines * (tid + 1) / k;
    fn(std::min(n, l0 * kLine), std::min(n, l1 * kLine));
  });
}

// f(r) for r < rows, the rows split over the threads in contiguous ranges, `row_flops` of work each (a float
// moved counts as one): for copies and gathers whose rows do not overlap.
template <class F>
void parallel_rows(size_t rows, double row_flops, F&& f) {
  const int nt = threads_by_work(static_cast<double>(rows) * row_flops, static_cast<int>(std::min<size_t>(rows, 1 << 20)),
                                 ThreadPool::get().size());
  if (nt <= 1) {
    for (size_t r = 0; r < rows; r++) f(r);
    return;
  }
  ThreadPool::get().run(nt, [&](int tid, int k) {
    for (size_t r = rows * tid / k, end = rows * (tid + 1) / k; r < end; r++) f(r);
  });
}

}  // namespace rnnkit
