// Cell forward/backward over a whole sequence batch, one layer and one direction (native/KERNELS.md), and
// the GEMM they are built on. Sizes: T time, B batch, I input, H hidden, G gates.
#pragma once
#include <cstddef>
#include <cstdint>

namespace rnnkit {

enum CellKind { kRnnTanh = 0, kRnnRelu = 1, kLstm = 2, kGru = 3 };

int gates_of(int kind);
size_t workspace_floats(int kind, int T, int B, int H);

// How a long call learns that its result is no longer wanted (Node is stopping the calling thread's environment:
// worker.terminate(), process exit). requested(ctx) is called on the calling thread only, between steps, about
// every few milliseconds of work; once it returns true the call stops early and returns false.
struct CancelPoll {
  bool (*requested)(void* ctx);
  void* ctx;
};

struct CellInputs {
  int kind, T, B, I, H;
  bool reverse;
  const CancelPoll* cancel;  // or null
  const float* x;    // [T,B,I]
  const float* h0;   // [B,H]
  const float* c0;   // [B,H] LSTM only
  const float* wih;  // [G*H,I]
  const float* whh;  // [G*H,H]
  const float* bih;  // [G*H]
  const float* bhh;  // [G*H]
};

// y [T,B,H], hT/cT [B,H]; ws (workspace_floats) or null for inference. The result does not depend on the
// number of threads or on which thread computed which hidden units. False when in.cancel stopped it early (the
// outputs are then incomplete).
bool cell_forward(const CellInputs& in, float* y, float* hT, float* cT, float* ws);

// Threads worth using for `flops` of work (per step for recurrences) split into `blocks` independent parts, from
// the work alone (pool.h threads_by_work: at least 1e5 flops and one block a thread, at most the pool's size); the
// cell calls then apply their shape's back-off (pool.h).
int threads_for(double flops, int blocks);

// Chunks of hidden units that cell_forward's and cell_backward's threads took over from a slower thread, since
// the process began.
uint64_t shared_chunks();
// Batch groups (pool.h batch_groups) the latest multi-row cell_forward or cell_backward ran its threads in.
int last_batch_groups();
// Back-offs to one thread started (slow barriers), and the calls they sent to one thread.
uint64_t backoffs();
uint64_t backoff_calls();
// Whether this is the test-hooks addon (built with RNNKIT_TEST_HOOKS: it honours RNNKIT_TEST_LAG_US).
bool test_hooks();

// dy [T,B,H], dhT/dcT [B,H]; dx, dwih, dwhh, dbih, dbhh accumulate; dh0/dc0 are overwritten. False when
// in.cancel stopped it early (the outputs, accumulated ones included, are then incomplete).
bool cell_backward(const CellInputs& in, const float* y, const float* ws, const float* dy, const float* dhT,
                   const float* dcT, float* dx, float* dh0, float* dc0, float* dwih, float* dwhh, float* dbih,
                   float* dbhh);

// C[M,N] = alpha op(A) op(B) + beta C, row-major with leading dimensions. beta == 0 never reads C. With
// row_init (N floats), every row of C starts as row_init instead (beta is then ignored): a bias. False when
// `cancel` stopped it early (C is then incomplete). test/sgemm.test.ts checks it against a float64 reference.
// With fewer rows than columns, the result has the same bits on any thread count.
bool sgemm(bool transA, bool transB, int M, int N, int K, float alpha, const float* A, int lda,
           const float* B, int ldb, float beta, float* C, int ldc, const CancelPoll* cancel = nullptr,
           const float* row_init = nullptr);

}  // namespace rnnkit
