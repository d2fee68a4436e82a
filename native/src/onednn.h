// The one oneDNN engine and stream every op family runs on (CPU, in-order).
#pragma once
#include <dnnl.hpp>

namespace tlc {
dnnl::engine& DnnlEngine();
dnnl::stream& DnnlStream();
}  // namespace tlc
