// Named arguments of the native ops: see args.h.
#include "args.h"

#include <cmath>
#include <cstdio>
#include <cstring>

namespace tlc {

namespace {
std::string FieldList(const char* const* names, size_t count) {
  std::string s;
  for (size_t i = 0; i < count; i++) s += (i ? ", " : "") + std::string(names[i]);
  return s;
}

std::string FormatNumber(double d) {
  if (std::isfinite(d) && d == std::floor(d) && std::fabs(d) < 1e15) return std::to_string(static_cast<int64_t>(d));
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.17g", d);
  return buf;
}
}  // namespace

std::string DescribeValue(const Napi::Value& v) {
  switch (v.Type()) {
    case napi_undefined: return "undefined";
    case napi_null: return "null";
    case napi_boolean: return v.As<Napi::Boolean>().Value() ? "true" : "false";
    case napi_number: return FormatNumber(v.As<Napi::Number>().DoubleValue());
    case napi_string: return "a string";
    case napi_bigint: return "a bigint";
    case napi_function: return "a function";
    default: return v.IsArray() ? "an array" : v.IsTypedArray() ? "a typed array" : "an object";
  }
}

Args::Args(const Napi::CallbackInfo& info, const char* op, std::initializer_list<const char*> fields)
    : env_(info.Env()), op_(op) {
  for (const char* f : fields) {
    if (count_ == kMaxFields) Fail(std::string("too many fields (") + std::to_string(fields.size()) + ")");
    names_[count_++] = f;
  }
  if (info.Length() != 1 || !info[0].IsObject() || info[0].IsArray() || info[0].IsTypedArray() || info[0].IsFunction())
    Fail("takes one object of named arguments { " + FieldList(names_, count_) + " }, got " +
         std::to_string(info.Length()) + " argument" + (info.Length() == 1 ? " (" + DescribeValue(info[0]) + ")" : "s"));
  // Each declared field is looked up by name; then the object's own enumerable keys are
  // counted: more keys than fields found means a field the op does not know, and only then
  // are the keys walked to name it.
  napi_env env = env_;
  napi_value obj = info[0];
  uint32_t found = 0;
  for (size_t idx = 0; idx < count_; idx++) {
    napi_value value;
    NAPI_THROW_IF_FAILED_VOID(env, napi_get_named_property(env, obj, names_[idx], &value));
    Napi::Value v(env, value);
    if (!v.IsUndefined()) {
      values_[idx] = v;
      found++;
    }
  }
  napi_value keys;
  NAPI_THROW_IF_FAILED_VOID(env, napi_get_all_property_names(env, obj, napi_key_own_only,
                                                             static_cast<napi_key_filter>(napi_key_enumerable | napi_key_skip_symbols),
                                                             napi_key_numbers_to_strings, &keys));
  uint32_t n = 0;
  NAPI_THROW_IF_FAILED_VOID(env, napi_get_array_length(env, keys, &n));
  if (n != found) RefuseUnknown(Napi::Value(env, keys).As<Napi::Array>());
}

// Throws naming the first key that is not a declared field. Keys that are all declared
// (a field given as undefined) are accepted.
void Args::RefuseUnknown(const Napi::Array& keys) const {
  const uint32_t n = keys.Length();
  for (uint32_t i = 0; i < n; i++) {
    const std::string name = keys.Get(i).ToString().Utf8Value();
    size_t idx = 0;
    while (idx < count_ && name != names_[idx]) idx++;
    if (idx == count_) Fail("unknown field \"" + name + "\" (the fields are " + FieldList(names_, count_) + ")");
  }
}

[[noreturn]] void Args::Fail(const char* field, const std::string& what) const {
  throw Napi::Error::New(env_, std::string(op_) + ": field \"" + field + "\" " + what);
}

[[noreturn]] void Args::Fail(const std::string& what) const {
  throw Napi::Error::New(env_, std::string(op_) + ": " + what);
}

size_t Args::Index(const char* field) const {
  for (size_t i = 0; i < count_; i++)
    if (std::strcmp(names_[i], field) == 0) return i;
  // The op reads a field it did not declare: a bug in the op, reported as one.
  Fail(field, "is read but not declared by the op");
}

bool Args::Has(const char* field) const { return !values_[Index(field)].IsEmpty(); }

bool Args::IsNull(const char* field) const {
  const Napi::Value& v = values_[Index(field)];
  return !v.IsEmpty() && v.IsNull();
}

Napi::Value Args::Required(const char* field) const {
  const Napi::Value& v = values_[Index(field)];
  if (v.IsEmpty()) Fail(std::string("missing field \"") + field + "\"");
  return v;
}

Napi::Value Args::Value(const char* field) const { return Required(field); }

void* Args::Typed(const Napi::Value& v, const std::string& name, int64_t min_elems, DType want) const {
  bool stale = false;
  Storage* s = LookupStorage(v, &stale);
  if (stale) Fail(name + " was used after it was disposed");
  if (!s) Fail(name + " is not a tensor (got " + DescribeValue(v) + ")");
  if (s->dtype != want) Fail(name + " has dtype " + DTypeName(s->dtype) + ", expected " + DTypeName(want));
  if (min_elems < 0) Fail(name + ": the op computed a negative size " + std::to_string(min_elems));
  if (s->bytes < static_cast<size_t>(min_elems) * DTypeBytes(want))
    Fail(name + " holds " + std::to_string(s->bytes / DTypeBytes(want)) + " elements, the op needs " +
         std::to_string(min_elems));
  return s->data;
}

static std::string Quoted(const char* field) { return std::string("field \"") + field + "\""; }

Storage* Args::Tensor(const char* field) const {
  Napi::Value v = Required(field);
  bool stale = false;
  Storage* s = LookupStorage(v, &stale);
  if (stale) Fail(field, "was used after it was disposed");
  if (!s) Fail(field, "is not a tensor (got " + DescribeValue(v) + ")");
  return s;
}

float* Args::F32(const char* field, int64_t n) const {
  return static_cast<float*>(Typed(Required(field), Quoted(field), n, DType::f32));
}
int32_t* Args::I32(const char* field, int64_t n) const {
  return static_cast<int32_t*>(Typed(Required(field), Quoted(field), n, DType::i32));
}
uint8_t* Args::U8(const char* field, int64_t n) const {
  return static_cast<uint8_t*>(Typed(Required(field), Quoted(field), n, DType::u8));
}
uint16_t* Args::Bf16(const char* field, int64_t n) const {
  return static_cast<uint16_t*>(Typed(Required(field), Quoted(field), n, DType::bf16));
}
float* Args::OptF32(const char* field, int64_t n) const {
  Napi::Value v = Required(field);
  return v.IsNull() ? nullptr : static_cast<float*>(Typed(v, Quoted(field), n, DType::f32));
}
uint8_t* Args::OptU8(const char* field, int64_t n) const {
  Napi::Value v = Required(field);
  return v.IsNull() ? nullptr : static_cast<uint8_t*>(Typed(v, Quoted(field), n, DType::u8));
}

int64_t Args::Integer(const char* field, int64_t min, const char* what) const {
  Napi::Value v = Required(field);
  const double d = v.IsNumber() ? v.As<Napi::Number>().DoubleValue() : NAN;
  if (!std::isfinite(d) || d != std::floor(d) || std::fabs(d) > 9.0e15 || d < static_cast<double>(min))
    Fail(field, std::string("must be ") + what + ", got " + DescribeValue(v));
  return static_cast<int64_t>(d);
}

int64_t Args::Int(const char* field) const { return Integer(field, INT64_MIN, "an integer"); }
int64_t Args::Count(const char* field) const { return Integer(field, 0, "a non-negative integer"); }
int64_t Args::Dim(const char* field) const { return Integer(field, 1, "a positive integer"); }

double Args::Num(const char* field) const {
  Napi::Value v = Required(field);
  if (!v.IsNumber()) Fail(field, "must be a number, got " + DescribeValue(v));
  return v.As<Napi::Number>().DoubleValue();
}

double Args::Num(const char* field, double absent) const { return Has(field) ? Num(field) : absent; }

bool Args::Bool(const char* field) const {
  Napi::Value v = Required(field);
  if (!v.IsBoolean()) Fail(field, "must be a boolean, got " + DescribeValue(v));
  return v.As<Napi::Boolean>().Value();
}

std::string Args::String(const char* field) const {
  Napi::Value v = Required(field);
  if (!v.IsString()) Fail(field, "must be a string, got " + DescribeValue(v));
  return v.As<Napi::String>().Utf8Value();
}

Napi::Array Args::Array(const char* field) const {
  Napi::Value v = Required(field);
  if (!v.IsArray()) Fail(field, "must be an array, got " + DescribeValue(v));
  return v.As<Napi::Array>();
}

Napi::Array Args::Array(const char* field, uint32_t length) const {
  Napi::Array arr = Array(field);
  if (arr.Length() != length)
    Fail(field, "has " + std::to_string(arr.Length()) + " entries, expected " + std::to_string(length));
  return arr;
}

float* Args::F32At(const Napi::Array& arr, uint32_t k, const char* field, int64_t n) const {
  return static_cast<float*>(Typed(arr.Get(k), Quoted(field) + " entry " + std::to_string(k), n, DType::f32));
}

double Args::NumAt(const Napi::Array& arr, uint32_t k, const char* field) const {
  Napi::Value v = arr.Get(k);
  if (!v.IsNumber()) Fail(field, "entry " + std::to_string(k) + " must be a number, got " + DescribeValue(v));
  return v.As<Napi::Number>().DoubleValue();
}

}  // namespace tlc
