// N-API glue: argument checking and unwrapping, nothing else. Every buffer is a Float32Array whose length is
// checked against the sizes before a kernel runs, so a wrong length is an E_SHAPE error, never a stray read.
#include <napi.h>

#include <cstdint>
#include <memory>
#include <string>

#include "dense.h"
#include "isa.h"
#include "kernels.h"
#include "moves.h"
#include "pool.h"
#include "settings.h"

namespace {

using rnnkit::CellInputs;

[[noreturn]] void fail(Napi::Env env, const char* code, const std::string& msg) {
  Napi::Error e = Napi::Error::New(env, msg);
  e.Set("code", Napi::String::New(env, code));
  throw e;
}

int int_arg(const Napi::CallbackInfo& info, size_t i, const char* name, int lo, int hi) {
  if (!info[i].IsNumber()) fail(info.Env(), "E_ARGUMENT", std::string(name) + ": expected a number");
  const double v = info[i].As<Napi::Number>().DoubleValue();
  if (!(v >= lo && v <= hi) || static_cast<double>(static_cast<int64_t>(v)) != v) {
    fail(info.Env(), "E_ARGUMENT",
         std::string(name) + ": expected an integer in [" + std::to_string(lo) + ", " + std::to_string(hi) +
             "], found " + std::to_string(v));
  }
  return static_cast<int>(v);
}

// A Float32Array of at least `need` elements, or nullptr when `need == 0` and the value is null/undefined.
float* f32_arg(const Napi::CallbackInfo& info, size_t i, const char* name, size_t need) {
  Napi::Value v = info[i];
  if (need == 0 && (v.IsNull() || v.IsUndefined())) return nullptr;
  if (!v.IsTypedArray() || v.As<Napi::TypedArray>().TypedArrayType() != napi_float32_array) {
    fail(info.Env(), "E_DTYPE", std::string("kernel buffer ") + name + ": expected a Float32Array");
  }
  Napi::Float32Array a = v.As<Napi::Float32Array>();
  if (a.ElementLength() < need) {
    fail(info.Env(), "E_SHAPE",
         std::string("kernel buffer ") + name + ": expected at least " + std::to_string(need) +
             " floats, found " + std::to_string(a.ElementLength()));
  }
  return a.Data();
}

constexpr int kMaxDim = 1 << 28;
// Most floats T * B * max(I, G * H) of one recurrent call: MAX_CELL_FLOATS of src/backend/limits.ts, where the
// layers check it before they allocate a call's buffers; checked here again before the kernels allocate theirs.
constexpr size_t kMaxCellFloats = size_t{1} << 29;

CellInputs cell_inputs(const Napi::CallbackInfo& info) {
  CellInputs in{};
  in.kind = int_arg(info, 0, "kind", 0, 3);
  in.T = int_arg(info, 1, "T", 1, kMaxDim);
  in.B = int_arg(info, 2, "B", 1, kMaxDim);
  in.I = int_arg(info, 3, "I", 1, kMaxDim);
  in.H = int_arg(info, 4, "H", 1, kMaxDim);
  in.reverse = int_arg(info, 5, "reverse", 0, 1) != 0;
  const size_t T = in.T, B = in.B, I = in.I, H = in.H, GH = rnnkit::gates_of(in.kind) * H;
  if (T * B * (I > GH ? I : GH) > kMaxCellFloats) {
    fail(info.Env(), "E_ARGUMENT",
         "kernel sizes: T * B * max(I, G * H) = " + std::to_string(T * B * (I > GH ? I : GH)) + " floats, more than " +
             std::to_string(kMaxCellFloats) + " (2^29)");
  }
  const bool lstm = in.kind == rnnkit::kLstm;
  in.x = f32_arg(info, 6, "x", T * B * I);
  in.h0 = f32_arg(info, 7, "h0", B * H);
  in.c0 = f32_arg(info, 8, "c0", lstm ? B * H : 0);
  in.wih = f32_arg(info, 9, "wih", GH * I);
  in.whh = f32_arg(info, 10, "whh", GH * H);
  in.bih = f32_arg(info, 11, "bih", GH);
  in.bhh = f32_arg(info, 12, "bhh", GH);
  return in;
}

// Whether Node is stopping this thread's environment (worker.terminate(), process exit), for a long kernel call
// to stop early instead of finishing work nobody will read. Once the environment is stopping, every Node-API call
// that may run JavaScript fails (its NAPI_PREAMBLE checks can_call_into_js(), false from then on: Node's
// src/js_native_api_v8.h and env.h), and none fails otherwise inside our own callback, which runs no JavaScript.
// napi_strict_equals on two undefineds is the cheapest such call (tens of ns); the kernels make it on the calling
// thread only, every kPollFlops of work (native/kernels.cc).
struct EnvProbe {
  napi_env env;
  napi_value value;
};
bool env_stopping(void* ctx) {
  const EnvProbe* p = static_cast<const EnvProbe*>(ctx);
  bool same = false;
  return napi_strict_equals(p->env, p->value, p->value, &same) != napi_ok;
}

// One call's CancelPoll (poll), asking about the environment of the call `info` belongs to.
class CallCancel {
 public:
  explicit CallCancel(const Napi::CallbackInfo& info) : probe_{info.Env(), info.Env().Undefined()} {}
  CallCancel(const CallCancel&) = delete;
  CallCancel& operator=(const CallCancel&) = delete;
  const rnnkit::CancelPoll poll{env_stopping, &probe_};

