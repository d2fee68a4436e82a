// Named arguments: every op with more than a few arguments takes one JavaScript object,
//
//   linearForward({ x, w, b, y, m, k, n })
//
// and reads its fields by name through Args. An op lists every field it knows when it
// constructs its Args; the object may hold no other field (a misspelling is an error, not
// a silent default) and a field the op reads must be present (undefined counts as
// missing). Each reader checks like the index-based helpers of common.h and names the op
// and the field in its error:
//
//   attention backward: field "headSize" must be a positive integer, got -1
//   attention backward: missing field "tq"
//   attention backward: unknown field "headsize"
//
// Reading the fields is one property look-up per declared field and one count of the
// object's keys per call (a fraction of a microsecond per field); nothing is per element.
#pragma once
#include <initializer_list>
#include <string>

#include "common.h"

namespace tlc {

class Args {
 public:
  static constexpr size_t kMaxFields = 32;

  // info[0] is the op's argument object; `fields` lists every field it may hold.
  Args(const Napi::CallbackInfo& info, const char* op, std::initializer_list<const char*> fields);

  Napi::Env Env() const { return env_; }
  const char* Op() const { return op_; }

  // Present (and not undefined).
  bool Has(const char* field) const;
  // Present and null.
  bool IsNull(const char* field) const;
  // The raw value of a present field.
  Napi::Value Value(const char* field) const;

  // A live tensor; F32/I32/U8 also check its dtype and that it holds at least `min_elems` elements.
  Storage* Tensor(const char* field) const;
  // The dtype of a live tensor field (for ops that take either f32 or bf16 there).
  DType DTypeOf(const char* field) const { return Tensor(field)->dtype; }
  float* F32(const char* field, int64_t min_elems) const;
  int32_t* I32(const char* field, int64_t min_elems) const;
  uint8_t* U8(const char* field, int64_t min_elems) const;
  // bfloat16 storage (raw 16-bit patterns).
  uint16_t* Bf16(const char* field, int64_t min_elems) const;
  // Optional tensors: the field is present and either null (nullptr) or a tensor as above.
  float* OptF32(const char* field, int64_t min_elems) const;
  uint8_t* OptU8(const char* field, int64_t min_elems) const;

  int64_t Int(const char* field) const;    // an integer (exact in a double)
  int64_t Count(const char* field) const;  // an integer >= 0
  int64_t Dim(const char* field) const;    // an integer >= 1
  double Num(const char* field) const;     // any number
  double Num(const char* field, double absent) const;  // optional: `absent` when not given
  bool Bool(const char* field) const;
  std::string String(const char* field) const;
  // An array of exactly `length` entries.
  Napi::Array Array(const char* field, uint32_t length) const;
  // An array of any length.
  Napi::Array Array(const char* field) const;
  // Entry k of an array field, checked like F32 / Num ("field "grads" entry 3 ...").
  float* F32At(const Napi::Array& arr, uint32_t k, const char* field, int64_t min_elems) const;
  double NumAt(const Napi::Array& arr, uint32_t k, const char* field) const;

  // Throws "<op>: field "<field>" <what>".
  [[noreturn]] void Fail(const char* field, const std::string& what) const;
  // Throws "<op>: <what>" (a check that involves several fields).
  [[noreturn]] void Fail(const std::string& what) const;

 private:
  void RefuseUnknown(const Napi::Array& keys) const;
  size_t Index(const char* field) const;
  Napi::Value Required(const char* field) const;
  void* Typed(const Napi::Value& v, const std::string& name, int64_t min_elems, DType want) const;
  int64_t Integer(const char* field, int64_t min, const char* what) const;

  Napi::Env env_;
  const char* op_;
  const char* names_[kMaxFields];
  size_t count_ = 0;
  Napi::Value values_[kMaxFields];  // empty where the object lacks the field
};

// A short description of a JS value for error messages: -1, 2.5, true, null, a string, ...
std::string DescribeValue(const Napi::Value& v);

}  // namespace tlc
