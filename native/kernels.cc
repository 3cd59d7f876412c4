// Cell kernels (native/KERNELS.md): the input projection for all T steps is one GEMM, each step one small GEMM
// against W_hh packed once per call, fused with the gate math; backward runs the steps in reverse for dh/dc and
// computes the weight gradients afterwards as GEMMs over all steps. Scratch is per thread and only grows.
#include "kernels.h"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <deque>
#include <list>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

#include "aligned.h"
#include "isa.h"
#include "pool.h"

namespace rnnkit {

int gates_of(int kind) { return kind == kLstm ? 4 : kind == kGru ? 3 : 1; }

size_t workspace_floats(int kind, int T, int B, int H) {
  const size_t n = static_cast<size_t>(T) * B * H;
  return kind == kLstm ? 5 * n : kind == kGru ? 4 * n : 0;
}

namespace {

float* grow(FloatBuf& v, size_t n) {
  if (v.size() < n) v.resize(n);
  return v.data();
}

// Position processed at step s.
inline int pos(const CellInputs& in, int s) { return in.reverse ? in.T - 1 - s : s; }

}  // namespace

int threads_for(double flops, int blocks) {
  return threads_by_work(flops, blocks, ThreadPool::get().size());
}

namespace {

// Work (flops) between two polls of a call's CancelPoll: 0.1-1 ms of a call here, so a poll (tens of ns) costs
// nothing measurable, and a terminated worker's call ends within about a millisecond.
constexpr double kPollFlops = 2e7;
// A weight-gradient GEMM's rows are polled between in slabs of this much work (~2-4 ms): smaller slabs would
// re-read its packed right-hand side more often.
constexpr double kSlabFlops = 1e8;

// Stopping a call early: the calling thread (thread 0, the JavaScript thread, the only one that may ask Node)
// polls in.cancel after about kPollFlops of its work; once it answers yes, every thread skips the rest of its work
// but still passes every barrier, so all of them leave together and the pool is left as it was. Skipped work
// leaves the outputs incomplete, never reads or writes out of bounds (no index depends on data).
class Stopper {
 public:
  explicit Stopper(const CancelPoll* cancel) : cancel_(cancel) {}
  // Thread tid has done `flops` more work.
  void work(int tid, double flops) {
    if (tid != 0 || cancel_ == nullptr) return;
    since_ += flops;
    if (since_ < kPollFlops) return;
    since_ = 0;
    if (cancel_->requested(cancel_->ctx)) stop_.store(true, std::memory_order_relaxed);
  }
  bool stopped() const { return stop_.load(std::memory_order_relaxed); }

