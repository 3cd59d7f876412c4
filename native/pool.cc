#include "pool.h"

#include <algorithm>
#include <cctype>
#include <chrono>
#include <cmath>
#include <cstdlib>
#include <fstream>
#include <sstream>

#ifdef __linux__
#include <sched.h>
#endif

#include "kernels.h"  // test_hooks()
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

// The first line of a file ("" when it cannot be read).
std::string first_line(const std::string& path) {
  std::ifstream f(path);
  std::string line;
  if (f) std::getline(f, line);
  return line;
}

// CPUs of this process's affinity mask, 0 when unknown.
int affinity_cpus() {
#ifdef __linux__
  cpu_set_t set;
  if (sched_getaffinity(0, sizeof(set), &set) == 0) return CPU_COUNT(&set);
#endif
  return 0;
}

// The smallest CPU quota on this process's cgroup path and its ancestors, as "QUOTA PERIOD" ("" when none):
// v2 reads cpu.max, v1 the cpu controller's cfs files. Inside a container the path is usually "/" (the
// container's own cgroup mounted at the root); without a cgroup namespace it is the host's path.
std::string cgroup_quota() {
  std::ifstream f("/proc/self/cgroup");
  std::string line, best;
  double best_cpus = 0;
  auto consider = [&](const std::string& q) {
    std::istringstream in(q);
    std::string a;
    double quota = 0, period = 0;
    if (!(in >> a >> period) || a == "max") return;
    quota = std::atof(a.c_str());
    if (quota <= 0 || period <= 0) return;
    if (best.empty() || quota / period < best_cpus) {
      best = q;
      best_cpus = quota / period;
    }
  };
  while (std::getline(f, line)) {  // "ID:CONTROLLERS:PATH"
    const size_t a = line.find(':'), b = line.find(':', a + 1);
    if (a == std::string::npos || b == std::string::npos) continue;
    const std::string controllers = "," + line.substr(a + 1, b - a - 1) + ",";
    std::string path = line.substr(b + 1);
    const bool v2 = line.compare(0, a, "0") == 0 && controllers == ",,";
    if (!v2 && controllers.find(",cpu,") == std::string::npos) continue;
    for (;;) {  // the path, then each ancestor up to the root
      if (v2) {
        consider(first_line("/sys/fs/cgroup" + path + "/cpu.max"));
      } else {
        for (const char* root : {"/sys/fs/cgroup/cpu", "/sys/fs/cgroup/cpu,cpuacct"}) {
          const std::string dir = std::string(root) + (path == "/" ? "" : path);
          consider(first_line(dir + "/cpu.cfs_quota_us") + " " + first_line(dir + "/cpu.cfs_period_us"));
        }
      }
      if (path.empty() || path == "/") break;
      const size_t slash = path.find_last_of('/');
      path = slash == 0 || slash == std::string::npos ? "/" : path.substr(0, slash);
    }
  }
  return best;
}

int detect_cpus() {
  // The test-hooks addon only (test_hooks(), kernels.cc: this file is compiled once for both addons):
  // RNNKIT_TEST_CPUS=n stands for a machine whose process may use n CPUs, so that tests can run the back-off's
  // steps (4 -> 2 -> 1) on a 2-core machine (test/thread-choice.test.ts).
  const char* t = test_hooks() ? std::getenv("RNNKIT_TEST_CPUS") : nullptr;
  if (t != nullptr && std::atoi(t) >= 1 && std::atoi(t) <= 256) return std::atoi(t);
  const unsigned hc = std::thread::hardware_concurrency();
  const int affinity = affinity_cpus();
  const int n = cpus_allowed(affinity > 0 ? affinity : static_cast<int>(hc), cgroup_quota());
  return n < 1 ? 1 : n > 256 ? 256 : n;
}

