// 2-D convolution of float32 NHWC images with HWIO kernels through oneDNN, as XLA FFI handlers.
//
// Three passes of `conv2d` (jaxcourse/kernels/onednn_conv.py wraps them in a jax.custom_vjp):
//   forward            (x, w[, b]) -> y        optional bias and ReLU fused as oneDNN post-ops
//   input gradient     (dy, w)     -> dx
//   weight gradient    (x, dy)     -> dw[, db] optional bias gradient computed by the same call
// Strides and explicit paddings are attributes. Each distinct geometry builds its oneDNN
// primitives once (cached): the convolution with the layouts oneDNN prefers for it ("any"),
// and the reorders between those and XLA's row-major NHWC/HWIO buffers. Blocked intermediate
// buffers live in per-thread arenas, so a call allocates nothing once warm. A batch of at
// least 4 examples per XLA pool thread runs in parts, one single-threaded oneDNN call per
// thread (`run_parts`; the weight and bias gradients summed); a smaller one runs whole on the
// pool's size of OpenMP threads.

#include <array>
#include <cstdint>
#include <memory>
#include <string>
#include <unordered_map>
#include <vector>

#include "onednn_common.h"

namespace ffi = xla::ffi;
using dnnl::memory;
using namespace jaxcourse_onednn;

namespace {

enum class Pass : int64_t { kForward, kInputGrad, kWeightGrad };

// Everything that decides a primitive: the pass, the shapes, strides, paddings and fusions.
struct Geometry {
  Pass pass;
  int64_t n, h, w, c, o, kh, kw, oh, ow;
  int64_t sh, sw, pt, pb, pl, pr;
  bool bias, relu, blocked;

  auto key() const {
    return std::array<int64_t, 19>{static_cast<int64_t>(pass), n, h, w, c, o, kh, kw, oh, ow,
                                   sh, sw, pt, pb, pl, pr, bias, relu, blocked};
  }
  memory::dims src() const { return {n, c, h, w}; }
  memory::dims dst() const { return {n, o, oh, ow}; }
  memory::dims wei() const { return {o, c, kh, kw}; }
  memory::dims strides() const { return {sh, sw}; }
  memory::dims pad_l() const { return {pt, pl}; }
  memory::dims pad_r() const { return {pb, pr}; }
};

// The layout of the activations inside oneDNN: `blocked` lets oneDNN choose (usually a
// channel-blocked layout, reordered from and to NHWC around each call), otherwise NHWC as XLA
// holds them (no reorders). Weights always take oneDNN's preferred layout.
memory::format_tag activation_tag(const Geometry& g) {
  return g.blocked ? memory::format_tag::any : memory::format_tag::nhwc;
}

memory::desc any_desc(const memory::dims& dims, memory::format_tag tag) {
  return memory::desc(dims, memory::data_type::f32, tag);
}

// A buffer XLA owns (row-major NHWC or HWIO) and, when the primitive wants another layout,
// the reorder into (or out of) a blocked copy.
struct Operand {
  memory::desc user;
  memory::desc inner;
  bool reordered = false;
  dnnl::reorder reorder;