 private:
  EnvProbe probe_;
};

// cellForward(kind, T, B, I, H, reverse, x, h0, c0, wih, whh, bih, bhh, y, hT, cT, ws) -> false when it stopped
// early because Node is stopping the thread (the outputs are then incomplete), else true
Napi::Value CellForward(const Napi::CallbackInfo& info) {
  CellInputs in = cell_inputs(info);
  const CallCancel cancel(info);
  in.cancel = &cancel.poll;
  const size_t BH = static_cast<size_t>(in.B) * in.H, TBH = BH * in.T;
  const bool lstm = in.kind == rnnkit::kLstm;
  float* y = f32_arg(info, 13, "y", TBH);
  float* hT = f32_arg(info, 14, "hT", BH);
  float* cT = f32_arg(info, 15, "cT", lstm ? BH : 0);
  float* ws = nullptr;
  const size_t wsn = rnnkit::workspace_floats(in.kind, in.T, in.B, in.H);
  if (!(info[16].IsNull() || info[16].IsUndefined())) ws = f32_arg(info, 16, "ws", wsn);
  return Napi::Boolean::New(info.Env(), rnnkit::cell_forward(in, y, hT, cT, ws));
}

// cellBackward(kind, T, B, I, H, reverse, x, h0, c0, wih, whh, bih, bhh, y, ws, dy, dhT, dcT, dx, dh0, dc0,
//              dwih, dwhh, dbih, dbhh) -> false when it stopped early (as cellForward), else true
Napi::Value CellBackward(const Napi::CallbackInfo& info) {
  CellInputs in = cell_inputs(info);
  const CallCancel cancel(info);
  in.cancel = &cancel.poll;
  const size_t B = in.B, H = in.H, BH = B * H, TBH = BH * in.T, GH = rnnkit::gates_of(in.kind) * H;
  const bool lstm = in.kind == rnnkit::kLstm;
  const float* y = f32_arg(info, 13, "y", TBH);
  const size_t wsn = rnnkit::workspace_floats(in.kind, in.T, in.B, in.H);
  const float* ws = wsn ? f32_arg(info, 14, "ws", wsn) : nullptr;
  const float* dy = f32_arg(info, 15, "dy", TBH);
  const float* dhT = f32_arg(info, 16, "dhT", BH);
  const float* dcT = f32_arg(info, 17, "dcT", lstm ? BH : 0);
  float* dx = f32_arg(info, 18, "dx", static_cast<size_t>(in.T) * B * in.I);
  float* dh0 = f32_arg(info, 19, "dh0", BH);
  float* dc0 = f32_arg(info, 20, "dc0", lstm ? BH : 0);
  float* dwih = f32_arg(info, 21, "dwih", GH * in.I);
  float* dwhh = f32_arg(info, 22, "dwhh", GH * H);
  float* dbih = f32_arg(info, 23, "dbih", GH);
  float* dbhh = f32_arg(info, 24, "dbhh", GH);
  return Napi::Boolean::New(info.Env(),
                            rnnkit::cell_backward(in, y, ws, dy, dhT, dcT, dx, dh0, dc0, dwih, dwhh, dbih, dbhh));
}

// sgemm(transA, transB, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc)
Napi::Value Sgemm(const Napi::CallbackInfo& info) {
  const bool ta = int_arg(info, 0, "transA", 0, 1), tb = int_arg(info, 1, "transB", 0, 1);
  const int M = int_arg(info, 2, "M", 0, kMaxDim), N = int_arg(info, 3, "N", 0, kMaxDim);
  const int K = int_arg(info, 4, "K", 0, kMaxDim);
  const int lda = int_arg(info, 7, "lda", 1, kMaxDim), ldb = int_arg(info, 9, "ldb", 1, kMaxDim);
  const int ldc = int_arg(info, 12, "ldc", 1, kMaxDim);
  if (!info[5].IsNumber() || !info[10].IsNumber()) fail(info.Env(), "E_ARGUMENT", "alpha, beta: expected numbers");
  const float alpha = info[5].As<Napi::Number>().FloatValue(), beta = info[10].As<Napi::Number>().FloatValue();
  const int ar = ta ? K : M, ac = ta ? M : K, br = tb ? N : K, bc = tb ? K : N;
  if (lda < ac || ldb < bc || ldc < N) fail(info.Env(), "E_ARGUMENT", "sgemm: leading dimension too small");
  auto extent = [](int rows, int cols, int ld) -> size_t {
    return rows > 0 && cols > 0 ? static_cast<size_t>(rows - 1) * ld + cols : 0;
  };
  const bool empty = M == 0 || N == 0;
  const float* A = empty ? nullptr : f32_arg(info, 6, "A", extent(ar, ac, lda));
  const float* B = empty ? nullptr : f32_arg(info, 8, "B", extent(br, bc, ldb));
  float* C = empty ? nullptr : f32_arg(info, 11, "C", extent(M, N, ldc));
  if (empty) return info.Env().Undefined();
  rnnkit::sgemm(ta, tb, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
  return info.Env().Undefined();
}

float float_arg(const Napi::CallbackInfo& info, size_t i, const char* name) {
  if (!info[i].IsNumber()) fail(info.Env(), "E_ARGUMENT", std::string(name) + ": expected a number");
  return info[i].As<Napi::Number>().FloatValue();
}

size_t sz(int a, int b) { return static_cast<size_t>(a) * static_cast<size_t>(b); }

// linearForward(N, I, O, x, w, b|null, y) -> false when it stopped early (as cellForward)
Napi::Value LinearForward(const Napi::CallbackInfo& info) {
  const int N = int_arg(info, 0, "N", 1, kMaxDim), I = int_arg(info, 1, "I", 1, kMaxDim), O = int_arg(info, 2, "O", 1, kMaxDim);
  const float* x = f32_arg(info, 3, "x", sz(N, I));
  const float* w = f32_arg(info, 4, "w", sz(O, I));
  const float* b = info[5].IsNull() ? nullptr : f32_arg(info, 5, "b", O);
  float* y = f32_arg(info, 6, "y", sz(N, O));
  const CallCancel cancel(info);
  return Napi::Boolean::New(info.Env(), rnnkit::linear_forward(N, I, O, x, w, b, y, &cancel.poll));
}

// linearBackward(N, I, O, x, w, dy, dx|null, dw, db|null) -> false when it stopped early (as cellForward)
Napi::Value LinearBackward(const Napi::CallbackInfo& info) {
  const int N = int_arg(info, 0, "N", 1, kMaxDim), I = int_arg(info, 1, "I", 1, kMaxDim), O = int_arg(info, 2, "O", 1, kMaxDim);
  const float* x = f32_arg(info, 3, "x", sz(N, I));
  const float* w = f32_arg(info, 4, "w", sz(O, I));
  const float* dy = f32_arg(info, 5, "dy", sz(N, O));
  float* dx = info[6].IsNull() ? nullptr : f32_arg(info, 6, "dx", sz(N, I));
  float* dw = f32_arg(info, 7, "dw", sz(O, I));
  float* db = info[8].IsNull() ? nullptr : f32_arg(info, 8, "db", O);
  const CallCancel cancel(info);
  return Napi::Boolean::New(info.Env(), rnnkit::linear_backward(N, I, O, x, w, dy, dx, dw, db, &cancel.poll));
}

// softmaxCrossEntropy(N, C, logits, targets, dlogits|null, scale) -> loss
Napi::Value SoftmaxCrossEntropy(const Napi::CallbackInfo& info) {
  const int N = int_arg(info, 0, "N", 1, kMaxDim), C = int_arg(info, 1, "C", 1, kMaxDim);
  const float* z = f32_arg(info, 2, "logits", sz(N, C));
  const float* t = f32_arg(info, 3, "targets", N);
  float* dz = info[4].IsNull() ? nullptr : f32_arg(info, 4, "dlogits", sz(N, C));
  const float scale = float_arg(info, 5, "scale");
  return Napi::Number::New(info.Env(), rnnkit::softmax_cross_entropy(N, C, z, t, dz, scale));
}

// embeddingForward(N, D, V, ids, table, out) / embeddingBackward(N, D, V, ids, dout, dtable): the same arguments,
// but the float buffer with V rows (the table) is the input of one and the output of the other.
Napi::Value Embedding(const Napi::CallbackInfo& info, bool backward) {
  const int N = int_arg(info, 0, "N", 1, kMaxDim), D = int_arg(info, 1, "D", 1, kMaxDim), V = int_arg(info, 2, "V", 1, kMaxDim);
  const float* ids = f32_arg(info, 3, "ids", N);
  const float* in = f32_arg(info, 4, backward ? "dout" : "table", backward ? sz(N, D) : sz(V, D));
  float* out = f32_arg(info, 5, backward ? "dtable" : "out", backward ? sz(V, D) : sz(N, D));
  (backward ? rnnkit::embedding_backward : rnnkit::embedding_forward)(N, D, V, ids, in, out);
  return info.Env().Undefined();
}
Napi::Value EmbeddingForward(const Napi::CallbackInfo& info) { return Embedding(info, false); }
Napi::Value EmbeddingBackward(const Napi::CallbackInfo& info) { return Embedding(info, true); }

// adamStep(n, p, g, m, v, lr, beta1, beta2, eps, weightDecay, decoupled, step)
Napi::Value AdamStep(const Napi::CallbackInfo& info) {
  const int n = int_arg(info, 0, "n", 0, 1 << 30);
  float* p = f32_arg(info, 1, "p", n);
  const float* g = f32_arg(info, 2, "g", n);
  float* m = f32_arg(info, 3, "m", n);
  float* v = f32_arg(info, 4, "v", n);
  rnnkit::adam_step(n, p, g, m, v, float_arg(info, 5, "lr"), float_arg(info, 6, "beta1"), float_arg(info, 7, "beta2"),
                    float_arg(info, 8, "eps"), float_arg(info, 9, "weightDecay"), int_arg(info, 10, "decoupled", 0, 1),
                    int_arg(info, 11, "step", 1, 1 << 30));
  return info.Env().Undefined();
}

// sgdStep(n, p, g, buf, lr, momentum, weightDecay, nesterov, first)
Napi::Value SgdStep(const Napi::CallbackInfo& info) {
  const int n = int_arg(info, 0, "n", 0, 1 << 30);
  float* p = f32_arg(info, 1, "p", n);
  const float* g = f32_arg(info, 2, "g", n);
  float* buf = f32_arg(info, 3, "buf", n);
  rnnkit::sgd_step(n, p, g, buf, float_arg(info, 4, "lr"), float_arg(info, 5, "momentum"), float_arg(info, 6, "weightDecay"),
                   int_arg(info, 7, "nesterov", 0, 1), int_arg(info, 8, "first", 0, 1));
  return info.Env().Undefined();
}

// sumSquares(n, x) -> number; scale(n, x, alpha)
Napi::Value SumSquares(const Napi::CallbackInfo& info) {
  const int n = int_arg(info, 0, "n", 0, 1 << 30);
  return Napi::Number::New(info.Env(), rnnkit::sum_squares(n, f32_arg(info, 1, "x", n)));
}
Napi::Value Scale(const Napi::CallbackInfo& info) {
  const int n = int_arg(info, 0, "n", 0, 1 << 30);
  rnnkit::scale(n, f32_arg(info, 1, "x", n), float_arg(info, 2, "alpha"));
  return info.Env().Undefined();
}

// ---- Data movement (moves.h): offsets, strides and sizes in floats, every extent checked against its buffer. ----

// The floats a strided block reaches: offset + (rows - 1) * stride + cols, or 0 when it is empty.
size_t reach(int rows, int cols, int offset, int stride) {
  return rows > 0 && cols > 0 ? static_cast<size_t>(offset) + sz(rows - 1, stride) + cols : 0;
}
constexpr int kMaxFloats = 1 << 30;  // MAX_BUFFER_FLOATS of src/backend/limits.ts

// fill(n, x, offset, value)
Napi::Value Fill(const Napi::CallbackInfo& info) {
  const int n = int_arg(info, 0, "n", 0, kMaxFloats), offset = int_arg(info, 2, "offset", 0, kMaxFloats);
  float* x = f32_arg(info, 1, "x", static_cast<size_t>(offset) + n);
  rnnkit::fill(n, x + offset, float_arg(info, 3, "value"));
  return info.Env().Undefined();
}

// copy(rows, cols, src, srcOffset, srcStride, dst, dstOffset, dstStride)
Napi::Value Copy(const Napi::CallbackInfo& info) {
  const int rows = int_arg(info, 0, "rows", 0, kMaxFloats), cols = int_arg(info, 1, "cols", 0, kMaxFloats);
  const int so = int_arg(info, 3, "srcOffset", 0, kMaxFloats), ss = int_arg(info, 4, "srcStride", 0, kMaxFloats);
  const int d0 = int_arg(info, 6, "dstOffset", 0, kMaxFloats), ds = int_arg(info, 7, "dstStride", 0, kMaxFloats);
  const float* src = f32_arg(info, 2, "src", reach(rows, cols, so, ss));
  float* dst = f32_arg(info, 5, "dst", reach(rows, cols, d0, ds));
  if (rows > 0 && cols > 0) rnnkit::copy_strided(rows, cols, src + so, ss, dst + d0, ds);
  return info.Env().Undefined();
}

// transpose01(A, B, C, src, dst)
Napi::Value Transpose01(const Napi::CallbackInfo& info) {
  const int A = int_arg(info, 0, "A", 0, kMaxFloats), B = int_arg(info, 1, "B", 0, kMaxFloats);
  const int C = int_arg(info, 2, "C", 0, kMaxFloats);
  const size_t n = sz(A, B) * C;
  const float* src = f32_arg(info, 3, "src", n);
  float* dst = f32_arg(info, 4, "dst", n);
  if (n > 0) rnnkit::transpose01(A, B, C, src, dst);
  return info.Env().Undefined();
}

// interleave(R, H, fwd, rev, out) / deinterleave(R, H, in, fwd, rev): the [R, 2H] buffer is the output of one and
// the input of the other.
Napi::Value Interleave(const Napi::CallbackInfo& info, bool inverse) {
  const int R = int_arg(info, 0, "R", 0, kMaxFloats), H = int_arg(info, 1, "H", 0, kMaxFloats);
  const size_t half = sz(R, H);
  if (!inverse) {
    const float* fwd = f32_arg(info, 2, "fwd", half);
    const float* rev = f32_arg(info, 3, "rev", half);
    float* out = f32_arg(info, 4, "out", 2 * half);
    if (half > 0) rnnkit::interleave(R, H, fwd, rev, out);
  } else {
    const float* in = f32_arg(info, 2, "in", 2 * half);
    float* fwd = f32_arg(info, 3, "fwd", half);
    float* rev = f32_arg(info, 4, "rev", half);
    if (half > 0) rnnkit::deinterleave(R, H, in, fwd, rev);
  }
  return info.Env().Undefined();
}
Napi::Value InterleaveFwd(const Napi::CallbackInfo& info) { return Interleave(info, false); }
Napi::Value Deinterleave(const Napi::CallbackInfo& info) { return Interleave(info, true); }

// dropout(n, seed, threshold, scale, x, y): seed an integer in [0, 2^32), threshold in [0, 2^32]
Napi::Value Dropout(const Napi::CallbackInfo& info) {
  const int n = int_arg(info, 0, "n", 0, kMaxFloats);
  if (!info[1].IsNumber() || !info[2].IsNumber()) fail(info.Env(), "E_ARGUMENT", "seed, threshold: expected numbers");
  const double seed = info[1].As<Napi::Number>().DoubleValue(), threshold = info[2].As<Napi::Number>().DoubleValue();
  if (!(seed >= 0 && seed < 4294967296.0) || static_cast<double>(static_cast<uint32_t>(seed)) != seed) {
    fail(info.Env(), "E_ARGUMENT", "dropout seed: expected an integer in [0, 2^32), found " + std::to_string(seed));
  }
  if (!(threshold >= 0 && threshold <= 4294967296.0)) {
    fail(info.Env(), "E_ARGUMENT", "dropout threshold: expected a number in [0, 2^32], found " + std::to_string(threshold));
  }
  const float* x = f32_arg(info, 4, "x", n);
  float* y = f32_arg(info, 5, "y", n);
  rnnkit::dropout(n, static_cast<uint32_t>(seed), threshold, float_arg(info, 3, "scale"), x, y);
  return info.Env().Undefined();
}

// firstNonFinite(x: Float32Array) -> index of its first NaN or ±Infinity, or -1 (for the facade's input checks)
Napi::Value FirstNonFinite(const Napi::CallbackInfo& info) {
  const Napi::Value v = info[0];
  if (!v.IsTypedArray() || v.As<Napi::TypedArray>().TypedArrayType() != napi_float32_array) {
    fail(info.Env(), "E_DTYPE", "firstNonFinite: expected a Float32Array");
  }
  const Napi::Float32Array a = v.As<Napi::Float32Array>();
  return Napi::Number::New(info.Env(), static_cast<double>(rnnkit::first_non_finite(a.ElementLength(), a.Data())));
}

Napi::Value Info(const Napi::CallbackInfo& info) {
  Napi::Object o = Napi::Object::New(info.Env());
  o.Set("isa", rnnkit::isa().name);
  const rnnkit::ThreadPool& pool = rnnkit::ThreadPool::get();
  o.Set("threads", pool.size());
  o.Set("threadsAsked", pool.asked());
  o.Set("cpus", rnnkit::usable_cpus());
  o.Set("sharedChunks", static_cast<double>(rnnkit::shared_chunks()));
  const rnnkit::BackoffStats backoff = rnnkit::backoff_stats();
  o.Set("backoffs", static_cast<double>(backoff.steps_down));
  o.Set("backoffCalls", static_cast<double>(backoff.calls));
  o.Set("backoffProbes", static_cast<double>(backoff.probes));
  o.Set("backoffRecoveries", static_cast<double>(backoff.recoveries));
  o.Set("threadedRuns", static_cast<double>(pool.threaded_runs()));
  o.Set("lastThreads", pool.last_threads());
  o.Set("lastBatchGroups", rnnkit::last_batch_groups());
  o.Set("testHooks", rnnkit::test_hooks());
  // Settings that are not one of their allowed values: [{ name, value, allowed }] (settings.h).
  Napi::Array bad = Napi::Array::New(info.Env());
  for (const rnnkit::BadSetting* b : {&rnnkit::threads_setting(), &rnnkit::isa_setting()}) {
    if (b->name.empty()) continue;
    Napi::Object e = Napi::Object::New(info.Env());
    e.Set("name", b->name);
    e.Set("value", b->value);
    e.Set("allowed", b->allowed);
    bad.Set(bad.Length(), e);
  }
  o.Set("badSettings", bad);
  return o;
}

// Exported by the test-hooks addon only (test/thread-choice.test.ts; this file is compiled once for both addons,
// so the choice is made at load time by test_hooks(), kernels.cc): the pure rules behind the thread count, so that tests
// can ask them about machines this one is not. threadsByWork(flops, blocks, limit) -> threads (pool.h);
// cpusAllowed(affinity, "QUOTA PERIOD") -> CPUs (pool.h); batchGroups(threads, B, cols) -> groups (pool.h).
Napi::Value ThreadsByWork(const Napi::CallbackInfo& info) {
  const double flops = info[0].As<Napi::Number>().DoubleValue();
  const int blocks = info[1].As<Napi::Number>().Int32Value(), limit = info[2].As<Napi::Number>().Int32Value();
  return Napi::Number::New(info.Env(), rnnkit::threads_by_work(flops, blocks, limit));
}
Napi::Value BatchGroups(const Napi::CallbackInfo& info) {
  const int nt = info[0].As<Napi::Number>().Int32Value(), B = info[1].As<Napi::Number>().Int32Value();
  return Napi::Number::New(info.Env(), rnnkit::batch_groups(nt, B, info[2].As<Napi::Number>().Int32Value()));
}
Napi::Value CpusAllowed(const Napi::CallbackInfo& info) {
  const int affinity = info[0].As<Napi::Number>().Int32Value();
  return Napi::Number::New(info.Env(), rnnkit::cpus_allowed(affinity, info[1].As<Napi::String>().Utf8Value()));
}

// backoffReplay([[key, want, now] | [key, want, threads, lateNs, callNs, flops, now], ...]) -> { threads: [...],
// stats }: a fresh back-off table (pool.h) asked for the threads of each 3-element event and told of each 7-element
// one (a call that ran), in order, on the times given (ns); `threads` holds the answers in order.
Napi::Value BackoffReplay(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const Napi::Array events = info[0].As<Napi::Array>();
  auto table = std::make_unique<rnnkit::BackoffTable>();
  Napi::Array answers = Napi::Array::New(env);
  for (uint32_t i = 0; i < events.Length(); i++) {
    const Napi::Array e = events.Get(i).As<Napi::Array>();
    const auto num = [&](uint32_t j) { return e.Get(j).As<Napi::Number>().DoubleValue(); };
    const uint64_t key = static_cast<uint64_t>(num(0));
    if (e.Length() == 3) {
      answers.Set(answers.Length(), table->threads(key, static_cast<int>(num(1)), static_cast<int64_t>(num(2))));
    } else if (e.Length() == 7) {
      table->note(key, static_cast<int>(num(1)), static_cast<int>(num(2)), static_cast<int64_t>(num(3)),
                  static_cast<int64_t>(num(4)), num(5), static_cast<int64_t>(num(6)));
    } else {
      Napi::TypeError::New(env, "backoffReplay: an event has 3 or 7 numbers").ThrowAsJavaScriptException();
      return env.Undefined();
    }
  }
  const rnnkit::BackoffStats st = table->stats();
  Napi::Object stats = Napi::Object::New(env);
  stats.Set("stepsDown", static_cast<double>(st.steps_down));
  stats.Set("calls", static_cast<double>(st.calls));
  stats.Set("probes", static_cast<double>(st.probes));
  stats.Set("recoveries", static_cast<double>(st.recoveries));
  Napi::Object out = Napi::Object::New(env);
  out.Set("threads", answers);
  out.Set("stats", stats);
  return out;
}

Napi::Object Init(Napi::Env env, Napi::Object exports) {
  exports.Set("cellForward", Napi::Function::New(env, CellForward));
  exports.Set("cellBackward", Napi::Function::New(env, CellBackward));
  exports.Set("sgemm", Napi::Function::New(env, Sgemm));
  exports.Set("info", Napi::Function::New(env, Info));
  exports.Set("linearForward", Napi::Function::New(env, LinearForward));
  exports.Set("linearBackward", Napi::Function::New(env, LinearBackward));
  exports.Set("softmaxCrossEntropy", Napi::Function::New(env, SoftmaxCrossEntropy));
  exports.Set("embeddingForward", Napi::Function::New(env, EmbeddingForward));
  exports.Set("embeddingBackward", Napi::Function::New(env, EmbeddingBackward));
  exports.Set("adamStep", Napi::Function::New(env, AdamStep));
  exports.Set("sgdStep", Napi::Function::New(env, SgdStep));
  exports.Set("sumSquares", Napi::Function::New(env, SumSquares));
  exports.Set("scale", Napi::Function::New(env, Scale));
  exports.Set("firstNonFinite", Napi::Function::New(env, FirstNonFinite));
  exports.Set("fill", Napi::Function::New(env, Fill));
  exports.Set("copy", Napi::Function::New(env, Copy));
  exports.Set("transpose01", Napi::Function::New(env, Transpose01));
  exports.Set("interleave", Napi::Function::New(env, InterleaveFwd));
  exports.Set("deinterleave", Napi::Function::New(env, Deinterleave));
  exports.Set("dropout", Napi::Function::New(env, Dropout));
  if (rnnkit::test_hooks()) {
    exports.Set("threadsByWork", Napi::Function::New(env, ThreadsByWork));
    exports.Set("cpusAllowed", Napi::Function::New(env, CpusAllowed));
    exports.Set("batchGroups", Napi::Function::New(env, BatchGroups));
    exports.Set("backoffReplay", Napi::Function::New(env, BackoffReplay));
  }
  return exports;
}

}  // namespace

NODE_API_MODULE(rnnkit, Init)