// RNNKIT_THREADS: an integer from 1 to 256; unset, empty or auto: the usable CPUs. Anything else is recorded
// (settings.h) and the default used meanwhile, since the loader refuses the backend anyway.
int configured_threads() {
  const std::string v = env_setting("RNNKIT_THREADS");
  if (!v.empty() && lower(v) != "auto") {
    char* end = nullptr;
    const long n = std::strtol(v.c_str(), &end, 10);
    if (*end == '\0' && std::isdigit(static_cast<unsigned char>(v[0])) && n >= 1 && n <= 256) return static_cast<int>(n);
    g_threads_setting = {"RNNKIT_THREADS", v, "an integer from 1 to 256, or auto"};
  }
  return usable_cpus();
}
// Spin budgets (CPU pause instructions, tens of cycles each): an idle worker spins ~1 ms before sleeping; a
// barrier spins ~0.1 ms before yielding its core, which matters when the machine is oversubscribed.
constexpr int kSpins = 20000;
constexpr int kBarrierSpins = 2000;

int64_t now_ns() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

// The back-off (native/KERNELS.md, "One-thread fallback"): a threaded call whose threads spent over a quarter
// of it waiting for late ones (the cores are busy with other work, so a thread we wait for may not be running)
// steps its call shape down to half the threads it ran on (16 -> 8 -> 4 -> 2 -> 1) for a pause: a time, a
// multiple of the slow call (not a number of calls, so that a back-off earned by short calls does not hold long
// ones), at most 0.2 s. When the pause is over, two calls measure the next step up (twice the threads, at most
// what the work asks for); if the faster of them beats the calls at the lower step per flop (a running
// average), the shape comes back up, step by step, else it pauses again. Once back up, a late call that is
// still faster than the step below was (measured within the last second) keeps its threads: on cores shared
// with other work, barriers are often late while two threads still beat one. Per call shape (a key per call
// site and shape), so that one shape backing off leaves the others alone.
constexpr int64_t kBelowValidNs = 1'000'000'000;  // how long that measurement stands: the load changes
// Calls that measure the next step up, judged by the faster: the first wakes workers that slept through the pause
// (a futex wake-up and cold caches cost W1 on 2 threads ~10%, enough to lose to one thread now and then).
constexpr int kProbeCalls = 2;
constexpr int64_t kBackoffMultiple = 16;        // the pause: this many times the slow call's duration
constexpr int64_t kMaxBackoffNs = 200'000'000;  // and at most 0.2 s
BackoffTable g_backoff;  // the process's

}  // namespace

int cpus_allowed(int affinity, const std::string& quota) {
  int n = affinity > 0 ? affinity : 1;
  std::istringstream in(quota);
  std::string q;
  double period = 0;
  if (in >> q >> period && q != "max" && period > 0) {
    const double cpus = std::atof(q.c_str()) / period;
    if (cpus > 0) n = std::min(n, std::max(1, static_cast<int>(std::ceil(cpus - 1e-9))));
  }
  return n;
}

int usable_cpus() {
  static const int n = detect_cpus();
  return n;
}

int threads_by_work(double flops, int blocks, int limit) {
  double n = std::min<double>(limit, blocks);
  n = std::min(n, std::floor(flops / kMinThreadFlops));
  return n < 1 ? 1 : static_cast<int>(n);
}

int batch_groups(int nt, int B, int cols) {
  int best = 1;
  for (int pb = 2; pb <= nt && B / pb >= kGroupRows; pb++) {
    if (nt % pb != 0) continue;
    if (cols / (nt / best) >= kSplitCols) break;  // enough columns each already
    best = pb;
  }
  return best;
}

uint64_t shape_key(std::initializer_list<int64_t> parts) {
  uint64_t h = 1469598103934665603ull;
  for (int64_t p : parts) h = (h ^ static_cast<uint64_t>(p)) * 1099511628211ull;
  return h | 1;
}

int BackoffTable::threads(uint64_t key, int want, int64_t now) {
  if (want < 2) return want;
  std::lock_guard<std::mutex> lock(mu_);
  Slot& b = slots_[key % kSlots];
  if (b.key != key || b.cap == 0 || b.cap >= want) return want;
  if (b.probe == 0 && now >= b.until) {
    b.probe = std::min(want, 2 * b.cap);
    b.probe_left = kProbeCalls;
    b.probe_noted = 0;
    b.probe_pace = 0;
    probes_.fetch_add(1, std::memory_order_relaxed);
  }
  if (b.probe != 0 && b.probe_left > 0) {
    b.probe_left--;
    return b.probe;
  }
  calls_.fetch_add(1, std::memory_order_relaxed);
  return b.cap;
}