  Operand() = default;
  Operand(const memory::desc& user_md, const memory::desc& inner_md, bool into_inner)
      : user(user_md), inner(inner_md), reordered(user_md != inner_md) {
    if (!reordered) return;
    auto& eng = cpu_engine();
    reorder = into_inner ? dnnl::reorder(dnnl::reorder::primitive_desc(eng, user, eng, inner))
                         : dnnl::reorder(dnnl::reorder::primitive_desc(eng, inner, eng, user));
  }
};

// The primitive for one geometry, its operands (arguments in the order of the FFI call, then
// results) and its scratchpad.
struct Plan {
  dnnl::primitive conv;
  std::vector<std::pair<int, Operand>> args;  // (DNNL_ARG_*, operand)
  memory::desc scratch;
};

dnnl::primitive_attr make_attr(bool relu) {
  dnnl::primitive_attr attr;
  attr.set_scratchpad_mode(dnnl::scratchpad_mode::user);
  if (relu) {
    dnnl::post_ops ops;
#if DNNL_VERSION_MAJOR >= 3
    ops.append_eltwise(dnnl::algorithm::eltwise_relu, 0.f, 0.f);
#else
    ops.append_eltwise(1.f, dnnl::algorithm::eltwise_relu, 0.f, 0.f);
#endif
    attr.set_post_ops(ops);
  }
  return attr;
}

dnnl::convolution_forward::primitive_desc forward_pd(const Geometry& g,
                                                     const dnnl::primitive_attr& attr) {
  auto tag = activation_tag(g);
  auto src = any_desc(g.src(), tag), dst = any_desc(g.dst(), tag);
  auto wei = any_desc(g.wei(), memory::format_tag::any);
  auto bias = any_desc({g.o}, memory::format_tag::x);
  auto prop = dnnl::prop_kind::forward_training;
  auto alg = dnnl::algorithm::convolution_direct;
#if DNNL_VERSION_MAJOR >= 3
  if (g.bias)
    return {cpu_engine(), prop, alg, src, wei, bias, dst,
            g.strides(), g.pad_l(), g.pad_r(), attr};
  return {cpu_engine(), prop, alg, src, wei, dst, g.strides(), g.pad_l(), g.pad_r(), attr};
#else
  if (g.bias)
    return {{prop, alg, src, wei, bias, dst, g.strides(), g.pad_l(), g.pad_r()}, attr,
            cpu_engine()};
  return {{prop, alg, src, wei, dst, g.strides(), g.pad_l(), g.pad_r()}, attr, cpu_engine()};
#endif
}

std::unique_ptr<Plan> build_plan(const Geometry& g) {
  auto plan = std::make_unique<Plan>();
  auto nhwc = [](const memory::dims& d) { return any_desc(d, memory::format_tag::nhwc); };
  auto hwio = any_desc(g.wei(), memory::format_tag::hwio);
  auto bias_md = any_desc({g.o}, memory::format_tag::x);
  auto attr = make_attr(g.relu);
  auto alg = dnnl::algorithm::convolution_direct;
  Geometry fwd_g = g;
  fwd_g.relu = false;
  auto hint = forward_pd(fwd_g, make_attr(false));
  auto tag = activation_tag(g);
  auto wei_any = any_desc(g.wei(), memory::format_tag::any);

  if (g.pass == Pass::kForward) {
    auto pd = forward_pd(g, attr);
    plan->conv = dnnl::convolution_forward(pd);
    plan->args.emplace_back(DNNL_ARG_SRC, Operand(nhwc(g.src()), pd.src_desc(), true));
    plan->args.emplace_back(DNNL_ARG_WEIGHTS, Operand(hwio, pd.weights_desc(), true));
    if (g.bias) plan->args.emplace_back(DNNL_ARG_BIAS, Operand(bias_md, bias_md, true));
    plan->args.emplace_back(DNNL_ARG_DST, Operand(nhwc(g.dst()), pd.dst_desc(), false));
    plan->scratch = pd.scratchpad_desc();
  } else if (g.pass == Pass::kInputGrad) {
    auto diff_src = any_desc(g.src(), tag), diff_dst = any_desc(g.dst(), tag);
#if DNNL_VERSION_MAJOR >= 3
    dnnl::convolution_backward_data::primitive_desc pd(
        cpu_engine(), alg, diff_src, wei_any, diff_dst, g.strides(), g.pad_l(), g.pad_r(), hint,
        attr);
#else
    dnnl::convolution_backward_data::primitive_desc pd(
        {alg, diff_src, wei_any, diff_dst, g.strides(), g.pad_l(), g.pad_r()}, attr,
        cpu_engine(), hint);
#endif
    plan->conv = dnnl::convolution_backward_data(pd);
    plan->args.emplace_back(DNNL_ARG_DIFF_DST, Operand(nhwc(g.dst()), pd.diff_dst_desc(), true));
    plan->args.emplace_back(DNNL_ARG_WEIGHTS, Operand(hwio, pd.weights_desc(), true));
    plan->args.emplace_back(DNNL_ARG_DIFF_SRC,
                            Operand(nhwc(g.src()), pd.diff_src_desc(), false));
    plan->scratch = pd.scratchpad_desc();
  } else {
    auto src = any_desc(g.src(), tag), diff_dst = any_desc(g.dst(), tag);
#if DNNL_VERSION_MAJOR >= 3
    auto pd = g.bias ? dnnl::convolution_backward_weights::primitive_desc(
                           cpu_engine(), alg, src, wei_any, bias_md, diff_dst, g.strides(),
                           g.pad_l(), g.pad_r(), hint, attr)
                     : dnnl::convolution_backward_weights::primitive_desc(
                           cpu_engine(), alg, src, wei_any, diff_dst, g.strides(), g.pad_l(),
                           g.pad_r(), hint, attr);
#else
    auto pd = g.bias ? dnnl::convolution_backward_weights::primitive_desc(
                           {alg, src, wei_any, bias_md, diff_dst, g.strides(), g.pad_l(),
                            g.pad_r()},
                           attr, cpu_engine(), hint)
                     : dnnl::convolution_backward_weights::primitive_desc(
                           {alg, src, wei_any, diff_dst, g.strides(), g.pad_l(), g.pad_r()},
                           attr, cpu_engine(), hint);
#endif
    plan->conv = dnnl::convolution_backward_weights(pd);
    plan->args.emplace_back(DNNL_ARG_SRC, Operand(nhwc(g.src()), pd.src_desc(), true));
    plan->args.emplace_back(DNNL_ARG_DIFF_DST, Operand(nhwc(g.dst()), pd.diff_dst_desc(), true));
    plan->args.emplace_back(DNNL_ARG_DIFF_WEIGHTS, Operand(hwio, pd.diff_weights_desc(), false));
    if (g.bias) plan->args.emplace_back(DNNL_ARG_DIFF_BIAS, Operand(bias_md, bias_md, false));
    plan->scratch = pd.scratchpad_desc();
  }
  return plan;
}

bool is_output(int arg) {
  return arg == DNNL_ARG_DST || arg == DNNL_ARG_DIFF_SRC || arg == DNNL_ARG_DIFF_WEIGHTS ||
         arg == DNNL_ARG_DIFF_BIAS;
}

// The caller's arena slot for the other parts' weight and bias gradients (`run`); the
// plan's operands and scratchpad use the slots below it.
constexpr size_t kPartialsSlot = 16;

const Plan& plan_for(const Geometry& g) {
  static PlanCache<std::array<int64_t, 19>, Plan> plans;
  return plans.get(g.key(), [&] { return build_plan(g); });
}

// Run the plan on XLA's buffers, in the order of `plan.args`, on this thread's oneDNN threads.
void run_plan(const Geometry& g, const std::vector<void*>& buffers) {
  const Plan& plan = plan_for(g);
  auto& eng = cpu_engine();
  auto& stream = thread_stream();
  std::unordered_map<int, memory> args;
  std::vector<std::pair<const Operand*, std::pair<memory, memory>>> outputs;
  for (size_t i = 0; i < plan.args.size(); ++i) {
    const auto& [arg, op] = plan.args[i];
    memory user(op.user, eng, buffers[i]);
    if (!op.reordered) {
      args.emplace(arg, user);
      continue;
    }
    memory inner(op.inner, eng, arena(i, op.inner.get_size()));
    if (is_output(arg)) {
      outputs.push_back({&op, {inner, user}});
    } else {
      op.reorder.execute(stream, {{DNNL_ARG_FROM, user}, {DNNL_ARG_TO, inner}});
    }
    args.emplace(arg, inner);
  }
  if (plan.scratch.get_size())
    args.emplace(DNNL_ARG_SCRATCHPAD,
                 memory(plan.scratch, eng, arena(plan.args.size(), plan.scratch.get_size())));
  plan.conv.execute(stream, args);
  for (auto& [op, mems] : outputs)
    op->reorder.execute(stream, {{DNNL_ARG_FROM, mems.first}, {DNNL_ARG_TO, mems.second}});
  stream.wait();
}

// Floats per example of a batched operand (images and their gradients), 0 for the others.
int64_t per_example(const Geometry& g, int arg) {
  if (arg == DNNL_ARG_SRC || arg == DNNL_ARG_DIFF_SRC) return g.h * g.w * g.c;
  if (arg == DNNL_ARG_DST || arg == DNNL_ARG_DIFF_DST) return g.oh * g.ow * g.o;
  return 0;
}

// The convolution split over the batch (`run_parts`; whole when it is too small to split):
// each part convolves its own examples. The weight and bias gradients are sums over the
// batch, so part 0 writes them to XLA's buffers, the others to the caller's arena, added up
// after the parts are done.
ffi::Error run(const Geometry& g, ffi::ThreadPool& pool, const std::vector<void*>& buffers) {
  try {
    int64_t parts = batch_parts(pool, g.n, /*min_part=*/4);
    const auto& args = plan_for(g).args;
    std::vector<size_t> sums;  // (index into args) of the operands summed over the batch
    size_t partial_floats = 0;
    for (size_t i = 0; i < args.size(); ++i)
      if (args[i].first == DNNL_ARG_DIFF_WEIGHTS || args[i].first == DNNL_ARG_DIFF_BIAS) {
        sums.push_back(i);
        partial_floats += args[i].second.user.get_size() / sizeof(float);
      }
    auto* partials = static_cast<float*>(
        arena(kPartialsSlot, (parts - 1) * partial_floats * sizeof(float)));
    std::string error = run_parts(pool, parts, [&](int64_t k) {
      auto [first, count] = part_range(g.n, parts, k);
      Geometry part = g;
      part.n = count;
      std::vector<void*> mine = buffers;
      for (size_t i = 0; i < args.size(); ++i) {
        if (int64_t floats = per_example(g, args[i].first))
          mine[i] = static_cast<float*>(buffers[i]) + first * floats;
      }
      if (k > 0) {
        float* partial = partials + (k - 1) * partial_floats;
        for (size_t i : sums) {
          mine[i] = partial;
          partial += args[i].second.user.get_size() / sizeof(float);
        }
      }
      run_plan(part, mine);
      return std::string();
    });
    if (!error.empty()) return ffi::Error::Internal("oneDNN convolution failed: " + error);
    const float* partial = partials;
    for (size_t i : sums) {
      auto* total = static_cast<float*>(buffers[i]);
      size_t size = args[i].second.user.get_size() / sizeof(float);
      for (int64_t k = 1; k < parts; ++k)
        for (size_t j = 0; j < size; ++j) total[j] += partial[(k - 1) * partial_floats + j];
      partial += size;
    }
  } catch (const dnnl::error& e) {
    return failed("convolution", e);
  }
  return ffi::Error::Success();
}

using F32 = ffi::Buffer<ffi::F32, 4>;
using Bias = ffi::Buffer<ffi::F32, 1>;

Geometry geometry(Pass pass, const F32::Dimensions& img, const F32::Dimensions& wei,
                  const F32::Dimensions& out, int64_t sh, int64_t sw, int64_t pt, int64_t pb,
                  int64_t pl, int64_t pr, bool bias, bool relu, bool blocked) {
  return Geometry{pass, img[0], img[1], img[2], img[3], wei[3], wei[0], wei[1], out[1], out[2],
                  sh,   sw,     pt,     pb,     pl,     pr,     bias,   relu,   blocked};
}

#define CONV_ATTRS                                                                   \
  .Attr<int64_t>("stride_h").Attr<int64_t>("stride_w").Attr<int64_t>("pad_top")      \
      .Attr<int64_t>("pad_bottom").Attr<int64_t>("pad_left").Attr<int64_t>("pad_right")  \
      .Attr<bool>("blocked")

ffi::Error Forward(ffi::ThreadPool pool, F32 x, F32 w, ffi::Result<F32> y, int64_t sh,
                   int64_t sw, int64_t pt, int64_t pb, int64_t pl, int64_t pr, bool blocked) {
  auto g = geometry(Pass::kForward, x.dimensions(), w.dimensions(), y->dimensions(), sh, sw, pt,
                    pb, pl, pr, false, false, blocked);
  return run(g, pool, {x.untyped_data(), w.untyped_data(), y->untyped_data()});
}

ffi::Error ForwardBias(ffi::ThreadPool pool, F32 x, F32 w, Bias b, ffi::Result<F32> y,
                       int64_t sh, int64_t sw, int64_t pt, int64_t pb, int64_t pl, int64_t pr,
                       bool blocked, bool relu) {
  auto g = geometry(Pass::kForward, x.dimensions(), w.dimensions(), y->dimensions(), sh, sw, pt,
                    pb, pl, pr, true, relu, blocked);
  return run(g, pool, {x.untyped_data(), w.untyped_data(), b.untyped_data(), y->untyped_data()});
}

ffi::Error InputGrad(ffi::ThreadPool pool, F32 dy, F32 w, ffi::Result<F32> dx, int64_t sh,
                     int64_t sw, int64_t pt, int64_t pb, int64_t pl, int64_t pr, bool blocked) {
  auto g = geometry(Pass::kInputGrad, dx->dimensions(), w.dimensions(), dy.dimensions(), sh, sw,
                    pt, pb, pl, pr, false, false, blocked);
  return run(g, pool, {dy.untyped_data(), w.untyped_data(), dx->untyped_data()});
}

ffi::Error WeightGrad(ffi::ThreadPool pool, F32 x, F32 dy, ffi::Result<F32> dw, int64_t sh,
                      int64_t sw, int64_t pt, int64_t pb, int64_t pl, int64_t pr, bool blocked) {
  auto g = geometry(Pass::kWeightGrad, x.dimensions(), dw->dimensions(), dy.dimensions(), sh, sw,
                    pt, pb, pl, pr, false, false, blocked);
  return run(g, pool, {x.untyped_data(), dy.untyped_data(), dw->untyped_data()});
}

ffi::Error WeightBiasGrad(ffi::ThreadPool pool, F32 x, F32 dy, ffi::Result<F32> dw,
                          ffi::Result<Bias> db, int64_t sh, int64_t sw, int64_t pt, int64_t pb,
                          int64_t pl, int64_t pr, bool blocked) {
  auto g = geometry(Pass::kWeightGrad, x.dimensions(), dw->dimensions(), dy.dimensions(), sh, sw,
                    pt, pb, pl, pr, true, false, blocked);
  return run(g, pool,
             {x.untyped_data(), dy.untyped_data(), dw->untyped_data(), db->untyped_data()});
}

}  // namespace

