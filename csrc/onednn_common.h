// What the oneDNN kernels for XLA share: the CPU engine, per-thread streams and buffers, the
// thread count, a batch split over XLA's thread pool, and the FFI handler symbols the Python
// module hands out (module.cc).
#pragma once

#include <sched.h>

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <cstdlib>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <utility>
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

// oneDNN's OpenMP threads for the primitives this thread runs from now on.
inline void set_threads(int64_t n) {
#if DNNL_CPU_THREADING_RUNTIME == DNNL_RUNTIME_OMP
  if (n > 0 && omp_get_max_threads() != n) omp_set_num_threads(static_cast<int>(n));
#endif
}

// oneDNN's threads: as many as the XLA intra-op thread pool the call runs on.
inline void set_threads(xla::ffi::ThreadPool& pool) { set_threads(pool.num_threads()); }

// The cores this process may run on (what sizes XLA's CPU thread pool).
inline int64_t available_cores() {
  cpu_set_t set;
  if (sched_getaffinity(0, sizeof(set), &set) == 0) return std::max(1, CPU_COUNT(&set));
  return std::max<int64_t>(1, std::thread::hardware_concurrency());
}

// How many parts to split a batch of `n` into (one single-threaded oneDNN call each, spread
// over XLA's pool by `run_parts`): one per pool thread, each of at least `min_part` examples.
// 1 means: run the whole batch in one call with the pool's size of OpenMP threads, as always
// when JAXCOURSE_ONEDNN_BATCH_SPLIT=0 (read at each call, so a benchmark can switch it).
inline int64_t batch_parts(xla::ffi::ThreadPool& pool, int64_t n, int64_t min_part) {
  const char* split = std::getenv("JAXCOURSE_ONEDNN_BATCH_SPLIT");
  if (split && std::string(split) == "0") return 1;
  int64_t threads = pool.num_threads();
  int64_t by_size = min_part > 0 ? n / min_part : n;
  return std::max<int64_t>(1, std::min(threads, by_size));
}

// Examples [first, first + count) of part `k` of `parts` of a batch of `n` (sizes differ by
// at most one).
inline std::pair<int64_t, int64_t> part_range(int64_t n, int64_t parts, int64_t k) {
  int64_t base = n / parts, extra = n % parts;
  return {k * base + std::min(k, extra), base + (k < extra ? 1 : 0)};
}

// Runs `work(k)` (returning an error message, empty on success) for each part k < parts,
// oneDNN on one thread in each: the calling thread and parts - 1 tasks scheduled on XLA's
// pool take parts from a shared counter, so a part never waits for a pool thread that is busy
// elsewhere (the caller takes it). Returns once every part is done: the first error or "".
// One part (a batch too small to split) runs on the calling thread with the pool's size of
// OpenMP threads.
// Why not oneDNN's OpenMP threads: XLA runs independent thunks on its pool at the same time,
// and OpenMP teams on busy cores wait at every barrier (docs/performance.md).
template <typename Work>
std::string run_parts(xla::ffi::ThreadPool& pool, int64_t parts, Work&& work) {
  if (parts == 1) {
    set_threads(pool);
    return work(0);
  }
  struct Shared {
    std::atomic<int64_t> next{0};
    std::mutex mutex;
    std::condition_variable all_done;
    int64_t done = 0;
    std::string error;
  };
  auto shared = std::make_shared<Shared>();
  // A late task finds no part left and touches only `shared`, which it keeps alive.
  auto take_parts = [shared, parts, &work] {
    for (int64_t k; (k = shared->next.fetch_add(1)) < parts;) {
      set_threads(1);
      std::string error;
      try {
        error = work(k);
      } catch (const std::exception& e) {
        error = e.what();
      }
      std::lock_guard<std::mutex> lock(shared->mutex);
      if (!error.empty() && shared->error.empty()) shared->error = error;
      if (++shared->done == parts) shared->all_done.notify_all();
    }
  };
  using Task = std::function<void()>;
  for (int64_t i = 1; i < parts; ++i) pool.Schedule(Task(take_parts));
  take_parts();
  std::unique_lock<std::mutex> lock(shared->mutex);
  shared->all_done.wait(lock, [&] { return shared->done == parts; });
  return shared->error;
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