 private:
  const CancelPoll* const cancel_;
  double since_ = 0;  // thread 0's only
  std::atomic<bool> stop_{false};
};

// C's rows [r0, r1) (+)= alpha op(A) times packed panels Bp, over N columns at C (one thread's part of a product).
// With a stopper, a part of over 5 kSlabFlops runs in slabs of whole 72-row blocks (gemm_packed's MC) of at least
// kSlabFlops with a poll between them (each row's arithmetic is the same either way).
void packed_rows(int tid, bool transA, int r0, int r1, int N, int K, float alpha, const float* A, int lda,
                 const float* Bp, float* C, int ldc, Stopper* stop) {
  const Isa& k = isa();
  const double row_flops = 2.0 * N * K;
  const int slab = stop && (r1 - r0) * row_flops > 5 * kSlabFlops
                       ? 72 * std::max(1, static_cast<int>(kSlabFlops / (72 * row_flops)))
                       : r1 - r0;
  for (int r = r0; r < r1 && !(stop && stop->stopped()); r += slab) {
    const int m = std::min(slab, r1 - r);
    const float* a = transA ? A + r : A + static_cast<size_t>(r) * lda;
    k.gemm_packed(transA, m, N, K, alpha, a, lda, Bp, C + static_cast<size_t>(r) * ldc, ldc);
    if (stop) stop->work(tid, m * row_flops);
  }
}

// One thread's share of C[M,N] (+)= alpha op(A) op(B) inside a parallel region: the threads first pack the
// columns of op(B) they own into the shared buffer Bp, wait, then each computes its own rows of C.
void gemm_part(int tid, int n, SpinBarrier& barrier, bool transA, bool transB, int M, int N, int K, float alpha,
               const float* A, int lda, const float* B, int ldb, float* Bp, float* C, int ldc,
               Stopper* stop = nullptr) {
  const Isa& k = isa();
  int j0, j1;
  split_range(N, n, tid, k.nr, &j0, &j1);
  if (j1 > j0 && !(stop && stop->stopped())) {
    const float* src = transB ? B + static_cast<size_t>(j0) * ldb : B + j0;
    k.pack_b(transB, K, j1 - j0, src, ldb, Bp + static_cast<size_t>(j0 / k.nr) * k.nr * K);
  }
  barrier.wait();
  int i0, i1;
  split_range(M, n, tid, 1, &i0, &i1);
  packed_rows(tid, transA, i0, i1, N, K, alpha, A, lda, Bp, C, ldc, stop);
}

// C's rows [r0, r1) and columns [c0, c1) before the product: each row a copy of init's columns when init is given,
// else beta C (beta 0 writes zeros, never reading C).
void prepare_c(int r0, int r1, int c0, int c1, float beta, const float* init, float* C, int ldc) {
  for (int i = r0; i < r1; i++) {
    float* c = C + static_cast<size_t>(i) * ldc;
    if (init) std::memcpy(c + c0, init + c0, (c1 - c0) * sizeof(float));
    else if (beta == 0.0f) std::fill(c + c0, c + c1, 0.0f);
    else if (beta != 1.0f) for (int j = c0; j < c1; j++) c[j] *= beta;
  }
}

// One thread's columns of C for every row, when C has fewer rows than columns (a weight gradient dW = dyᵀ x with
// few outputs): the thread packs only its own panels of op(B) and needs no other thread's, so no barrier, and
// every row keeps the micro-tiles of a one-thread product (the same bits on any thread count).
void gemm_cols(int tid, int n, bool transA, bool transB, int M, int N, int K, float alpha, const float* A, int lda,
               const float* B, int ldb, float* Bp, float* C, int ldc, float beta, const float* init,
               Stopper* stop) {
  const Isa& k = isa();
  int j0, j1;
  split_range(N, n, tid, k.nr, &j0, &j1);
  if (j1 <= j0) return;
  prepare_c(0, M, j0, j1, beta, init, C, ldc);
  if (K <= 0 || alpha == 0.0f || (stop && stop->stopped())) return;
  float* bp = Bp + static_cast<size_t>(j0 / k.nr) * k.nr * K;
  k.pack_b(transB, K, j1 - j0, transB ? B + static_cast<size_t>(j0) * ldb : B + j0, ldb, bp);
  packed_rows(tid, transA, 0, M, j1 - j0, K, alpha, A, lda, bp, C + j0, ldc, stop);
}

// One row of C (M == 1: a Linear on one step of one sequence, a decoder's next token) without packing, which would
// copy all of B to read it once: each thread takes a range of C's columns (whole cache lines) and reads its part
// of B once, as dot products along B's rows when B is given as N x K (transB: a Linear's weight), else adding
// B's rows into its columns of C (axpy). Each element is one thread's, in a fixed order: the same bits on any
// thread count (not the packed product's: its sums run in another order).
void gemm_row(int tid, int n, bool transB, int N, int K, float alpha, const float* a, const float* B, int ldb,
              float* c, float beta, const float* init, Stopper* stop) {
  const Isa& k = isa();
  int j0, j1;
  split_range(N, n, tid, 16, &j0, &j1);
  if (j1 <= j0) return;
  prepare_c(0, 1, j0, j1, beta, init, c, N);
  constexpr int kPollEvery = 64;  // dots or rows between two polls of a stopper
  if (transB) {
    for (int j = j0; j < j1; j++) {
      c[j] += alpha * k.dot(K, a, B + static_cast<size_t>(j) * ldb);
      if (stop && (j - j0) % kPollEvery == kPollEvery - 1) {
        stop->work(tid, 2.0 * kPollEvery * K);
        if (stop->stopped()) return;
      }
    }
  } else {
    for (int q = 0; q < K; q++) {
      k.axpy(j1 - j0, alpha * a[q], B + static_cast<size_t>(q) * ldb + j0, c + j0);
      if (stop && q % kPollEvery == kPollEvery - 1) {
        stop->work(tid, 2.0 * kPollEvery * (j1 - j0));
        if (stop->stopped()) return;
      }
    }
  }
}

}  // namespace

bool sgemm(bool transA, bool transB, int M, int N, int K, float alpha, const float* A, int lda,
           const float* B, int ldb, float beta, float* C, int ldc, const CancelPoll* cancel,
           const float* row_init) {
  if (M <= 0 || N <= 0) return true;
  const Isa& k = isa();
  const bool product = K > 0 && alpha != 0.0f;
  Stopper stop(cancel);
  Stopper* st = cancel ? &stop : nullptr;
  if (M == 1 && product) {  // one row: unpacked (gemm_row), its op(A) row gathered when A is transposed
    const float* a = A;
    thread_local FloatBuf arow;
    if (transA && lda != 1) {
      float* g = grow(arow, K);
      for (int q = 0; q < K; q++) g[q] = A[static_cast<size_t>(q) * lda];
      a = g;
    }
    const int nt = threads_for(2.0 * N * K, (N + 15) / 16);
    ThreadPool::get().run(nt, [&](int tid, int n) {
      gemm_row(tid, n, transB, N, K, alpha, a, B, ldb, C, beta, row_init, st);
    });
    return !stop.stopped();
  }
  // Columns when there are fewer rows than columns (gemm_cols), else rows after a shared packing (gemm_part).
  const bool by_cols = M < N;
  const int blocks = by_cols ? (N + k.nr - 1) / k.nr : M;
  // Without a product only C's preparation is left: threaded by its size alone.
  const int nt = product ? threads_for(2.0 * M * N * K, blocks) : threads_for(static_cast<double>(M) * N, blocks);
  thread_local FloatBuf bpack;
  float* bp = product ? grow(bpack, k.packed_b_floats(K, N)) : nullptr;
  SpinBarrier barrier(nt);
  ThreadPool::get().run(nt, [&](int tid, int n) {
    if (by_cols) {
      gemm_cols(tid, n, transA, transB, M, N, K, alpha, A, lda, B, ldb, bp, C, ldc, beta, row_init, st);
      return;
    }
    int i0, i1;
    split_range(M, n, tid, 1, &i0, &i1);
    prepare_c(i0, i1, 0, N, beta, row_init, C, ldc);  // the rows this thread computes below
    if (product) gemm_part(tid, n, barrier, transA, transB, M, N, K, alpha, A, lda, B, ldb, bp, C, ldc, st);
  });
  return !stop.stopped();
}

// Forward (native/KERNELS.md, "Packed layout" and "Threads"): the hidden units are cut into chunks of one
// micro-panel (nr units); W_ih and W_hh are packed chunk by chunk, the G gates of a chunk side by side, so a
// thread that owns a range of chunks owns one contiguous range of panels and all G gates of its units. Per
// step it runs one GEMM over its panels (batch 1: gemv_chunk over W_hh laid out by rows), accumulating h_prev
// W_hhᵀ straight into the pre-activations (which start as b_ih + b_hh and the input projection), and the gate
// math of each chunk as soon as its G panels are done. One barrier per step: every unit of h_t is written before any thread reads it.
namespace {

// Packed input and recurrent weights of one layer direction, for inference, with a copy of the weights they
// were packed from. Every call checks, thread by thread, that the rows of W_ih and W_hh it uses are still
// byte-identical to the copy (so weights changed in place by an optimizer or through a kept view are never
// served stale) and repacks its own panels where they are not. Comparing costs a fraction of packing, which
// dominates short calls such as one token at a time, and runs in parallel like the packing.
struct PackedCell {
  const float* wih;
  const float* whh;
  int kind, I, H;
  std::mutex busy;     // held by the call using the entry
  bool fresh = true;   // nothing packed yet
  bool rows1 = false;  // hh1 holds hh laid out by rows (batch 1: pack_rows1), up to date with hh
  std::vector<float> src_ih, src_hh;  // the weights packed from (compared, never streamed)
  FloatBuf ih, hh, hh1;
};

// A few recently used packings (layers of a model, both directions). Entries are shared so that a call on one
// thread keeps its packing alive even if another thread evicts it.
std::mutex g_pack_mu;
std::list<std::shared_ptr<PackedCell>> g_packs;
constexpr size_t kMaxPacks = 16;

// The entry for these weights (made if new), locked for this call in *hold; null when another call is using it
// (that call then packs privately).
std::shared_ptr<PackedCell> take_pack(const CellInputs& in, size_t nih, size_t nhh, size_t packed_ih,
                                      size_t packed_hh, std::unique_lock<std::mutex>* hold) {
  std::shared_ptr<PackedCell> hit;
  {
    std::lock_guard<std::mutex> lock(g_pack_mu);
    for (auto it = g_packs.begin(); it != g_packs.end(); ++it) {
      const PackedCell& p = **it;
      if (p.wih == in.wih && p.whh == in.whh && p.kind == in.kind && p.I == in.I && p.H == in.H) {
        hit = *it;
        g_packs.erase(it);
        break;
      }
    }
    if (!hit) {
      hit = std::make_shared<PackedCell>();
      hit->wih = in.wih;
      hit->whh = in.whh;
      hit->kind = in.kind;
      hit->I = in.I;
      hit->H = in.H;
      hit->src_ih.resize(nih);
      hit->src_hh.resize(nhh);
      hit->ih.resize(packed_ih);
      hit->hh.resize(packed_hh);
    }
    g_packs.push_front(hit);
    while (g_packs.size() > kMaxPacks) g_packs.pop_back();
  }
  std::unique_lock<std::mutex> lock(hit->busy, std::try_to_lock);
  if (!lock.owns_lock()) return nullptr;
  *hold = std::move(lock);
  return hit;
}

// Only when the forward kernel runs repeatedly on the same weights does caching pay: inference (no workspace).
constexpr size_t kMaxPackFloats = size_t{1} << 26;  // 256 MiB of weights per entry at most (batch 1 keeps W_hh twice)

// Rows of the input projection computed at once: the pre-activation buffer holds ceil(kChunkRows / B) steps,
// not all T (for T=100, B=32, H=512 LSTM that is 1 MiB instead of 26 MiB) and stays in L2 (512 rows, 4 MiB,
// were no faster: native/KERNELS.md, "History (native)").
constexpr int kChunkRows = 128;

// What the gate math of one step needs; step_done runs it for one chunk of units when its panels are done.
struct StepCtx {
  int kind, H, G;
  int chunk;    // the chunk of hidden units whose panels are being computed
  size_t ld;    // row stride of pre
  float* pre;   // this step's pre-activations, row 0
  const float* h_prev;
  const float* c_prev;
  float* h;
  float* c;
  float* gates;
  float* ghn;
};

// Per-step work sharing. The cores of a virtual machine often run at different speeds from moment to moment
// (a busy neighbour sharing the physical core, say), so with a fixed split one thread often waits at the
// barrier for a large part of the call (native/KERNELS.md, "History (native)"). So the chunks a thread owns are
// claimed one at a time, and a thread that is done with its own claims the chunks another thread has not
// started yet (batch 1 excepted: cell_forward). A thread's counter holds the step it is open for (high half, step + 1, set once the owner's input
// projection for the step is written) and how many of its chunks are claimed (low half). A chunk's arithmetic
// is the same whichever thread does it.
struct alignas(64) Claim {
  std::atomic<uint64_t> next{0};
};

inline uint64_t claim_tag(int s) { return static_cast<uint64_t>(s + 1) << 32; }

std::atomic<uint64_t> g_shared_chunks{0};  // chunks computed by a thread other than their owner
std::atomic<int> g_last_batch_groups{1};     // last_batch_groups()

#ifdef RNNKIT_TEST_HOOKS
// The test-hooks addon only (CMakeLists.txt; src/backend/native.ts loads it when RNNKIT_TEST_LAG_US is set):
// RNNKIT_TEST_LAG_US=n makes thread 0 pause n microseconds before each chunk of its own, so that another thread
// takes over the rest of them (test/forward-threads.test.ts; at batch 1 none does); RNNKIT_TEST_SOLO_LAG_US=n makes a call on one thread
// pause n microseconds before each chunk (a slow lone core), so that the back-off's measuring call on more threads
// is faster whatever else this machine runs (test/thread-choice.test.ts). Read at every chunk, by thread 0 (the
// JavaScript thread, the only one that sets the environment), so that a test can change them between calls.
// The release addon has no trace of them.
void lag_own_chunk(int tid, int n) {
  if (tid != 0) return;
  const char* s = std::getenv(n > 1 ? "RNNKIT_TEST_LAG_US" : "RNNKIT_TEST_SOLO_LAG_US");
  const int lag = s ? std::max(0, std::atoi(s)) : 0;
  if (lag > 0) std::this_thread::sleep_for(std::chrono::microseconds(lag));
}
#else
inline void lag_own_chunk(int, int) {}
#endif

// The next unclaimed chunk (0-based, < n) of a counter open for step s, or -1.
inline int claim(std::atomic<uint64_t>& c, int s, int n) {
  uint64_t v = c.load(std::memory_order_acquire);
  while ((v >> 32) == static_cast<uint64_t>(s + 1) && static_cast<int>(v & 0xffffffffu) < n) {
    if (c.compare_exchange_weak(v, v + 1, std::memory_order_acq_rel, std::memory_order_acquire)) {
      return static_cast<int>(v & 0xffffffffu);
    }
  }
  return -1;
}

// One step's chunks for thread tid of n: opens its own counter for step s, then computes its own chunks and,
// when `take_over`, those of the other threads not started yet, calling run(first chunk of the owner, its chunk
// count, q) for each claimed chunk q of an owner (the forward and the backward map q to a chunk their own way).
// Without take-over (every thread of the call alike) no other thread looks at the counters, so the thread runs
// its chunks in order without them: a claim is a locked compare-and-swap, which waits for the stores before it
// to drain and keeps the next chunk's loads from starting early (W1: 5% of the time, native/KERNELS.md).
template <class Run>
void run_claimed_chunks(Claim* claims, int tid, int n, int s, int chunks, bool take_over, Run&& run) {
  if (!take_over) {
    int oc0, oc1;
    split_range(chunks, n, tid, 1, &oc0, &oc1);
    for (int q = 0; q < oc1 - oc0; q++) {
      lag_own_chunk(tid, n);
      run(oc0, oc1 - oc0, q);
    }
    return;
  }
  claims[tid].next.store(claim_tag(s), std::memory_order_release);
  for (int o = 0; o < (take_over ? n : 1); o++) {
    const int owner = (tid + o) % n;
    int oc0, oc1;
    split_range(chunks, n, owner, 1, &oc0, &oc1);
    for (int q; (q = claim(claims[owner].next, s, oc1 - oc0)) >= 0;) {
      if (o > 0) g_shared_chunks.fetch_add(1, std::memory_order_relaxed);
      else lag_own_chunk(tid, n);
      run(oc0, oc1 - oc0, q);
    }
  }
}

void step_done(void* ctx, int r0, int r1, int panel) {
  const StepCtx& s = *static_cast<const StepCtx*>(ctx);
  const Isa& k = isa();
  const int ua = (s.chunk + panel / s.G) * k.nr, ub = std::min(s.H, ua + k.nr), rows = r1 - r0;
  const size_t o = static_cast<size_t>(r0) * s.H;
  const float* pre = s.pre + r0 * s.ld;
  switch (s.kind) {
    case kRnnTanh:
    case kRnnRelu:
      k.rnn_gates(s.kind == kRnnRelu, rows, s.H, ua, ub, pre, s.ld, s.h + o);
      break;
    case kLstm:
      k.lstm_gates(rows, s.H, ua, ub, pre, s.ld, s.c_prev + o, s.c + o, s.h + o, s.gates ? s.gates + 4 * o : nullptr);
      break;
    case kGru:
      k.gru_gates(rows, s.H, ua, ub, pre, s.ld, s.h_prev + o, s.h + o, s.gates ? s.gates + 3 * o : nullptr,
                  s.ghn ? s.ghn + o : nullptr);
      break;
  }
}

}  // namespace

uint64_t shared_chunks() { return g_shared_chunks.load(std::memory_order_relaxed); }
int last_batch_groups() { return g_last_batch_groups.load(std::memory_order_relaxed); }
uint64_t backoffs() { return backoff_stats().steps_down; }
uint64_t backoff_calls() { return backoff_stats().calls; }
#ifdef RNNKIT_TEST_HOOKS
bool test_hooks() { return true; }
#else
bool test_hooks() { return false; }
#endif

// The batch groups of a cell call on nt threads over B rows whose products have `cols` columns (pool.h). Groups
// only where every product involved sums in one chain per element (Isa::one_chain_rows): the recurrent product
// over all B rows or a group's, and the call's other product over the same rows (M: the forward's input
// projection over a block of steps' rows, the backward's nothing more: M = B); then a row's bits are the same
// in any group, and the result does not depend on the thread count.
// The test-hooks addon only: RNNKIT_TEST_BATCH_GROUPS=n asks for n groups whatever the rule says (where n
// divides nt and those products allow it), so that tests run groups on two threads and the device kit can time
// a many-core host with and without them.
namespace {
int batch_groups_for(int nt, int B, int M, int cols) {
  if (B < 2 || nt < 2) return 1;
  int pb = batch_groups(nt, B, cols);
  if (test_hooks()) {
    const char* e = std::getenv("RNNKIT_TEST_BATCH_GROUPS");
    const int n = e && *e ? std::atoi(e) : 0;
    if (n >= 1 && nt % n == 0 && n <= B) pb = n;
  }
  if (pb == 1) return 1;
  const Isa& k = isa();
  const bool ok = k.one_chain_rows(B) && k.one_chain_rows(M) && k.one_chain_rows(B / pb) &&
                  k.one_chain_rows((B + pb - 1) / pb);
  return ok ? pb : 1;
}

// The threads a cell call's work asks for (threads_for: its flops per step over independent blocks, the chunks of
// hidden units times the groups of kGroupRows batch rows), but no more than its batch groups (groups(n) for n
// threads) leave a chunk to every thread of a group. A small layer at a large batch so runs on threads that meet
// at no step at all (a group each), where the chunks alone kept it on one thread.
template <class Groups>
int cell_threads_wanted(double step_flops, int chunks, int B, Groups&& groups) {
  int want = threads_for(step_flops, chunks * std::max(1, B / kGroupRows));
  while (want > chunks && want / groups(want) > chunks) want--;
  return want;
}

// The forward's: its products also include the input projection over TC steps' rows (and the last T % TC), of
// all B rows or of a group's.
int forward_batch_groups(int nt, int T, int B, int TC, int cols) {
  const int g = batch_groups_for(nt, B, TC * B, cols);
  if (g == 1) return 1;
  const Isa& k = isa();
  for (int rows : {B, B / g, (B + g - 1) / g}) {
    if (!k.one_chain_rows(TC * rows) || (T % TC != 0 && !k.one_chain_rows(T % TC * rows))) return 1;
  }
  return g;
}
// A cell call's threads as pb groups of batch rows by pu groups of hidden units (pb * pu = nt; pool.h,
// batch_groups): what its work asks for (cell_threads_wanted), fewer while its shape is backed off. A count the
// back-off hands out (a halving, or its probe twice that) may leave a thread without a chunk once grouped (2
// threads whose two groups a product's tiles forbid, for a one-chunk layer that 3 groups run): the call runs on
// the next count up that does not (`want` does), and the back-off is told of the count it gave, so its probe is
// settled (run on fewer, a shape stayed on one thread for good: review, 2026-12-05). Each group's threads meet at
// their own barrier; `all` is every thread's (once, after the weights are packed, when grouped).
struct CellThreads {
  int want, given, nt, pb, pu;
  SpinBarrier all;
  std::deque<SpinBarrier> group;
  template <class Groups>
  static CellThreads make(uint64_t shape, double step_flops, int chunks, int B, Groups&& groups) {
    const int want = cell_threads_wanted(step_flops, chunks, B, groups);
    const int given = backed_off(shape, want);
    int nt = given, pb = groups(nt);
    for (; nt < want && nt / pb > chunks; pb = groups(nt)) nt++;
    if (B > 1) g_last_batch_groups.store(pb, std::memory_order_relaxed);
    return CellThreads(want, given, nt, pb);
  }
  // Nanoseconds all barriers were late (SpinBarrier::late_ns), what note_call is told.
  int64_t late_ns() const {
    int64_t ns = all.late_ns();
    for (const SpinBarrier& b : group) ns += b.late_ns();
    return ns;
  }