XLA_FFI_DEFINE_HANDLER_SYMBOL(JaxcourseConvForward, Forward,
                              ffi::Ffi::Bind()
                                  .Ctx<ffi::ThreadPool>()
                                  .Arg<F32>()
                                  .Arg<F32>()
                                  .Ret<F32>() CONV_ATTRS);

XLA_FFI_DEFINE_HANDLER_SYMBOL(JaxcourseConvForwardBias, ForwardBias,
                              ffi::Ffi::Bind()
                                  .Ctx<ffi::ThreadPool>()
                                  .Arg<F32>()
                                  .Arg<F32>()
                                  .Arg<Bias>()
                                  .Ret<F32>() CONV_ATTRS.Attr<bool>("relu"));

XLA_FFI_DEFINE_HANDLER_SYMBOL(JaxcourseConvInputGrad, InputGrad,
                              ffi::Ffi::Bind()
                                  .Ctx<ffi::ThreadPool>()
                                  .Arg<F32>()
                                  .Arg<F32>()
                                  .Ret<F32>() CONV_ATTRS);

XLA_FFI_DEFINE_HANDLER_SYMBOL(JaxcourseConvWeightGrad, WeightGrad,
                              ffi::Ffi::Bind()
                                  .Ctx<ffi::ThreadPool>()
                                  .Arg<F32>()
                                  .Arg<F32>()
                                  .Ret<F32>() CONV_ATTRS);

XLA_FFI_DEFINE_HANDLER_SYMBOL(JaxcourseConvWeightBiasGrad, WeightBiasGrad,
                              ffi::Ffi::Bind()
                                  .Ctx<ffi::ThreadPool>()
                                  .Arg<F32>()
                                  .Arg<F32>()
                                  .Ret<F32>()
                                  .Ret<Bias>() CONV_ATTRS);