void BackoffTable::note(uint64_t key, int want, int threads, int64_t late_ns, int64_t call, double flops, int64_t now) {
  if (want < 2) return;
  const bool late = threads >= 2 && late_ns * 4 > call * threads;
  const double pace = static_cast<double>(call) / std::max(1.0, flops);
  const int64_t pause = std::min(kMaxBackoffNs, kBackoffMultiple * call);
  std::lock_guard<std::mutex> lock(mu_);
  Slot& b = slots_[key % kSlots];
  if (b.key == key && b.probe != 0 && threads == b.probe) {
    // The measuring calls are judged by their speed alone: on cores shared with other work the more-threaded
    // call may be faster although its barriers were late (and then it is the better choice).
    b.probe_pace = b.probe_pace == 0 ? pace : std::min(b.probe_pace, pace);
    if (++b.probe_noted < kProbeCalls) return;
    b.probe = 0;
    const bool faster = b.ns_per_flop > 0 ? b.probe_pace < b.ns_per_flop : !late;
    if (!faster) {
      b.until = now + pause;  // stay a step down, measure again after another pause
      return;
    }
    recoveries_.fetch_add(1, std::memory_order_relaxed);
    b.below = b.cap;
    b.below_pace = b.ns_per_flop > 0 ? b.ns_per_flop : 0;
    b.below_at = now;
    b.cap = threads >= want ? 0 : threads;  // 0: back to the threads the work asks for
    b.ns_per_flop = b.probe_pace;
    b.until = now;  // the next call measures the next step up, if there is one
    return;
  }
  if (late) {
    const int down = std::max(1, threads / 2);
    if (b.key == key && b.below == down && b.below_pace > 0 && now - b.below_at < kBelowValidNs &&
        pace < b.below_pace) {
      return;  // late, but still faster than the step below measured lately
    }
    if (b.key != key) b = Slot{};  // a shape takes a slot only once it backs off
    b.key = key;
    b.cap = down;
    b.probe = 0;
    b.until = now + pause;
    b.ns_per_flop = 0;  // the new step's pace is measured afresh
    b.below = 0;
    steps_down_.fetch_add(1, std::memory_order_relaxed);
    return;
  }
  if (b.key == key && b.cap != 0 && threads == b.cap) {
    b.ns_per_flop = b.ns_per_flop == 0 ? pace : 0.5 * (b.ns_per_flop + pace);
  }
}

BackoffStats BackoffTable::stats() const {
  return {steps_down_.load(std::memory_order_relaxed), calls_.load(std::memory_order_relaxed),
          probes_.load(std::memory_order_relaxed), recoveries_.load(std::memory_order_relaxed)};
}

int backed_off(uint64_t key, int want) { return g_backoff.threads(key, want, now_ns()); }

void note_call(uint64_t key, int want, int threads, int64_t late_ns,
               std::chrono::steady_clock::time_point since, double flops) {
  using std::chrono::nanoseconds;
  const auto end = std::chrono::steady_clock::now();
  g_backoff.note(key, want, threads, late_ns, std::chrono::duration_cast<nanoseconds>(end - since).count(), flops,
                 std::chrono::duration_cast<nanoseconds>(end.time_since_epoch()).count());
}

BackoffStats backoff_stats() { return g_backoff.stats(); }

ThreadPool& ThreadPool::get() {
  // More threads than CPUs never pay: a thread that is not running holds every barrier up (RNNKIT_THREADS=16 on
  // 2 CPUs ran 1.3-1.6x slower than 2 threads). Never destroyed: workers outlive statics.
  static ThreadPool* pool = [] {
    const int asked = configured_threads();
    return new ThreadPool(asked, std::min(asked, usable_cpus()));
  }();
  return *pool;
}

const BadSetting& threads_setting() {
  ThreadPool::get();  // reads the setting
  return g_threads_setting;
}

ThreadPool::ThreadPool(int asked, int threads) : asked_(asked) {
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
    last_threads_.store(1, std::memory_order_relaxed);
    fn(0, 1);
    return;
  }
  std::lock_guard<std::mutex> region(run_mu_);
  threaded_runs_.fetch_add(1, std::memory_order_relaxed);
  last_threads_.store(n, std::memory_order_relaxed);
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
