// tlc's MPI binding: a separate addon (build/Release/tlc_mpi.node), loaded only when a
// process runs under an MPI launcher, so a plain `tlc` never needs an MPI library.
//
// The gradient all-reduce sums in rank order, whatever the transport: each rank owns one
// segment of the buffer, receives every rank's copy of it (MPI_Alltoall), adds them as
// ((g0 + g1) + g2) + ..., and the sums are gathered back (MPI_Allgather). The result is the
// same bits on every rank and in every run, and it moves the same bytes as a ring
// all-reduce (2·(N−1)/N of the buffer per rank). MPI_Allreduce leaves the order of its
// additions to the chosen algorithm, so it could not promise that.
#define OMPI_SKIP_MPICXX 1
#include <mpi.h>
#include <napi.h>
#include <dlfcn.h>

#include <cstring>
#include <string>
#include <vector>

namespace {

bool g_initialized = false;
std::vector<float> g_send, g_recv;  // scratch of the all-reduce, grown on demand

[[noreturn]] void Fail(const Napi::Env& env, const std::string& msg) {
  throw Napi::Error::New(env, "mpi: " + msg);
}

void Check(const Napi::Env& env, int rc, const char* what) {
  if (rc == MPI_SUCCESS) return;
  char text[MPI_MAX_ERROR_STRING];
  int len = 0;
  MPI_Error_string(rc, text, &len);
  int rank = -1;
  MPI_Comm_rank(MPI_COMM_WORLD, &rank);
  Fail(env, std::string(what) + " failed on rank " + std::to_string(rank) + ": " + std::string(text, len) +
                " (another rank has probably died)");
}

void RequireInit(const Napi::Env& env) {
  if (!g_initialized) Fail(env, "init() has not been called");
}

// init() -> { rank, size, localRank, localSize, host }
Napi::Value Init(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (!g_initialized) {
    // Open MPI's plugins resolve symbols of libmpi at load time; Node loads addons with
    // RTLD_LOCAL, which would hide them, so the library is promoted to global first.
    dlopen("libmpi.so.40", RTLD_NOW | RTLD_GLOBAL | RTLD_NOLOAD);
    int provided = 0;
    if (MPI_Init_thread(nullptr, nullptr, MPI_THREAD_FUNNELED, &provided) != MPI_SUCCESS) Fail(env, "MPI_Init_thread failed");
    // errors come back as codes and become JS errors naming the rank, not a bare abort
    MPI_Comm_set_errhandler(MPI_COMM_WORLD, MPI_ERRORS_RETURN);
    g_initialized = true;
  }
  int rank = 0, size = 1, local_rank = 0, local_size = 1;
  MPI_Comm_rank(MPI_COMM_WORLD, &rank);
  MPI_Comm_size(MPI_COMM_WORLD, &size);
  MPI_Comm local;
  Check(env, MPI_Comm_split_type(MPI_COMM_WORLD, MPI_COMM_TYPE_SHARED, rank, MPI_INFO_NULL, &local), "MPI_Comm_split_type");
  MPI_Comm_rank(local, &local_rank);
  MPI_Comm_size(local, &local_size);
  MPI_Comm_free(&local);
  char host[MPI_MAX_PROCESSOR_NAME];
  int host_len = 0;
  MPI_Get_processor_name(host, &host_len);
  Napi::Object out = Napi::Object::New(env);
  out.Set("rank", rank);
  out.Set("size", size);
  out.Set("localRank", local_rank);
  out.Set("localSize", local_size);
  out.Set("host", std::string(host, host_len));
  return out;
}

// allreduceSum(buf: Float32Array): in place, summed in rank order (see the top of the file).
// buf: [n] on every rank, the same n.
Napi::Value AllreduceSum(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  RequireInit(env);
  if (info.Length() < 1 || !info[0].IsTypedArray() || info[0].As<Napi::TypedArray>().TypedArrayType() != napi_float32_array) {
    Fail(env, "allreduceSum takes a Float32Array");
  }
  Napi::Float32Array buf = info[0].As<Napi::Float32Array>();
  int size = 1, rank = 0;
  MPI_Comm_size(MPI_COMM_WORLD, &size);
  MPI_Comm_rank(MPI_COMM_WORLD, &rank);
  const size_t n = buf.ElementLength();
  if (size == 1 || n == 0) return env.Undefined();
  const size_t seg = (n + size - 1) / size;
  if (seg > static_cast<size_t>(INT32_MAX)) Fail(env, "allreduceSum: the buffer is too large for one call");
  g_send.assign(seg * size, 0.0f);  // zero padding past n
  g_recv.resize(seg * size);
  std::memcpy(g_send.data(), buf.Data(), n * sizeof(float));
  // g_recv[j·seg + i] = rank j's element (rank·seg + i)
  Check(env, MPI_Alltoall(g_send.data(), static_cast<int>(seg), MPI_FLOAT, g_recv.data(), static_cast<int>(seg), MPI_FLOAT, MPI_COMM_WORLD),
        "MPI_Alltoall");
  float* acc = g_send.data();  // reused: my segment's sums
  std::memcpy(acc, g_recv.data(), seg * sizeof(float));
  for (int j = 1; j < size; j++) {
    const float* part = g_recv.data() + static_cast<size_t>(j) * seg;
    for (size_t i = 0; i < seg; i++) acc[i] += part[i];
  }
  // in place: my sums go to my segment's slot, the others' arrive in theirs
  std::memcpy(g_recv.data() + static_cast<size_t>(rank) * seg, acc, seg * sizeof(float));
  Check(env, MPI_Allgather(MPI_IN_PLACE, 0, MPI_DATATYPE_NULL, g_recv.data(), static_cast<int>(seg), MPI_FLOAT, MPI_COMM_WORLD),
        "MPI_Allgather");
  std::memcpy(buf.Data(), g_recv.data(), n * sizeof(float));
  return env.Undefined();
}

// allgather(values: Float64Array) -> Float64Array [size · values.length], rank-major.
Napi::Value Allgather(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  RequireInit(env);
  if (info.Length() < 1 || !info[0].IsTypedArray() || info[0].As<Napi::TypedArray>().TypedArrayType() != napi_float64_array) {
    Fail(env, "allgather takes a Float64Array");
  }
  Napi::Float64Array values = info[0].As<Napi::Float64Array>();
  int size = 1;
  MPI_Comm_size(MPI_COMM_WORLD, &size);
  const size_t n = values.ElementLength();
  Napi::Float64Array out = Napi::Float64Array::New(env, n * size);
  Check(env, MPI_Allgather(values.Data(), static_cast<int>(n), MPI_DOUBLE, out.Data(), static_cast<int>(n), MPI_DOUBLE, MPI_COMM_WORLD),
        "MPI_Allgather");
  return out;
}

// broadcast(bytes: Uint8Array | null, root: number) -> Uint8Array: root's bytes on every rank.
Napi::Value Broadcast(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  RequireInit(env);
  if (info.Length() < 2 || !info[1].IsNumber()) Fail(env, "broadcast takes (bytes, root)");
  const int root = info[1].As<Napi::Number>().Int32Value();
  int rank = 0;
  MPI_Comm_rank(MPI_COMM_WORLD, &rank);
  uint64_t length = 0;
  Napi::Uint8Array mine;
  if (rank == root) {
    if (!info[0].IsTypedArray() || info[0].As<Napi::TypedArray>().TypedArrayType() != napi_uint8_array) Fail(env, "broadcast: the root gives a Uint8Array");
    mine = info[0].As<Napi::Uint8Array>();
    length = mine.ElementLength();
  }
  Check(env, MPI_Bcast(&length, 1, MPI_UINT64_T, root, MPI_COMM_WORLD), "MPI_Bcast");
  if (length > static_cast<uint64_t>(INT32_MAX)) Fail(env, "broadcast: more than 2^31 - 1 bytes");
  Napi::Uint8Array out = Napi::Uint8Array::New(env, length);
  if (rank == root && length > 0) std::memcpy(out.Data(), mine.Data(), length);
  if (length > 0) Check(env, MPI_Bcast(out.Data(), static_cast<int>(length), MPI_BYTE, root, MPI_COMM_WORLD), "MPI_Bcast");
  return out;
}

Napi::Value Barrier(const Napi::CallbackInfo& info) {
  RequireInit(info.Env());
  Check(info.Env(), MPI_Barrier(MPI_COMM_WORLD), "MPI_Barrier");
  return info.Env().Undefined();
}

Napi::Value Finalize(const Napi::CallbackInfo& info) {
  if (g_initialized) {
    int finalized = 0;
    MPI_Finalized(&finalized);
    if (!finalized) MPI_Finalize();
  }
  return info.Env().Undefined();
}

// abort(code): ends every rank of the job (a rank that cannot go on must not leave the others waiting).
Napi::Value Abort(const Napi::CallbackInfo& info) {
  const int code = info.Length() > 0 && info[0].IsNumber() ? info[0].As<Napi::Number>().Int32Value() : 1;
  if (g_initialized) MPI_Abort(MPI_COMM_WORLD, code);
  return info.Env().Undefined();
}

Napi::Object InitAddon(Napi::Env env, Napi::Object exports) {
  exports.Set("init", Napi::Function::New(env, Init));
  exports.Set("allreduceSum", Napi::Function::New(env, AllreduceSum));
  exports.Set("allgather", Napi::Function::New(env, Allgather));
  exports.Set("broadcast", Napi::Function::New(env, Broadcast));
  exports.Set("barrier", Napi::Function::New(env, Barrier));
  exports.Set("finalize", Napi::Function::New(env, Finalize));
  exports.Set("abort", Napi::Function::New(env, Abort));
  return exports;
}

}  // namespace

NODE_API_MODULE(tlc_mpi, InitAddon)
