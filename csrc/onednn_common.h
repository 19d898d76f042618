// What the oneDNN kernels for XLA share: the CPU engine, per-thread streams and buffers, the
// thread count, and the FFI handler symbols the Python module hands out (module.cc).
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "oneapi/dnnl/dnnl.hpp"
#include "xla/ffi/api/ffi.h"

#if DNNL_CPU_THREADING_RUNTIME == DNNL_RUNTIME_OMP
#include <omp.h>
#endif

namespace jaxcourse_onednn {

inline dnnl::engine& cpu_engine() {
  static dnnl::engine engine(dnnl::engine::kind::cpu, 0);
  return engine;
}

inline dnnl::stream& thread_stream() {
  thread_local dnnl::stream stream(cpu_engine());
  return stream;
}

// Per-thread, growable, 64-byte aligned buffers, by slot (a call uses them only while it runs).
inline void* arena(size_t slot, size_t bytes) {
  thread_local std::vector<std::vector<char>> buffers;
  if (buffers.size() <= slot) buffers.resize(slot + 1);
  auto& buf = buffers[slot];
  if (buf.size() < bytes + 64) buf.resize(bytes + 64);
  auto addr = reinterpret_cast<uintptr_t>(buf.data());
  return reinterpret_cast<void*>((addr + 63) & ~uintptr_t{63});
}

// oneDNN's threads: as many as the XLA intra-op thread pool the call runs on.
inline void set_threads(xla::ffi::ThreadPool& pool) {
#if DNNL_CPU_THREADING_RUNTIME == DNNL_RUNTIME_OMP
  int64_t n = pool.num_threads();
  if (n > 0 && omp_get_max_threads() != n) omp_set_num_threads(static_cast<int>(n));
#endif
}

// Primitives built once per geometry (`Key`) and kept for the life of the process; the
// lookup is safe from several threads.
template <typename Key, typename Plan>
class PlanCache {
 public:
  template <typename Build>
  const Plan& get(const Key& key, Build&& build) {
    std::lock_guard<std::mutex> lock(mutex_);
    auto& slot = plans_[key];
    if (!slot) slot = build();
    return *slot;
  }

 private:
  std::mutex mutex_;
  std::map<Key, std::unique_ptr<Plan>> plans_;
};

inline xla::ffi::Error failed(const char* what, const dnnl::error& e) {
  return xla::ffi::Error::Internal(std::string("oneDNN ") + what + " failed: " + e.what());
}

// Bytes of the workspace the LSTM's forward pass leaves for its backward pass.
size_t lstm_workspace_bytes(int64_t steps, int64_t batch, int64_t inputs, int64_t units);

// Bytes of the workspace (each window's argmax) max-pooling's forward pass leaves for its
// backward pass: NHWC image, window, strides, paddings (top, bottom, left, right).
size_t pool_workspace_bytes(int64_t n, int64_t h, int64_t w, int64_t c, int64_t kh, int64_t kw,
                            int64_t sh, int64_t sw, int64_t pt, int64_t pb, int64_t pl,
                            int64_t pr);

}  // namespace jaxcourse_onednn

XLA_FFI_DECLARE_HANDLER_SYMBOL(JaxcourseConvForward);
XLA_FFI_DECLARE_HANDLER_SYMBOL(JaxcourseConvForwardBias);
XLA_FFI_DECLARE_HANDLER_SYMBOL(JaxcourseConvInputGrad);
XLA_FFI_DECLARE_HANDLER_SYMBOL(JaxcourseConvWeightGrad);
XLA_FFI_DECLARE_HANDLER_SYMBOL(JaxcourseConvWeightBiasGrad);
XLA_FFI_DECLARE_HANDLER_SYMBOL(JaxcourseLstmForward);
XLA_FFI_DECLARE_HANDLER_SYMBOL(JaxcourseLstmBackward);
XLA_FFI_DECLARE_HANDLER_SYMBOL(JaxcourseMaxPoolForward);
XLA_FFI_DECLARE_HANDLER_SYMBOL(JaxcourseMaxPoolBackward);
