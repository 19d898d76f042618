// Max-pooling of float32 NHWC images through oneDNN, as XLA FFI handlers
// (jaxcourse/kernels/onednn_pool.py wraps them in a jax.custom_vjp):
//   forward   x             -> y, workspace   (training: the workspace holds each window's argmax)
//   backward  dy, workspace -> dx             (each window's gradient to its argmax)
// Window, strides and explicit paddings are attributes. oneDNN reads and writes XLA's NHWC
// buffers in place (no reorders); each geometry's primitives are built once (cached), their
// scratchpads live in per-thread arenas. A batch runs in parts, one single-threaded oneDNN
// call per XLA pool thread (`run_parts`), or whole on the pool's size of OpenMP threads.

#include <array>
#include <cstdint>
#include <memory>
#include <string>

#include "onednn_common.h"

namespace ffi = xla::ffi;
using dnnl::memory;
using namespace jaxcourse_onednn;

namespace {

// The shapes, window, strides and paddings; the output's height and width follow from them.
struct Geometry {
  int64_t n, h, w, c, kh, kw, sh, sw, pt, pb, pl, pr;

  auto key() const { return std::array<int64_t, 12>{n, h, w, c, kh, kw, sh, sw, pt, pb, pl, pr}; }
  int64_t oh() const { return (h + pt + pb - kh) / sh + 1; }
  int64_t ow() const { return (w + pl + pr - kw) / sw + 1; }
  memory::desc src() const {
    return memory::desc({n, c, h, w}, memory::data_type::f32, memory::format_tag::nhwc);
  }
  memory::desc dst() const {
    return memory::desc({n, c, oh(), ow()}, memory::data_type::f32, memory::format_tag::nhwc);
  }
  memory::dims kernel() const { return {kh, kw}; }
  memory::dims strides() const { return {sh, sw}; }
  memory::dims pad_l() const { return {pt, pl}; }
  memory::dims pad_r() const { return {pb, pr}; }
};

struct PoolPlan {
  dnnl::pooling_forward::primitive_desc fwd_pd;
  dnnl::pooling_backward::primitive_desc bwd_pd;
  dnnl::pooling_forward fwd;
  dnnl::pooling_backward bwd;
};

std::unique_ptr<PoolPlan> build(const Geometry& g) {
  auto plan = std::make_unique<PoolPlan>();
  auto& eng = cpu_engine();
  auto alg = dnnl::algorithm::pooling_max;
  dnnl::primitive_attr attr;
  attr.set_scratchpad_mode(dnnl::scratchpad_mode::user);
#if DNNL_VERSION_MAJOR >= 3
  memory::dims no_dilation = {0, 0};
  plan->fwd_pd = dnnl::pooling_forward::primitive_desc(
      eng, dnnl::prop_kind::forward_training, alg, g.src(), g.dst(), g.strides(), g.kernel(),
      no_dilation, g.pad_l(), g.pad_r(), attr);
  plan->bwd_pd = dnnl::pooling_backward::primitive_desc(
      eng, alg, g.src(), g.dst(), g.strides(), g.kernel(), no_dilation, g.pad_l(), g.pad_r(),
      plan->fwd_pd, attr);
#else
  plan->fwd_pd = dnnl::pooling_forward::primitive_desc(
      {dnnl::prop_kind::forward_training, alg, g.src(), g.dst(), g.strides(), g.kernel(),
       g.pad_l(), g.pad_r()},
      attr, eng);
  plan->bwd_pd = dnnl::pooling_backward::primitive_desc(
      {alg, g.src(), g.dst(), g.strides(), g.kernel(), g.pad_l(), g.pad_r()}, attr, eng,
      plan->fwd_pd);
#endif
  plan->fwd = dnnl::pooling_forward(plan->fwd_pd);
  plan->bwd = dnnl::pooling_backward(plan->bwd_pd);
  return plan;
}

const PoolPlan& plan_for(const Geometry& g) {
  static PlanCache<std::array<int64_t, 12>, PoolPlan> plans;
  return plans.get(g.key(), [&] { return build(g); });
}

using F32 = ffi::Buffer<ffi::F32, 4>;
using Bytes = ffi::Buffer<ffi::U8, 1>;

Geometry geometry(const F32::Dimensions& img, int64_t kh, int64_t kw, int64_t sh, int64_t sw,
                  int64_t pt, int64_t pb, int64_t pl, int64_t pr) {
  return Geometry{img[0], img[1], img[2], img[3], kh, kw, sh, sw, pt, pb, pl, pr};
}

// The checks XLA cannot make: the pooled shape and the workspace size the geometry implies.
ffi::Error mismatch(const Geometry& g, const PoolPlan& p, const F32::Dimensions& out,
                    const Bytes::Dimensions& workspace) {
  if (out[0] != g.n || out[1] != g.oh() || out[2] != g.ow() || out[3] != g.c)
    return ffi::Error::InvalidArgument("oneDNN max pooling: output shape does not match");
  if (workspace[0] != static_cast<int64_t>(p.fwd_pd.workspace_desc().get_size()))
    return ffi::Error::InvalidArgument("oneDNN max pooling: workspace size does not match");
  return ffi::Error::Success();
}

#define POOL_ATTRS                                                                          \
  .Attr<int64_t>("window_h").Attr<int64_t>("window_w").Attr<int64_t>("stride_h")           \
      .Attr<int64_t>("stride_w").Attr<int64_t>("pad_top").Attr<int64_t>("pad_bottom")       \
      .Attr<int64_t>("pad_left").Attr<int64_t>("pad_right")

// Pools examples [first, first + count) of the batch `g` (pointers to the whole batch's
// buffers), forward (`backward` false: src -> dst, workspace) or backward (diff_dst,
// workspace -> diff_src), on this thread's oneDNN threads.
void pool_part(const Geometry& g, int64_t first, int64_t count, bool backward, float* src,
               float* dst, uint8_t* workspace) {
  Geometry part = g;
  part.n = count;
  const PoolPlan& p = plan_for(part);
  auto& eng = cpu_engine();
  size_t ws_per_example = p.fwd_pd.workspace_desc().get_size() / count;
  memory image(p.fwd_pd.src_desc(), eng, src + first * g.h * g.w * g.c);
  memory pooled(p.fwd_pd.dst_desc(), eng, dst + first * g.oh() * g.ow() * g.c);
  memory ws(p.fwd_pd.workspace_desc(), eng, workspace + first * ws_per_example);
  const auto& scratch = backward ? p.bwd_pd.scratchpad_desc() : p.fwd_pd.scratchpad_desc();
  memory scratchpad(scratch, eng, arena(0, scratch.get_size()));
  if (backward)
    p.bwd.execute(thread_stream(), {{DNNL_ARG_DIFF_DST, pooled}, {DNNL_ARG_WORKSPACE, ws},
                                    {DNNL_ARG_DIFF_SRC, image}, {DNNL_ARG_SCRATCHPAD, scratchpad}});
  else
    p.fwd.execute(thread_stream(), {{DNNL_ARG_SRC, image}, {DNNL_ARG_DST, pooled},
                                    {DNNL_ARG_WORKSPACE, ws}, {DNNL_ARG_SCRATCHPAD, scratchpad}});
  thread_stream().wait();
}

// True when the workspace of a batch is its examples' workspaces one after the other, as
// splitting the batch over threads (`run_parts`) needs.
bool workspace_per_example(const Geometry& g) {
  Geometry one = g;
  one.n = 1;
  return plan_for(g).fwd_pd.workspace_desc().get_size() ==
         g.n * plan_for(one).fwd_pd.workspace_desc().get_size();
}

// The batch in parts on XLA's pool (`run_parts`), or whole on the pool's OpenMP threads.
ffi::Error pool_batch(const Geometry& g, ffi::ThreadPool& pool, bool backward, float* src,
                      float* dst, uint8_t* workspace) {
  int64_t parts = workspace_per_example(g) ? batch_parts(pool, g.n, /*min_part=*/4) : 1;
  std::string error = run_parts(pool, parts, [&](int64_t k) {
    auto [first, count] = part_range(g.n, parts, k);
    pool_part(g, first, count, backward, src, dst, workspace);
    return std::string();
  });
  if (!error.empty()) return ffi::Error::Internal("oneDNN max pooling failed: " + error);
  return ffi::Error::Success();
}

ffi::Error Forward(ffi::ThreadPool pool, F32 x, ffi::Result<F32> y, ffi::Result<Bytes> workspace,
                   int64_t kh, int64_t kw, int64_t sh, int64_t sw, int64_t pt, int64_t pb,
                   int64_t pl, int64_t pr) {
  auto g = geometry(x.dimensions(), kh, kw, sh, sw, pt, pb, pl, pr);
  try {
    if (auto error = mismatch(g, plan_for(g), y->dimensions(), workspace->dimensions());
        error.failure())
      return error;
    return pool_batch(g, pool, false, x.typed_data(), y->typed_data(),
                      workspace->typed_data());
  } catch (const dnnl::error& e) {
    return failed("max pooling forward", e);
  }
}

ffi::Error Backward(ffi::ThreadPool pool, F32 dy, Bytes workspace, ffi::Result<F32> dx,
                    int64_t kh, int64_t kw, int64_t sh, int64_t sw, int64_t pt, int64_t pb,
                    int64_t pl, int64_t pr) {
  auto g = geometry(dx->dimensions(), kh, kw, sh, sw, pt, pb, pl, pr);
  try {
    if (auto error = mismatch(g, plan_for(g), dy.dimensions(), workspace.dimensions());
        error.failure())
      return error;
    return pool_batch(g, pool, true, dx->typed_data(), dy.typed_data(), workspace.typed_data());
  } catch (const dnnl::error& e) {
    return failed("max pooling backward", e);
  }
}

}  // namespace

size_t jaxcourse_onednn::pool_workspace_bytes(int64_t n, int64_t h, int64_t w, int64_t c,
                                              int64_t kh, int64_t kw, int64_t sh, int64_t sw,
                                              int64_t pt, int64_t pb, int64_t pl, int64_t pr) {
  Geometry g{n, h, w, c, kh, kw, sh, sw, pt, pb, pl, pr};
  return plan_for(g).fwd_pd.workspace_desc().get_size();
}

XLA_FFI_DEFINE_HANDLER_SYMBOL(JaxcourseMaxPoolForward, Forward,
                              ffi::Ffi::Bind()
                                  .Ctx<ffi::ThreadPool>()
                                  .Arg<F32>()
                                  .Ret<F32>()
                                  .Ret<Bytes>() POOL_ATTRS);

XLA_FFI_DEFINE_HANDLER_SYMBOL(JaxcourseMaxPoolBackward, Backward,
                              ffi::Ffi::Bind()
                                  .Ctx<ffi::ThreadPool>()
                                  .Arg<F32>()
                                  .Arg<Bytes>()
                                  .Ret<F32>() POOL_ATTRS);
