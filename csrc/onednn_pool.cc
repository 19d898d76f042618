// Max-pooling of float32 NHWC images through oneDNN, as XLA FFI handlers
// (jaxcourse/kernels/onednn_pool.py wraps them in a jax.custom_vjp):
//   forward   x             -> y, workspace   (training: the workspace holds each window's argmax)
//   backward  dy, workspace -> dx             (each window's gradient to its argmax)
// Window, strides and explicit paddings are attributes. oneDNN reads and writes XLA's NHWC
// buffers in place (no reorders); each geometry's primitives are built once (cached), their
// scratchpads live in per-thread arenas. oneDNN's threads are set to the size of the XLA
// intra-op thread pool the call runs on.

#include <array>
#include <cstdint>
#include <memory>

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

ffi::Error Forward(ffi::ThreadPool pool, F32 x, ffi::Result<F32> y, ffi::Result<Bytes> workspace,
                   int64_t kh, int64_t kw, int64_t sh, int64_t sw, int64_t pt, int64_t pb,
                   int64_t pl, int64_t pr) {
  auto g = geometry(x.dimensions(), kh, kw, sh, sw, pt, pb, pl, pr);
  try {
    set_threads(pool);
    const PoolPlan& p = plan_for(g);
    if (auto error = mismatch(g, p, y->dimensions(), workspace->dimensions()); error.failure())
      return error;
    auto& eng = cpu_engine();
    const auto& pd = p.fwd_pd;
    p.fwd.execute(
        thread_stream(),
        {{DNNL_ARG_SRC, memory(pd.src_desc(), eng, x.untyped_data())},
         {DNNL_ARG_DST, memory(pd.dst_desc(), eng, y->untyped_data())},
         {DNNL_ARG_WORKSPACE, memory(pd.workspace_desc(), eng, workspace->untyped_data())},
         {DNNL_ARG_SCRATCHPAD,
          memory(pd.scratchpad_desc(), eng, arena(0, pd.scratchpad_desc().get_size()))}});
    thread_stream().wait();
  } catch (const dnnl::error& e) {
    return failed("max pooling forward", e);
  }
  return ffi::Error::Success();
}

ffi::Error Backward(ffi::ThreadPool pool, F32 dy, Bytes workspace, ffi::Result<F32> dx,
                    int64_t kh, int64_t kw, int64_t sh, int64_t sw, int64_t pt, int64_t pb,
                    int64_t pl, int64_t pr) {
  auto g = geometry(dx->dimensions(), kh, kw, sh, sw, pt, pb, pl, pr);
  try {
    set_threads(pool);
    const PoolPlan& p = plan_for(g);
    if (auto error = mismatch(g, p, dy.dimensions(), workspace.dimensions()); error.failure())
      return error;
    auto& eng = cpu_engine();
    const auto& pd = p.bwd_pd;
    p.bwd.execute(
        thread_stream(),
        {{DNNL_ARG_DIFF_DST, memory(pd.diff_dst_desc(), eng, dy.untyped_data())},
         {DNNL_ARG_WORKSPACE, memory(pd.workspace_desc(), eng, workspace.untyped_data())},
         {DNNL_ARG_DIFF_SRC, memory(pd.diff_src_desc(), eng, dx->untyped_data())},
         {DNNL_ARG_SCRATCHPAD,
          memory(pd.scratchpad_desc(), eng, arena(0, pd.scratchpad_desc().get_size()))}});
    thread_stream().wait();
  } catch (const dnnl::error& e) {
    return failed("max pooling backward", e);
  }
  return ffi::Error::Success();
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
