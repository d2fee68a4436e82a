// The one oneDNN engine and stream every op family runs on (CPU, in-order).
#pragma once
#include <dnnl.hpp>

namespace tlc {
dnnl::engine& DnnlEngine();
dnnl::stream& DnnlStream();

// A matmul primitive c (+)= a·b (+ bias), the sum post-op when `accumulate`: the one way both
// the f32 and the bf16 linear kernels build theirs (bias null: none).
dnnl::matmul MakeMatmul(const dnnl::memory::desc& a, const dnnl::memory::desc& b, const dnnl::memory::desc* bias,
                        const dnnl::memory::desc& c, bool accumulate);
}  // namespace tlc
