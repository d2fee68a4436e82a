// Row gathers and their scatter-add backward: token/position embeddings and
// gatherRows (selecting rows of an activation, e.g. the masked positions of MLM).
//
//   gather       out[i, :] = table[ids[i], :]          ids: [n], table: [V, C] -> out: [n, C]
//   scatter-add  dtable[v, :] (+)= Σ_{i: ids[i] = v} dout[i, :]
//
// The scatter-add is parallel over column blocks: every thread owns a slice of columns
// of the whole table and walks the ids in order, so repeated ids never race and each
// element is summed in position order whatever the thread count (bit-reproducible).
#include <omp.h>

#include <algorithm>
#include <cstring>
#include <string>

#include "args.h"
#include "common.h"

namespace tlc {

namespace {
constexpr int64_t kColBlock = 16;  // one cache line of f32 (when C is a multiple of 16, threads share none)
constexpr int64_t kParallelMinBytes = 1 << 16;

// Which wording an error about a bad index uses, and the names of the fields.
struct IndexWords {
  const char* op;           // "embedding"
  const char* backward_op;  // "embedding backward"
  const char* item;         // one element of the index field: "id"
  const char* before;       // the range, around its size: "the vocabulary of " 8192 ""
  const char* after;
  // fields: the index [n], the gathered tensor [rows, C] and its gradient, n and rows
  const char* index, *source, *source_grad, *count, *rows;
};

constexpr IndexWords kEmbedding{"embedding", "embedding backward", "id", "the vocabulary of ", "",
                                "ids", "table", "dTable", "n", "vocab"};
constexpr IndexWords kGatherRows{"gatherRows", "gatherRows backward", "index", "the ", " rows of the input",
                                 "index", "x", "dx", "m", "rows"};

// Throws on the first index outside [0, rows), naming it and its position. Serial on
// purpose: it runs before any write, and reading n ints costs far less than the gather.
void CheckIndices(const Napi::CallbackInfo& info, const IndexWords& w, const int32_t* ids, int64_t n, int64_t rows) {
  for (int64_t i = 0; i < n; i++) {
    if (ids[i] < 0 || ids[i] >= rows) {
      Fail(info.Env(), std::string(w.op) + ": " + w.item + " " + std::to_string(ids[i]) + " at position " +
                           std::to_string(i) + " is outside " + w.before + std::to_string(rows) + w.after);
    }
  }
}

// ids: [n] (validated), table: [V, C] -> out: [n, C]
void GatherRows(const int32_t* ids, const float* table, float* out, int64_t n, int64_t C) {
  const bool parallel = n * C * 4 > kParallelMinBytes;
#pragma omp parallel for schedule(static) if (parallel)
  for (int64_t i = 0; i < n; i++) std::memcpy(out + i * C, table + static_cast<int64_t>(ids[i]) * C, C * sizeof(float));
}

// ids: [n] (validated), dout: [n, C] -> dtable: [V, C] (+)= scatter of dout rows by id.
// Overwrite mode zeroes the table first (rows no id selects get a zero gradient).
void ScatterAddRows(const int32_t* ids, const float* dout, float* dtable, int64_t n, int64_t V, int64_t C,
                    bool accumulate) {
  const int64_t blocks = (C + kColBlock - 1) / kColBlock;
  const bool parallel = (n + V) * C * 4 > kParallelMinBytes && blocks > 1;
#pragma omp parallel if (parallel)
  {
    const int64_t T = omp_get_num_threads(), t = omp_get_thread_num();
    const int64_t c0 = std::min(C, blocks * t / T * kColBlock);
    const int64_t c1 = std::min(C, blocks * (t + 1) / T * kColBlock);
    const int64_t width = c1 - c0;
    if (width > 0) {
      if (!accumulate)
        for (int64_t v = 0; v < V; v++) std::memset(dtable + v * C + c0, 0, width * sizeof(float));
      for (int64_t i = 0; i < n; i++) {
        float* dst = dtable + static_cast<int64_t>(ids[i]) * C + c0;
        const float* src = dout + i * C + c0;
#pragma omp simd
        for (int64_t c = 0; c < width; c++) dst[c] += src[c];
      }
    }
  }
}

// Shared argument handling of the four exported functions.
// forward({ <index>, <source>, out, <count>, <rows>, channels })
Napi::Value Forward(const Napi::CallbackInfo& info, const IndexWords& w) {
  Args a(info, w.op, {w.index, w.source, "out", w.count, w.rows, "channels"});
  const int64_t n = a.Count(w.count), rows = a.Count(w.rows), C = a.Dim("channels");
  const int32_t* ids = a.I32(w.index, n);
  const float* table = a.F32(w.source, rows * C);
  float* out = a.F32("out", n * C);
  CheckIndices(info, w, ids, n, rows);
  GatherRows(ids, table, out, n, C);
  return info.Env().Undefined();
}

// backward({ <index>, dOut, <source gradient>, <count>, <rows>, channels, accumulate })
Napi::Value Backward(const Napi::CallbackInfo& info, const IndexWords& w) {
  Args a(info, w.backward_op, {w.index, "dOut", w.source_grad, w.count, w.rows, "channels", "accumulate"});
  const int64_t n = a.Count(w.count), rows = a.Count(w.rows), C = a.Dim("channels");
  const bool acc = a.Bool("accumulate");
  const int32_t* ids = a.I32(w.index, n);
  const float* dout = a.F32("dOut", n * C);
  float* dtable = a.F32(w.source_grad, rows * C);
  CheckIndices(info, w, ids, n, rows);  // the ids may have been overwritten since forward
  ScatterAddRows(ids, dout, dtable, n, rows, C, acc);
  return info.Env().Undefined();
}
}  // namespace

// embeddingForward({ ids, table, out, n, vocab, channels })
//   ids: [n] i32, table: [vocab, channels] -> out: [n, channels]
static Napi::Value EmbeddingForward(const Napi::CallbackInfo& info) { return Forward(info, kEmbedding); }

// embeddingBackward({ ids, dOut, dTable, n, vocab, channels, accumulate })
//   ids: [n] i32, dOut: [n, channels] -> dTable: [vocab, channels]
static Napi::Value EmbeddingBackward(const Napi::CallbackInfo& info) { return Backward(info, kEmbedding); }

// gatherRowsForward({ index, x, out, m, rows, channels })
//   index: [m] i32, x: [rows, channels] -> out: [m, channels]
static Napi::Value GatherRowsForward(const Napi::CallbackInfo& info) { return Forward(info, kGatherRows); }

// gatherRowsBackward({ index, dOut, dx, m, rows, channels, accumulate })
//   index: [m] i32, dOut: [m, channels] -> dx: [rows, channels]
static Napi::Value GatherRowsBackward(const Napi::CallbackInfo& info) { return Backward(info, kGatherRows); }

void RegisterEmbedding(Napi::Env env, Napi::Object exports) {
  exports.Set("embeddingForward", Napi::Function::New(env, Guarded<EmbeddingForward>));
  exports.Set("embeddingBackward", Napi::Function::New(env, Guarded<EmbeddingBackward>));
  exports.Set("gatherRowsForward", Napi::Function::New(env, Guarded<GatherRowsForward>));
  exports.Set("gatherRowsBackward", Napi::Function::New(env, Guarded<GatherRowsBackward>));
}

}  // namespace tlc
