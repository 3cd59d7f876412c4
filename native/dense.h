// Dense operations a training step needs besides the cells (native/KERNELS.md, "Dense operations").
#pragma once
#include <cstddef>

namespace rnnkit {

struct CancelPoll;

// y[N,O] = x[N,I] w[O,I]ᵀ + b[O]. False when `cancel` stopped it early (y is then incomplete).
bool linear_forward(int N, int I, int O, const float* x, const float* w, const float* b, float* y,
                    const CancelPoll* cancel = nullptr);
// dx[N,I] = dy w (overwritten, skipped when null); dw[O,I] += dyᵀ x; db[O] += Σ dy. False when `cancel` stopped it
// early (the outputs are then incomplete).
bool linear_backward(int N, int I, int O, const float* x, const float* w, const float* dy, float* dx, float* dw,
                     float* db, const CancelPoll* cancel = nullptr);
// Σ -log softmax(logits)[target] over rows with a target in [0, C); dlogits = scale (softmax - onehot).
double softmax_cross_entropy(int N, int C, const float* logits, const float* targets, float* dlogits, float scale);
void embedding_forward(int N, int D, int V, const float* ids, const float* table, float* out);
void embedding_backward(int N, int D, int V, const float* ids, const float* dout, float* dtable);
void adam_step(size_t n, float* p, const float* g, float* m, float* v, float lr, float beta1, float beta2, float eps,
               float weight_decay, bool decoupled, int step);
void sgd_step(size_t n, float* p, const float* g, float* buf, float lr, float momentum, float weight_decay,
              bool nesterov, bool first);
double sum_squares(size_t n, const float* x);
// Index of the first NaN or ±Infinity in x[n], or -1 when all are finite.
long long first_non_finite(size_t n, const float* x);
void scale(size_t n, float* x, float alpha);

}  // namespace rnnkit