 private:
  CellThreads(int want_, int given_, int nt_, int pb_)
      : want(want_), given(given_), nt(nt_), pb(pb_), pu(nt_ / pb_), all(nt_) {
    for (int i = 0; i < pb; i++) group.emplace_back(pu);
  }
};
}  // namespace

bool cell_forward(const CellInputs& in, float* y, float* hT, float* cT, float* ws) {
  const Isa& k = isa();
  const int T = in.T, B = in.B, I = in.I, H = in.H, G = gates_of(in.kind), NR = k.nr;
  const bool gru = in.kind == kGru, lstm = in.kind == kLstm;
  const int blocks = gru ? 4 : G;  // column blocks of the pre-activations
  const size_t LD = static_cast<size_t>(blocks) * H;
  const size_t TB = static_cast<size_t>(T) * B, BH = static_cast<size_t>(B) * H;
  const int chunks = (H + NR - 1) / NR, np = chunks * G;
  const size_t pih = static_cast<size_t>(I) * NR, phh = static_cast<size_t>(H) * NR;  // floats per panel
  const int TC = std::max(1, std::min(T, (kChunkRows + B - 1) / B));
  thread_local FloatBuf pre_v, wih_v, whh_v, c_v, bias_v;
  thread_local std::vector<int> meta_v;
  float* pre = grow(pre_v, static_cast<size_t>(TC) * B * LD);
  float* cbuf = lstm ? grow(c_v, 2 * BH) : nullptr;

  const size_t nih = static_cast<size_t>(G) * H * I, nhh = static_cast<size_t>(G) * H * H;
  std::unique_lock<std::mutex> hold;
  std::shared_ptr<PackedCell> pack =
      ws == nullptr && nih + nhh <= kMaxPackFloats ? take_pack(in, nih, nhh, np * pih, np * phh, &hold) : nullptr;
  float* wip = pack ? pack->ih.data() : grow(wih_v, np * pih);
  float* whp = pack ? pack->hh.data() : grow(whh_v, np * phh);
  // Batch 1 reads W_hh laid out by rows (pack_rows1), kept beside the panels in a cached entry.
  thread_local FloatBuf whh1_v;
  float* wh1 = nullptr;
  if (B == 1) {
    if (pack && pack->hh1.size() < np * phh) {
      pack->hh1.resize(np * phh);
      pack->rows1 = false;
    }
    wh1 = pack ? pack->hh1.data() : grow(whh1_v, np * phh);
  }
  const bool rows1_ok = pack && pack->rows1;
  std::atomic<bool> repacked{false};  // some thread packed its panels again (hh1 is then stale there)

  // Biases as the pre-activations start: b_ih + b_hh per gate (GRU: b_in alone, b_hn in the fourth block).
  float* bias = grow(bias_v, LD);
  for (int g = 0; g < G; g++) {
    for (int u = 0; u < H; u++) bias[g * H + u] = in.bih[g * H + u] + (gru && g == 2 ? 0.0f : in.bhh[g * H + u]);
  }
  if (gru) std::memcpy(bias + 3 * H, in.bhh + 2 * H, H * sizeof(float));
  // Panel p = chunk * G + gate: its columns in the input projection, in the recurrent product, its width.
  meta_v.resize(3 * static_cast<size_t>(np));
  int* ih_cols = meta_v.data();
  int* hh_cols = ih_cols + np;
  int* widths = hh_cols + np;
  for (int c = 0; c < chunks; c++) {
    for (int g = 0; g < G; g++) {
      ih_cols[c * G + g] = g * H + c * NR;
      hh_cols[c * G + g] = (gru && g == 2 ? 3 : g) * H + c * NR;
      widths[c * G + g] = std::min(NR, H - c * NR);
    }
  }

  // Threads (CellThreads): a batch group's rows are sequences of their own, so only the pu threads of one batch
  // group meet at a step's end.
  const uint64_t shape = shape_key({ws ? 2 : 1, in.kind, B, I, H});
  CellThreads threads = CellThreads::make(shape, 2.0 * B * G * H * H, chunks, B,
                                          [&](int n) { return forward_batch_groups(n, T, B, TC, G * H); });
  const int nt = threads.nt, pb = threads.pb, pu = threads.pu;
  SpinBarrier& barrier = threads.all;
  std::vector<Claim> claims(nt);
  Stopper stop(in.cancel);
  // A step's work, all threads' together: thread 0 polls after every kPollFlops of the call's work.
  const double step_flops = 2.0 * B * G * H * (H + I);
  const auto started = std::chrono::steady_clock::now();

  ThreadPool::get().run(nt, [&](int tid_all, int) {
    thread_local FloatBuf apack_v;
    const int bg = tid_all / pu, tid = tid_all % pu, n = pu;  // batch group; place and count in it
    int rb0, rb1;  // this thread's batch rows
    split_range(B, pb, bg, 1, &rb0, &rb1);
    const int rows = rb1 - rb0;
    SpinBarrier& step_barrier = threads.group[bg];
    const size_t group_pre = static_cast<size_t>(rb0) * TC * LD;  // the group's rows of pre (floats in)
    thread_local FloatBuf xgroup_v;
    int chunk0, chunk1;  // this thread's chunks
    split_range(chunks, n, tid, 1, &chunk0, &chunk1);
    const int p0 = chunk0 * G, pn = (chunk1 - chunk0) * G;
    const int u0 = std::min(H, chunk0 * NR), u1 = std::min(H, chunk1 * NR), w = u1 - u0;
    // The weight rows this thread checks and packs: [g*H + q0, g*H + q1) of W_ih and W_hh for every gate g, its
    // share of all the chunks among all the threads (its own chunks without groups; with groups every thread
    // reads every chunk of its group's, so all pack and then wait for each other).
    int k0, k1;
    split_range(chunks, nt, tid_all, 1, &k0, &k1);
    const int q0 = std::min(H, k0 * NR), qw = std::min(H, k1 * NR) - q0;
    bool same = pack != nullptr && !pack->fresh;
    for (int g = 0; g < G && same && qw > 0; g++) {
      const size_t r0 = static_cast<size_t>(g) * H + q0;
      same = std::memcmp(pack->src_ih.data() + r0 * I, in.wih + r0 * I, qw * I * sizeof(float)) == 0 &&
             std::memcmp(pack->src_hh.data() + r0 * H, in.whh + r0 * H, qw * H * sizeof(float)) == 0;
    }
    if (!same) {
      for (int g = 0; g < G && pack && qw > 0; g++) {
        const size_t r0 = static_cast<size_t>(g) * H + q0;
        std::memcpy(pack->src_ih.data() + r0 * I, in.wih + r0 * I, qw * I * sizeof(float));
        std::memcpy(pack->src_hh.data() + r0 * H, in.whh + r0 * H, qw * H * sizeof(float));
      }
      for (int p = k0 * G; p < k1 * G; p++) {
        const size_t row = static_cast<size_t>(p % G) * H + static_cast<size_t>(p / G) * NR;  // first weight row
        k.pack_b(true, I, widths[p], in.wih + row * I, I, wip + p * pih);
        k.pack_b(true, H, widths[p], in.whh + row * H, H, whp + p * phh);
      }
      repacked.store(true, std::memory_order_relaxed);
    }
    if (wh1 && qw > 0 && (!same || !rows1_ok)) k.pack_rows1(G, H, whp, k0, k1, wh1);  // (batch 1: k0 = chunk0)
    if (pb > 1) barrier.wait();  // every panel is packed before any batch group reads it
    Claim* const group_claims = claims.data() + static_cast<size_t>(bg) * pu;
    StepCtx ctx{in.kind, H, G, chunk0, LD, nullptr, nullptr, nullptr, nullptr, nullptr, nullptr, nullptr};
    float* apack = grow(apack_v, static_cast<size_t>(B) * H);  // h_prev packed once per step
    const float* h_prev = in.h0;
    const float* c_prev = in.c0;
    int lo = 0;  // position of pre's first row block
    for (int s = 0; s < T; s++) {
      if (stop.stopped()) {  // the rest of the steps' barriers, no work
        step_barrier.wait();
        continue;
      }
      if (s % TC == 0 && w > 0) {  // input projection for the next TC steps, this thread's columns
        const int cnt = std::min(TC, T - s);
        lo = in.reverse ? T - s - cnt : s;
        // The projection writes blocks 0..G-1 starting from the biases (init); GRU's fourth block (b_hn, which
        // the recurrent product adds W_hn h to) is copied in.
        // A group's rows of pre: its own block of TC * rows, step by step (group_pre); x's rows of the group's
        // batch rows are gathered for one product over all the block's steps (without groups x itself).
        float* gpre = pre + group_pre;
        for (int j = 0; j < cnt * rows && blocks > G; j++) {
          float* row = gpre + static_cast<size_t>(j) * LD;
          for (int g = G; g < blocks; g++) std::memcpy(row + g * H + u0, bias + g * H + u0, w * sizeof(float));
        }
        const float* xa = in.x + static_cast<size_t>(lo) * B * I;
        if (rows < B) {
          float* xg = grow(xgroup_v, static_cast<size_t>(cnt) * rows * I);
          for (int j = 0; j < cnt; j++) {
            std::memcpy(xg + static_cast<size_t>(j) * rows * I, xa + (static_cast<size_t>(j) * B + rb0) * I,
                        static_cast<size_t>(rows) * I * sizeof(float));
          }
          xa = xg;
        }
        k.gemm_panels(cnt * rows, I, xa, I, false, wip + p0 * pih, pn, ih_cols + p0, widths + p0, gpre,
                      static_cast<int>(LD), G, false, nullptr, nullptr, bias);
      }
      const int t = pos(in, s);
      float* ht = y + t * BH;
      float* ct = lstm ? (ws ? ws + 4 * TB * H + t * BH : cbuf + (s & 1) * BH) : nullptr;
      // every pointer at the batch group's first row
      const size_t rh = static_cast<size_t>(rb0) * H;
      ctx.pre = pre + group_pre + static_cast<size_t>(t - lo) * rows * LD;
      ctx.h_prev = h_prev + rh;
      ctx.c_prev = c_prev ? c_prev + rh : nullptr;
      ctx.h = ht + rh;
      ctx.c = ct ? ct + rh : nullptr;
      ctx.gates = ws ? ws + t * G * BH + G * rh : nullptr;
      ctx.ghn = gru && ws ? ws + 3 * TB * H + t * BH + rh : nullptr;
      // The recurrent product and gate math, chunk by chunk: this thread's own chunks first (alternating
      // direction step to step, so a step starts on the weights the last one read most recently), then, above
      // batch 1, any chunk of another thread that it has not started yet (claims, above).
      const bool rev = (s & 1) != 0;
      if (!wh1) k.pack_a_panels(rows, H, h_prev + rh, H, apack);  // batch 1 reads h_prev itself (one row: no packing)
      // Batch 1: h_prev's cache lines fetched all at once (half of them the other thread wrote last step, so they
      // come from its core): each chunk's product reads h_prev in order, and a miss on every 64 bytes of it
      // stalled the first chunk (perf: the instructions after its broadcasts; W1 5-10% faster, KERNELS.md).
      if (wh1) {
        for (int u = 0; u < H; u += 64 / static_cast<int>(sizeof(float))) __builtin_prefetch(h_prev + u);
      }
      // (above batch 1 the counter opens once this step's projection is written)
      // Batch 1 keeps every chunk with its owner, without the counters: a row times the weights reads each weight
      // once, from the owner's L2, and looking into the other counters costs the owners their cache lines (W1
      // 5-6% faster without taking over: native/KERNELS.md, "History (native)"); a slow thread backs the shape
      // off instead.
      run_claimed_chunks(group_claims, tid, n, s, chunks, B > 1, [&](int oc0, int count, int q) {
        const int c = rev ? oc0 + count - 1 - q : oc0 + q;
        ctx.chunk = c;
        if (wh1) {  // batch 1: the chunk's rows of W_hh, then its gate math
          float* cs[4];
          for (int g = 0; g < G; g++) cs[g] = ctx.pre + hh_cols[c * G + g];
          k.gemv_chunk(G, H, h_prev, wh1 + static_cast<size_t>(c) * G * phh, cs, widths + c * G);
          step_done(&ctx, 0, 1, 0);
        } else {
          k.gemm_panels(rows, H, apack, H, true, whp + static_cast<size_t>(c) * G * phh, G, hh_cols + c * G,
                        widths + c * G, ctx.pre, static_cast<int>(LD), G, rev, step_done, &ctx, nullptr);
        }
      });
      if (lstm) c_prev = ct;
      h_prev = ht;
      stop.work(tid_all, step_flops);
      step_barrier.wait();  // every unit of the group's rows of h_t is written before any of its threads reads it
    }
    for (int b = rb0; b < rb1 && w > 0 && !stop.stopped(); b++) {
      std::memcpy(hT + b * H + u0, h_prev + b * H + u0, w * sizeof(float));
      if (lstm) std::memcpy(cT + b * H + u0, c_prev + b * H + u0, w * sizeof(float));
    }
  });
  note_call(shape, threads.want, threads.given, threads.late_ns(), started, step_flops * T);
  // A stopped call packed all of its panels before its first step, so the packing is complete either way.
  if (pack) {
    pack->fresh = false;
    if (B == 1) pack->rows1 = true;
    else if (repacked.load(std::memory_order_relaxed)) pack->rows1 = false;
  }
  return !stop.stopped();
}

// Backward splits the hidden units the same way: a thread computes the gate gradients of its units, waits
// for everyone's (the recurrent GEMM reads all gates), then its columns of dh_prev = dgh W_hh, one chunk (micro-
// panel) at a time, claimed like the forward's: a thread done with its own chunks takes the ones another has not
// started, so a slow core does not hold up the step (a second barrier then, before the next step's gate
// gradients read dh_prev). Every thread packs dgh_t once per step; a chunk is computed the same way by any
// thread (one thread runs one plain GEMM instead: the last bits can differ from two threads'). The weight
// gradients are GEMMs over all steps afterwards, split by rows.
bool cell_backward(const CellInputs& in, const float* y, const float* ws, const float* dy, const float* dhT,
                   const float* dcT, float* dx, float* dh0, float* dc0, float* dwih, float* dwhh, float* dbih,
                   float* dbhh) {
  const Isa& k = isa();
  const int T = in.T, B = in.B, I = in.I, H = in.H, G = gates_of(in.kind), GH = G * H, NR = k.nr;
  const size_t TB = static_cast<size_t>(T) * B, BH = static_cast<size_t>(B) * H;
  thread_local FloatBuf dgi_v, dgh_v, hprev_v, dh_v, dc_v, whh_v, wih_v, xp_v, hp_v;

  float* dgi = grow(dgi_v, TB * GH);
  float* dgh = in.kind == kGru ? grow(dgh_v, TB * GH) : dgi;  // the same for every cell but GRU
  float* Hprev = grow(hprev_v, TB * H);                       // state before each position's step
  float* dh = grow(dh_v, 2 * BH);                              // [2][B,H]: current and next
  float* dc = in.kind == kLstm ? grow(dc_v, BH) : nullptr;
  float* whh_p = grow(whh_v, k.packed_b_floats(GH, H));
  float* wih_p = grow(wih_v, k.packed_b_floats(GH, I));
  float* x_p = grow(xp_v, k.packed_b_floats(static_cast<int>(TB), I));
  float* hprev_p = grow(hp_v, k.packed_b_floats(static_cast<int>(TB), H));
  const float* lstm_c = ws ? ws + 4 * TB * H : nullptr;
  const float* gru_n = ws ? ws + 3 * TB * H : nullptr;
  const int chunks = (H + NR - 1) / NR;
  std::vector<int> chunk_cols(chunks), chunk_widths(chunks);  // the product's panels: first column, width
  for (int c = 0; c < chunks; c++) {
    chunk_cols[c] = c * NR;
    chunk_widths[c] = std::min(NR, H - c * NR);
  }
  // Batch groups as the forward's (pool.h): here a thread copies all gates' gradients dgh_t of its rows (G*H
  // floats a row) for H / (its group's threads) columns of dh_prev, so the columns are the H units. A group of one
  // thread runs the threaded path too (the same bits as without groups).
  const uint64_t shape = shape_key({3, in.kind, B, I, H});
  CellThreads threads = CellThreads::make(shape, 2.0 * B * GH * H, chunks, B,
                                          [&](int n) { return batch_groups_for(n, B, B, H); });
  const int nt = threads.nt, pb = threads.pb, pu = threads.pu;
  SpinBarrier& barrier = threads.all;
  std::vector<Claim> claims(nt);
  Stopper stop(in.cancel);
  const double step_flops = 2.0 * B * GH * H;
  const auto started = std::chrono::steady_clock::now();

  ThreadPool::get().run(nt, [&](int tid_all, int n_all) {
    thread_local FloatBuf apack_v;
    const int bg = tid_all / pu, tid = tid_all % pu, n = pu;  // batch group; place and count in it
    int rb0, rb1;  // this thread's batch rows
    split_range(B, pb, bg, 1, &rb0, &rb1);
    const int rows = rb1 - rb0;
    const size_t rh = static_cast<size_t>(rb0) * H;  // the group's first row in [B, H] and (times G) [B, GH]
    SpinBarrier& step_barrier = threads.group[bg];
    Claim* const group_claims = claims.data() + static_cast<size_t>(bg) * pu;
    // dgh_t packed once per step (threads; one thread alone runs one GEMM instead)
    float* apack = n_all > 1 ? grow(apack_v, static_cast<size_t>(rows) * GH) : nullptr;
    int u0, u1;
    split_range(H, n, tid, NR, &u0, &u1);
    const int w = u1 - u0;
    {  // W_hh packed by all threads, a share of its columns each (with groups all read all of it, after a barrier)
      int q0, q1;
      split_range(H, n_all, tid_all, NR, &q0, &q1);
      if (q1 > q0) k.pack_b(false, GH, q1 - q0, in.whh + q0, H, whh_p + static_cast<size_t>(q0) * GH);
    }
    if (pb > 1) barrier.wait();  // every panel is packed before any group reads it
    for (int b = rb0; b < rb1 && w > 0; b++) {
      std::memcpy(dh + ((T - 1) & 1) * BH + b * H + u0, dhT + b * H + u0, w * sizeof(float));  // slot step T-1 reads
      if (dc) std::memcpy(dc + b * H + u0, dcT + b * H + u0, w * sizeof(float));
    }
    for (int s = T - 1; s >= 0; s--) {
      if (stop.stopped()) {  // the rest of the steps' barriers (one with one thread, else two), no work
        step_barrier.wait();
        if (n_all > 1) step_barrier.wait();
        continue;
      }
      const int t = pos(in, s);
      const int tp = s > 0 ? pos(in, s - 1) : -1;
      const float* hp = tp >= 0 ? y + tp * BH : in.h0;
      float* dcur = dh + (s & 1) * BH;         // dL/dh at this step's output (before adding dy)
      float* dnext = dh + ((s & 1) ^ 1) * BH;  // becomes dL/dh_prev
      const float* dyt = dy + t * BH;
      float* gi_t = dgi + t * B * static_cast<size_t>(GH);
      float* gh_t = dgh + t * B * static_cast<size_t>(GH);
      if (w > 0) {  // the group's rows (every pointer at its first row)
        for (int b = rb0; b < rb1; b++) std::memcpy(Hprev + t * BH + b * H + u0, hp + b * H + u0, w * sizeof(float));
        switch (in.kind) {
          case kRnnTanh:
          case kRnnRelu:
            k.rnn_grads(in.kind == kRnnRelu, rows, H, u0, u1, y + t * BH + rh, dcur + rh, dyt + rh, gi_t + G * rh,
                        dnext + rh);
            break;
          case kLstm:
            k.lstm_grads(rows, H, u0, u1, ws + t * 4 * BH + 4 * rh, lstm_c + t * BH + rh,
                         (tp >= 0 ? lstm_c + tp * BH : in.c0) + rh, dcur + rh, dyt + rh, dc + rh, gi_t + 4 * rh,
                         dnext + rh);
            break;
          case kGru:
            k.gru_grads(rows, H, u0, u1, ws + t * 3 * BH + 3 * rh, gru_n + t * BH + rh, hp + rh, dcur + rh, dyt + rh,
                        gi_t + 3 * rh, gh_t + 3 * rh, dnext + rh);
            break;
        }
      }
      stop.work(tid_all, step_flops);
      step_barrier.wait();  // every gate gradient of step t (of the group's rows) is written
      // dh_prev[:, u0:u1) += dgh_t W_hh[:, u0:u1)  ([B, GH] x [GH, w]). One thread: one GEMM over all columns,
      // which measured faster than gemm_panels chunk by chunk (native/KERNELS.md, "History (native)").
      if (n_all == 1) {
        k.gemm_packed(false, B, w, GH, 1.0f, gh_t, GH, whh_p, dnext, H);
        continue;
      }
      // Threads: chunk by chunk, own chunks first, then the ones another thread of the group has not started.
      k.pack_a_panels(rows, GH, gh_t + G * rh, GH, apack);
      run_claimed_chunks(group_claims, tid, n, s, chunks, true, [&](int oc0, int, int q) {
        const int c = oc0 + q;
        k.gemm_panels(rows, GH, apack, GH, true, whh_p + static_cast<size_t>(c) * NR * GH, 1, &chunk_cols[c],
                      &chunk_widths[c], dnext + rh, H, 1, false, nullptr, nullptr, nullptr);
      });
      step_barrier.wait();  // all of dh_prev (the group's rows) is written before the next step's gradients read it
    }
    for (int b = rb0; b < rb1 && w > 0 && !stop.stopped(); b++) {
      std::memcpy(dh0 + b * H + u0, dh + BH + b * H + u0, w * sizeof(float));  // step 0 wrote its dnext into slot 1
      if (dc) std::memcpy(dc0 + b * H + u0, dc + b * H + u0, w * sizeof(float));
    }
    barrier.wait();  // all of dgi, dgh and Hprev are complete

    // Input and weight gradients over all steps at once, on all threads.
    gemm_part(tid_all, n_all, barrier, false, false, static_cast<int>(TB), I, GH, 1.0f, dgi, GH, in.wih, I, wih_p, dx, I, &stop);
    gemm_part(tid_all, n_all, barrier, true, false, GH, I, static_cast<int>(TB), 1.0f, dgi, GH, in.x, I, x_p, dwih, I, &stop);
    gemm_part(tid_all, n_all, barrier, true, false, GH, H, static_cast<int>(TB), 1.0f, dgh, GH, Hprev, H, hprev_p, dwhh, H,
              &stop);
    if (stop.stopped()) return;
    int j0, j1;
    split_range(GH, n_all, tid_all, 1, &j0, &j1);
    for (size_t r = 0; r < TB; r++) {
      const float* gi_r = dgi + r * GH;
      const float* gh_r = dgh + r * GH;
      for (int j = j0; j < j1; j++) {
        dbih[j] += gi_r[j];
        dbhh[j] += gh_r[j];
      }
    }
  });
  // the loop's work and the weight-gradient GEMMs' (dx, dW_ih, dW_hh)
  note_call(shape, threads.want, threads.given, threads.late_ns(), started, step_flops * T + 2.0 * T * B * GH * (2.0 * I + H));
  return !stop.stopped();
}

}  // namespace rnnkit
