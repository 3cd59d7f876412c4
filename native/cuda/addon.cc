// N-API glue of the CUDA addon (build/cuda/rnnkit_cuda.node; the emulation build
// build/emulation/rnnkit_cuda_emu.node links the same glue to the host executor). Buffers live on the device and
// JavaScript holds them by number; every call checks each buffer's size against the call's sizes before the device
// runs, so a wrong size is an E_SHAPE error, never a stray write on the GPU. Device and cuBLAS failures are
// E_BACKEND errors with the runtime's own words.
#include <napi.h>

#include <cstdint>
#include <string>
#include <unordered_map>

#include "driver.h"

namespace {

using rnnkit_cuda::CellCall;
using rnnkit_cuda::Device;

struct DevBuf {
  float* p;
  size_t n;
};

struct State {
  bool opened = false;
  std::unique_ptr<Device> dev;
  std::string reason;
  std::unordered_map<uint32_t, DevBuf> bufs;
  uint32_t next = 1;  // 0 stands for "no buffer" (null)
};

[[noreturn]] void fail(Napi::Env env, const char* code, const std::string& msg) {
  Napi::Error e = Napi::Error::New(env, msg);
  e.Set("code", Napi::String::New(env, code));
  throw e;
}

State& state(Napi::Env env) { return *env.GetInstanceData<State>(); }

Device& device(Napi::Env env) {
  State& s = state(env);
  if (!s.dev) fail(env, "E_BACKEND", "cuda backend not available: " + (s.opened ? s.reason : "open() was not called"));
  return *s.dev;
}

double num_arg(const Napi::CallbackInfo& info, size_t i, const char* name) {
  if (!info[i].IsNumber()) fail(info.Env(), "E_ARGUMENT", std::string(name) + ": expected a number");
  return info[i].As<Napi::Number>().DoubleValue();
}

int64_t int_arg(const Napi::CallbackInfo& info, size_t i, const char* name, int64_t lo, int64_t hi) {
  const double v = num_arg(info, i, name);
  if (!(v >= static_cast<double>(lo) && v <= static_cast<double>(hi)) || static_cast<double>(static_cast<int64_t>(v)) != v) {
    fail(info.Env(), "E_ARGUMENT",
         std::string(name) + ": expected an integer in [" + std::to_string(lo) + ", " + std::to_string(hi) +
             "], found " + std::to_string(v));
  }
  return static_cast<int64_t>(v);
}

constexpr int64_t kMaxDim = int64_t{1} << 28;
constexpr int64_t kMaxFloats = int64_t{1} << 30;  // MAX_BUFFER_FLOATS of src/backend/limits.ts

// The device buffer with id info[i], holding at least `need` floats; null for id 0 when `optional`.
float* buf_arg(const Napi::CallbackInfo& info, size_t i, const char* name, size_t need, bool optional = false) {
  const int64_t id = int_arg(info, i, name, 0, UINT32_MAX);
  if (id == 0) {
    if (optional) return nullptr;
    fail(info.Env(), "E_ARGUMENT", std::string("kernel buffer ") + name + ": missing");
  }
  State& s = state(info.Env());
  auto it = s.bufs.find(static_cast<uint32_t>(id));
  if (it == s.bufs.end()) {
    fail(info.Env(), "E_ARGUMENT", std::string("kernel buffer ") + name + ": not a live buffer of this cuda backend");
  }
  if (it->second.n < need) {
    fail(info.Env(), "E_SHAPE",
         std::string("kernel buffer ") + name + ": expected at least " + std::to_string(need) + " floats, found " +
             std::to_string(it->second.n));
  }
  return it->second.p;
}

Napi::Float32Array f32_arg(const Napi::CallbackInfo& info, size_t i, const char* name) {
  if (!info[i].IsTypedArray() || info[i].As<Napi::TypedArray>().TypedArrayType() != napi_float32_array) {
    fail(info.Env(), "E_DTYPE", std::string(name) + ": expected a Float32Array");
  }
  return info[i].As<Napi::Float32Array>();
}

// Runs a device call, turning the runtime's exceptions into E_BACKEND errors.
template <class F>
auto guarded(Napi::Env env, const char* op, F&& f) -> decltype(f()) {
  try {
    return f();
  } catch (const Napi::Error&) {
    throw;
  } catch (const std::exception& e) {
    fail(env, "E_BACKEND", std::string(op) + ": " + e.what());
  }
}

// open(precision: "fp32" | "tf32" | "bf16") -> { ok: true, details } | { ok: false, reason }; opens the device once per
// thread's environment (a later call's precision is ignored).
Napi::Value Open(const Napi::CallbackInfo& info) {
  State& s = state(info.Env());
  if (!s.opened) {
    s.opened = true;
    const std::string precision = info[0].IsString() ? info[0].As<Napi::String>().Utf8Value() : "fp32";
    try {
      s.dev = rnnkit_cuda::open_device(precision, s.reason);
    } catch (const std::exception& e) {
      s.reason = e.what();
    }
  }
  Napi::Object o = Napi::Object::New(info.Env());
  o.Set("ok", Napi::Boolean::New(info.Env(), s.dev != nullptr));
  if (s.dev) o.Set("details", Napi::String::New(info.Env(), s.dev->describe()));
  else o.Set("reason", Napi::String::New(info.Env(), s.reason));
  return o;
}

Napi::Value Alloc(const Napi::CallbackInfo& info) {
  Device& d = device(info.Env());
  const size_t n = static_cast<size_t>(int_arg(info, 0, "n", 0, kMaxFloats));
  float* p = guarded(info.Env(), "alloc", [&] { return d.alloc(n); });
  State& s = state(info.Env());
  const uint32_t id = s.next++;
  s.bufs[id] = DevBuf{p, n};
  return Napi::Number::New(info.Env(), id);
}

void Free(const Napi::CallbackInfo& info) {
  Device& d = device(info.Env());
  State& s = state(info.Env());
  const int64_t id = int_arg(info, 0, "id", 1, UINT32_MAX);
  auto it = s.bufs.find(static_cast<uint32_t>(id));
  if (it == s.bufs.end()) fail(info.Env(), "E_ARGUMENT", "free: not a live buffer of this cuda backend");
  float* p = it->second.p;
  s.bufs.erase(it);
  guarded(info.Env(), "free", [&] { d.release(p); });
}

// upload(id, offset, src: Float32Array): buffer[offset, offset + src.length) = src
void Upload(const Napi::CallbackInfo& info) {
  Device& d = device(info.Env());
  Napi::Float32Array src = f32_arg(info, 2, "src");
  const size_t off = static_cast<size_t>(int_arg(info, 1, "offset", 0, kMaxFloats));
  float* p = buf_arg(info, 0, "dst", off + src.ElementLength());
  guarded(info.Env(), "upload", [&] { d.upload(p + off, src.Data(), src.ElementLength()); });
}

// download(id, offset, dst: Float32Array): dst = buffer[offset, offset + dst.length)
void Download(const Napi::CallbackInfo& info) {
  Device& d = device(info.Env());
  Napi::Float32Array dst = f32_arg(info, 2, "dst");
  const size_t off = static_cast<size_t>(int_arg(info, 1, "offset", 0, kMaxFloats));
  const float* p = buf_arg(info, 0, "src", off + dst.ElementLength());
  guarded(info.Env(), "download", [&] { d.download(dst.Data(), p + off, dst.ElementLength()); });
}

// fill(id, offset, n, value)
void FillBuf(const Napi::CallbackInfo& info) {
  Device& d = device(info.Env());
  const size_t off = static_cast<size_t>(int_arg(info, 1, "offset", 0, kMaxFloats));
  const size_t n = static_cast<size_t>(int_arg(info, 2, "n", 0, kMaxFloats));
  const float v = static_cast<float>(num_arg(info, 3, "value"));
  float* p = buf_arg(info, 0, "dst", off + n);
  guarded(info.Env(), "fill", [&] { d.fill(p + off, v, n); });
}

// copy2d(rows, cols, src, srcOffset, srcStride, dst, dstOffset, dstStride)
void Copy2d(const Napi::CallbackInfo& info) {
  Device& d = device(info.Env());
  const size_t rows = size_t(int_arg(info, 0, "rows", 0, kMaxFloats)), cols = size_t(int_arg(info, 1, "cols", 0, kMaxFloats));
  const size_t soff = size_t(int_arg(info, 3, "srcOffset", 0, kMaxFloats)), ss = size_t(int_arg(info, 4, "srcStride", 0, kMaxFloats));
  const size_t doff = size_t(int_arg(info, 6, "dstOffset", 0, kMaxFloats)), ds = size_t(int_arg(info, 7, "dstStride", 0, kMaxFloats));
  const size_t sreach = rows && cols ? soff + (rows - 1) * ss + cols : 0, dreach = rows && cols ? doff + (rows - 1) * ds + cols : 0;
  const float* src = buf_arg(info, 2, "src", sreach);
  float* dst = buf_arg(info, 5, "dst", dreach);
  guarded(info.Env(), "copy", [&] { d.copy2d(rows, cols, src + soff, ss, dst + doff, ds); });
}

// transpose01(A, B, C, src, dst)
void Transpose(const Napi::CallbackInfo& info) {
  Device& d = device(info.Env());
  const size_t A = size_t(int_arg(info, 0, "A", 0, kMaxFloats)), B = size_t(int_arg(info, 1, "B", 0, kMaxFloats)),
               C = size_t(int_arg(info, 2, "C", 0, kMaxFloats));
  const float* src = buf_arg(info, 3, "src", A * B * C);
  float* dst = buf_arg(info, 4, "dst", A * B * C);
  guarded(info.Env(), "transpose01", [&] { d.transpose01(A, B, C, src, dst); });
}

// dropout(n, seed, threshold, scale, x, y): the constants as src/backend/moves.ts computes them
void DropoutBuf(const Napi::CallbackInfo& info) {
  Device& d = device(info.Env());
  const size_t n = size_t(int_arg(info, 0, "n", 0, kMaxFloats));
  const uint32_t seed = static_cast<uint32_t>(int_arg(info, 1, "seed", 0, UINT32_MAX));
  const double threshold = num_arg(info, 2, "threshold");
  const float scale = static_cast<float>(num_arg(info, 3, "scale"));
  const float* x = buf_arg(info, 4, "x", n);
  float* y = buf_arg(info, 5, "y", n);
  guarded(info.Env(), "dropout", [&] { d.dropout(n, seed, threshold, scale, x, y); });
}

// The sizes and weights shared by both cell calls (arguments 0..12), checked.
CellCall cell_call(const Napi::CallbackInfo& info) {
  CellCall c{};
  c.kind = static_cast<int>(int_arg(info, 0, "kind", 0, 3));
  c.T = static_cast<int>(int_arg(info, 1, "T", 1, kMaxDim));
  c.B = static_cast<int>(int_arg(info, 2, "B", 1, kMaxDim));
  c.I = static_cast<int>(int_arg(info, 3, "I", 1, kMaxDim));
  c.H = static_cast<int>(int_arg(info, 4, "H", 1, kMaxDim));
  c.reverse = int_arg(info, 5, "reverse", 0, 1) != 0;
  const size_t T = c.T, B = c.B, I = c.I, H = c.H, GH = rnnkit_cuda::gates_of(c.kind) * H;
  if (T * B * (I > GH ? I : GH) > (size_t{1} << 29)) {
    fail(info.Env(), "E_ARGUMENT", "kernel sizes: T * B * max(I, G * H) is more than 2^29 floats");
  }
  const bool lstm = c.kind == rnnkit_cuda::LSTM;
  c.x = buf_arg(info, 6, "x", T * B * I);
  c.h0 = buf_arg(info, 7, "h0", B * H);
  c.c0 = buf_arg(info, 8, "c0", lstm ? B * H : 0, true);
  c.wih = buf_arg(info, 9, "wih", GH * I);
  c.whh = buf_arg(info, 10, "whh", GH * H);
  c.bih = buf_arg(info, 11, "bih", GH);
  c.bhh = buf_arg(info, 12, "bhh", GH);
  return c;
}

// cellForward(kind, T, B, I, H, reverse, x, h0, c0, wih, whh, bih, bhh, y, hT, cT, ws): ids, 0 for null
void CellForward(const Napi::CallbackInfo& info) {
  Device& d = device(info.Env());
  CellCall c = cell_call(info);
  const size_t BH = static_cast<size_t>(c.B) * c.H, TBH = BH * c.T;
  const bool lstm = c.kind == rnnkit_cuda::LSTM;
  c.y = buf_arg(info, 13, "y", TBH);
  c.hT = buf_arg(info, 14, "hT", BH);
  c.cT = buf_arg(info, 15, "cT", lstm ? BH : 0, true);
  c.ws = buf_arg(info, 16, "ws", rnnkit_cuda::workspace_floats(c.kind, TBH), true);
  guarded(info.Env(), "cellForward", [&] { d.cell_forward(c); });
}

// cellBackward(kind, T, B, I, H, reverse, x, h0, c0, wih, whh, bih, bhh, y, ws, dy, dhT, dcT, dx, dh0, dc0,
//              dwih, dwhh, dbih, dbhh): ids, 0 for null
void CellBackward(const Napi::CallbackInfo& info) {
  Device& d = device(info.Env());
  CellCall c = cell_call(info);
  const size_t B = c.B, H = c.H, BH = B * H, TBH = BH * c.T, GH = rnnkit_cuda::gates_of(c.kind) * H;
  const bool lstm = c.kind == rnnkit_cuda::LSTM;
  const size_t wsn = rnnkit_cuda::workspace_floats(c.kind, TBH);
  c.y = buf_arg(info, 13, "y", TBH);
  c.ws = buf_arg(info, 14, "ws", wsn, wsn == 0);
  c.dy = buf_arg(info, 15, "dy", TBH);
  c.dhT = buf_arg(info, 16, "dhT", BH);
  c.dcT = buf_arg(info, 17, "dcT", lstm ? BH : 0, true);
  c.dx = buf_arg(info, 18, "dx", static_cast<size_t>(c.T) * B * c.I);
  c.dh0 = buf_arg(info, 19, "dh0", BH);
  c.dc0 = buf_arg(info, 20, "dc0", lstm ? BH : 0, true);
  c.dwih = buf_arg(info, 21, "dwih", GH * c.I);
  c.dwhh = buf_arg(info, 22, "dwhh", GH * H);
  c.dbih = buf_arg(info, 23, "dbih", GH);
  c.dbhh = buf_arg(info, 24, "dbhh", GH);
  guarded(info.Env(), "cellBackward", [&] { d.cell_backward(c); });
}

// Floats a row-major matrix of `rows` rows and `cols` columns with leading dimension ld spans.
size_t span(int64_t rows, int64_t cols, int64_t ld) { return rows == 0 || cols == 0 ? 0 : static_cast<size_t>((rows - 1) * ld + cols); }

// sgemm(transA, transB, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc): row-major, as the CPU backends
void Sgemm(const Napi::CallbackInfo& info) {
  Device& d = device(info.Env());
  const bool ta = info[0].ToBoolean(), tb = info[1].ToBoolean();
  const int64_t M = int_arg(info, 2, "M", 0, kMaxDim), N = int_arg(info, 3, "N", 0, kMaxDim),
                K = int_arg(info, 4, "K", 0, kMaxDim);
  const float alpha = static_cast<float>(num_arg(info, 5, "alpha"));
  const int64_t lda = int_arg(info, 7, "lda", 1, kMaxDim), ldb = int_arg(info, 9, "ldb", 1, kMaxDim),
                ldc = int_arg(info, 12, "ldc", 1, kMaxDim);
  const float beta = static_cast<float>(num_arg(info, 10, "beta"));
  const int64_t ar = ta ? K : M, ac = ta ? M : K, br = tb ? N : K, bc = tb ? K : N;
  if (lda < ac || ldb < bc || ldc < N) fail(info.Env(), "E_SHAPE", "sgemm: a leading dimension is smaller than its row");
  const float* A = buf_arg(info, 6, "A", span(ar, ac, lda));
  const float* B = buf_arg(info, 8, "B", span(br, bc, ldb));
  float* C = buf_arg(info, 11, "C", span(M, N, ldc));
  guarded(info.Env(), "sgemm", [&] {
    d.sgemm(ta, tb, static_cast<int>(M), static_cast<int>(N), static_cast<int>(K), alpha, A, static_cast<int>(lda),
            B, static_cast<int>(ldb), beta, C, static_cast<int>(ldc));
  });
}

// linearForward(N, I, O, x, w, b, y)
void LinearForward(const Napi::CallbackInfo& info) {
  Device& d = device(info.Env());
  const int64_t N = int_arg(info, 0, "N", 1, kMaxDim), I = int_arg(info, 1, "I", 1, kMaxDim), O = int_arg(info, 2, "O", 1, kMaxDim);
  const float* x = buf_arg(info, 3, "x", N * I);
  const float* w = buf_arg(info, 4, "w", O * I);
  const float* b = buf_arg(info, 5, "b", O, true);
  float* y = buf_arg(info, 6, "y", N * O);
  guarded(info.Env(), "linearForward", [&] { d.linear_forward(int(N), int(I), int(O), x, w, b, y); });
}

// linearBackward(N, I, O, x, w, dy, dx, dw, db)
void LinearBackward(const Napi::CallbackInfo& info) {
  Device& d = device(info.Env());
  const int64_t N = int_arg(info, 0, "N", 1, kMaxDim), I = int_arg(info, 1, "I", 1, kMaxDim), O = int_arg(info, 2, "O", 1, kMaxDim);
  const float* x = buf_arg(info, 3, "x", N * I);
  const float* w = buf_arg(info, 4, "w", O * I);
  const float* dy = buf_arg(info, 5, "dy", N * O);
  float* dx = buf_arg(info, 6, "dx", N * I, true);
  float* dw = buf_arg(info, 7, "dw", O * I);
  float* db = buf_arg(info, 8, "db", O, true);
  guarded(info.Env(), "linearBackward", [&] { d.linear_backward(int(N), int(I), int(O), x, w, dy, dx, dw, db); });
}

// softmaxCrossEntropy(N, C, logits, targets, dlogits, scale) -> loss
Napi::Value SoftmaxCrossEntropy(const Napi::CallbackInfo& info) {
  Device& d = device(info.Env());
  const int64_t N = int_arg(info, 0, "N", 1, kMaxDim), C = int_arg(info, 1, "C", 1, kMaxDim);
  const float* logits = buf_arg(info, 2, "logits", N * C);
  const float* targets = buf_arg(info, 3, "targets", N);
  float* dlogits = buf_arg(info, 4, "dlogits", N * C, true);
  const float scale = static_cast<float>(num_arg(info, 5, "scale"));
  const double loss = guarded(info.Env(), "softmaxCrossEntropy",
                              [&] { return d.softmax_cross_entropy(int(N), int(C), logits, targets, dlogits, scale); });
  return Napi::Number::New(info.Env(), loss);
}

// embeddingForward(N, D, V, ids, table, out)
void EmbeddingForward(const Napi::CallbackInfo& info) {
  Device& d = device(info.Env());
  const int64_t N = int_arg(info, 0, "N", 1, kMaxDim), D = int_arg(info, 1, "D", 1, kMaxDim), V = int_arg(info, 2, "V", 1, kMaxDim);
  const float* ids = buf_arg(info, 3, "ids", N);
  const float* table = buf_arg(info, 4, "table", V * D);
  float* out = buf_arg(info, 5, "out", N * D);
  guarded(info.Env(), "embeddingForward", [&] { d.embedding_forward(int(N), int(D), int(V), ids, table, out); });
}

// embeddingBackward(N, D, V, ids, dout, dtable)
void EmbeddingBackward(const Napi::CallbackInfo& info) {
  Device& d = device(info.Env());
  const int64_t N = int_arg(info, 0, "N", 1, kMaxDim), D = int_arg(info, 1, "D", 1, kMaxDim), V = int_arg(info, 2, "V", 1, kMaxDim);
  const float* ids = buf_arg(info, 3, "ids", N);
  const float* dout = buf_arg(info, 4, "dout", N * D);
  float* dtable = buf_arg(info, 5, "dtable", V * D);
  guarded(info.Env(), "embeddingBackward", [&] { d.embedding_backward(int(N), int(D), int(V), ids, dout, dtable); });
}

// adamStep(n, p, g, m, v, lr, beta1, beta2, eps, weightDecay, decoupled, step)
void AdamStep(const Napi::CallbackInfo& info) {
  Device& d = device(info.Env());
  const int64_t n = int_arg(info, 0, "n", 0, kMaxFloats);
  float* p = buf_arg(info, 1, "p", n);
  const float* g = buf_arg(info, 2, "g", n);
  float* m = buf_arg(info, 3, "m", n);
  float* v = buf_arg(info, 4, "v", n);
  const float lr = float(num_arg(info, 5, "lr")), b1 = float(num_arg(info, 6, "beta1")), b2 = float(num_arg(info, 7, "beta2")),
              eps = float(num_arg(info, 8, "eps")), wd = float(num_arg(info, 9, "weightDecay"));
  const bool decoupled = info[10].ToBoolean();
  const int step = static_cast<int>(int_arg(info, 11, "step", 1, INT32_MAX));
  guarded(info.Env(), "adamStep", [&] { d.adam_step(size_t(n), p, g, m, v, lr, b1, b2, eps, wd, decoupled, step); });
}

// sgdStep(n, p, g, buf, lr, momentum, weightDecay, nesterov, first)
void SgdStep(const Napi::CallbackInfo& info) {
  Device& d = device(info.Env());
  const int64_t n = int_arg(info, 0, "n", 0, kMaxFloats);
  float* p = buf_arg(info, 1, "p", n);
  const float* g = buf_arg(info, 2, "g", n);
  float* buf = buf_arg(info, 3, "buf", n, true);
  const float lr = float(num_arg(info, 4, "lr")), mom = float(num_arg(info, 5, "momentum")), wd = float(num_arg(info, 6, "weightDecay"));
  if (mom != 0.0f && !buf) fail(info.Env(), "E_ARGUMENT", "sgdStep: momentum needs a buffer");
  const bool nesterov = info[7].ToBoolean(), first = info[8].ToBoolean();
  guarded(info.Env(), "sgdStep", [&] { d.sgd_step(size_t(n), p, g, buf, lr, mom, wd, nesterov, first); });
}

// sumSquares(n, x) -> float64
Napi::Value SumSquares(const Napi::CallbackInfo& info) {
  Device& d = device(info.Env());
  const int64_t n = int_arg(info, 0, "n", 0, kMaxFloats);
  const float* x = buf_arg(info, 1, "x", n);
  return Napi::Number::New(info.Env(), guarded(info.Env(), "sumSquares", [&] { return d.sum_squares(size_t(n), x); }));
}

// scale(n, x, alpha)
void ScaleBuf(const Napi::CallbackInfo& info) {
  Device& d = device(info.Env());
  const int64_t n = int_arg(info, 0, "n", 0, kMaxFloats);
  float* x = buf_arg(info, 1, "x", n);
  const float alpha = static_cast<float>(num_arg(info, 2, "alpha"));
  guarded(info.Env(), "scale", [&] { d.scale(size_t(n), x, alpha); });
}

void Synchronize(const Napi::CallbackInfo& info) {
  Device& d = device(info.Env());
  guarded(info.Env(), "synchronize", [&] { d.synchronize(); });
}

// Buffers left when the environment ends (a worker that stops) go back to the device with it.
void FreeState(Napi::Env, State* s) {
  if (s->dev) {
    for (auto& kv : s->bufs) {
      try {
        s->dev->release(kv.second.p);
      } catch (const std::exception&) {
        // The device is going away with the process or has failed; nothing more to free.
      }
    }
  }
  delete s;
}

Napi::Object Init(Napi::Env env, Napi::Object exports) {
  env.SetInstanceData<State, FreeState>(new State());
  exports.Set("open", Napi::Function::New(env, Open));
  exports.Set("alloc", Napi::Function::New(env, Alloc));
  exports.Set("free", Napi::Function::New(env, Free));
  exports.Set("upload", Napi::Function::New(env, Upload));
  exports.Set("download", Napi::Function::New(env, Download));
  exports.Set("fill", Napi::Function::New(env, FillBuf));
  exports.Set("copy2d", Napi::Function::New(env, Copy2d));
  exports.Set("transpose01", Napi::Function::New(env, Transpose));
  exports.Set("dropout", Napi::Function::New(env, DropoutBuf));
  exports.Set("cellForward", Napi::Function::New(env, CellForward));
  exports.Set("cellBackward", Napi::Function::New(env, CellBackward));
  exports.Set("sgemm", Napi::Function::New(env, Sgemm));
  exports.Set("linearForward", Napi::Function::New(env, LinearForward));
  exports.Set("linearBackward", Napi::Function::New(env, LinearBackward));
  exports.Set("softmaxCrossEntropy", Napi::Function::New(env, SoftmaxCrossEntropy));
  exports.Set("embeddingForward", Napi::Function::New(env, EmbeddingForward));
  exports.Set("embeddingBackward", Napi::Function::New(env, EmbeddingBackward));
  exports.Set("adamStep", Napi::Function::New(env, AdamStep));
  exports.Set("sgdStep", Napi::Function::New(env, SgdStep));
  exports.Set("sumSquares", Napi::Function::New(env, SumSquares));
  exports.Set("scale", Napi::Function::New(env, ScaleBuf));
  exports.Set("synchronize", Napi::Function::New(env, Synchronize));
  return exports;
}

}  // namespace

NODE_API_MODULE(rnnkit_cuda, Init)
