// A one-layer, left-to-right LSTM over a whole float32 sequence through oneDNN, as XLA FFI
// handlers (jaxcourse/kernels/onednn_lstm.py wraps them in a jax.custom_vjp):
//   forward   (x[N,T,C], w_x[C,4U], w_h[U,4U], b[4U]) -> h[N,T,U], workspace
//   backward  (x, w_x, w_h, b, h, workspace, dh)      -> dx, dw_x, dw_h, db
// Zero initial state; gates i, f, g, o side by side (oneDNN's i, f, c~, o). Batch-major
// sequences are read and written in place (oneDNN's `ntc`); the weights are reordered into
// the packed layouts oneDNN's forward and backward kernels want, by primitives cached per shape.
// A batch of at least 16 sequences per XLA pool thread runs in parts, one single-threaded
// oneDNN call per thread (`run_parts`), their workspaces one after the other in XLA's buffer.

#include <algorithm>
#include <array>
#include <cstring>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "onednn_common.h"

namespace ffi = xla::ffi;
using dnnl::memory;
using namespace jaxcourse_onednn;

namespace {

using tag = memory::format_tag;
constexpr auto f32 = memory::data_type::f32;

struct LstmPlan {
  dnnl::lstm_forward::primitive_desc fwd_pd;
  dnnl::lstm_backward::primitive_desc bwd_pd;
  dnnl::lstm_forward fwd;
  dnnl::lstm_backward bwd;
  memory::desc user_wx, user_wh, bias;
  // reorders of the user's weights into each pass's layout, and of the weight gradients back
  dnnl::reorder wx_fwd, wh_fwd, wx_bwd, wh_bwd, dwx_out, dwh_out;
};

dnnl::reorder make_reorder(const memory::desc& from, const memory::desc& to) {
  return dnnl::reorder(dnnl::reorder::primitive_desc(cpu_engine(), from, cpu_engine(), to));
}

std::unique_ptr<LstmPlan> build(int64_t t, int64_t n, int64_t c, int64_t u) {
  auto plan = std::make_unique<LstmPlan>();
  auto& eng = cpu_engine();
  memory::desc src({t, n, c}, f32, tag::ntc), dst({t, n, u}, f32, tag::ntc);
  memory::desc wx_any({1, 1, c, 4, u}, f32, tag::any), wh_any({1, 1, u, 4, u}, f32, tag::any);
  memory::desc none;  // zero initial state, final state not wanted
  plan->user_wx = memory::desc({1, 1, c, 4, u}, f32, tag::ldigo);
  plan->user_wh = memory::desc({1, 1, u, 4, u}, f32, tag::ldigo);
  plan->bias = memory::desc({1, 1, 4, u}, f32, tag::ldgo);
  auto dir = dnnl::rnn_direction::unidirectional_left2right;
  dnnl::primitive_attr attr;
  attr.set_scratchpad_mode(dnnl::scratchpad_mode::user);
#if DNNL_VERSION_MAJOR >= 3
  plan->fwd_pd = dnnl::lstm_forward::primitive_desc(
      eng, dnnl::prop_kind::forward_training, dir, src, none, none, wx_any, wh_any,
      plan->bias, dst, none, none, attr);
  plan->bwd_pd = dnnl::lstm_backward::primitive_desc(
      eng, dnnl::prop_kind::backward, dir, src, none, none, wx_any, wh_any, plan->bias, dst,
      none, none, src, none, none, wx_any, wh_any, plan->bias, dst, none, none, plan->fwd_pd,
      attr);
#else
  plan->fwd_pd = dnnl::lstm_forward::primitive_desc(
      {dnnl::prop_kind::forward_training, dir, src, none, none, wx_any, wh_any, plan->bias, dst,
       none, none},
      attr, eng);
  plan->bwd_pd = dnnl::lstm_backward::primitive_desc(
      {dnnl::prop_kind::backward, dir, src, none, none, wx_any, wh_any, plan->bias, dst, none,
       none, src, none, none, wx_any, wh_any, plan->bias, dst, none, none},
      attr, eng, plan->fwd_pd);
#endif
  plan->fwd = dnnl::lstm_forward(plan->fwd_pd);
  plan->bwd = dnnl::lstm_backward(plan->bwd_pd);
  plan->wx_fwd = make_reorder(plan->user_wx, plan->fwd_pd.weights_layer_desc());
  plan->wh_fwd = make_reorder(plan->user_wh, plan->fwd_pd.weights_iter_desc());
  plan->wx_bwd = make_reorder(plan->user_wx, plan->bwd_pd.weights_layer_desc());
  plan->wh_bwd = make_reorder(plan->user_wh, plan->bwd_pd.weights_iter_desc());
  plan->dwx_out = make_reorder(plan->bwd_pd.diff_weights_layer_desc(), plan->user_wx);
  plan->dwh_out = make_reorder(plan->bwd_pd.diff_weights_iter_desc(), plan->user_wh);
  return plan;
}

const LstmPlan& plan_for(int64_t t, int64_t n, int64_t c, int64_t u) {
  static PlanCache<std::array<int64_t, 4>, LstmPlan> plans;
  return plans.get({t, n, c, u}, [&] { return build(t, n, c, u); });
}

// A blocked copy of a user buffer in a per-thread arena slot, filled by `reorder`.
memory reordered(const dnnl::reorder& reorder, const memory::desc& user_md, void* user,
                 const memory::desc& inner_md, size_t slot) {
  memory from(user_md, cpu_engine(), user), to(inner_md, cpu_engine(), arena(slot, inner_md.get_size()));
  reorder.execute(thread_stream(), from, to);
  return to;
}

memory scratchpad(const memory::desc& md, size_t slot) {
  return memory(md, cpu_engine(), arena(slot, md.get_size()));
}

using Seq = ffi::Buffer<ffi::F32, 3>;
using Mat = ffi::Buffer<ffi::F32, 2>;
using Vec = ffi::Buffer<ffi::F32, 1>;
using Bytes = ffi::Buffer<ffi::U8, 1>;

// The sequence's shape: batch, steps, inputs, units.
struct Shape {
  int64_t n, t, c, u;
};

// How the batch is split over threads (`run_parts`): the number of parts, each part's
// examples and the offset of its workspace (the parts' workspaces one after the other).
struct Split {
  int64_t parts;
  std::vector<std::pair<int64_t, int64_t>> ranges;
  std::vector<size_t> workspace_offsets;  // parts + 1 entries: the last is the total

  Split(const Shape& s, int64_t parts) : parts(parts) {
    size_t offset = 0;
    for (int64_t k = 0; k < parts; ++k) {
      ranges.push_back(part_range(s.n, parts, k));
      workspace_offsets.push_back(offset);
      offset += plan_for(s.t, ranges.back().second, s.c, s.u).fwd_pd.workspace_desc().get_size();
    }
    workspace_offsets.push_back(offset);
  }
  size_t workspace_bytes() const { return workspace_offsets.back(); }
};

// Examples per part below which a part's matmuls get too small to split the batch.
constexpr int64_t kMinPart = 16;

// The split a call uses: one part per pool thread (at least kMinPart examples each) if the
// workspace XLA allocated (`lstm_workspace_bytes`) holds it, else the whole batch at once.
Split split_for(const Shape& s, ffi::ThreadPool& pool, size_t workspace_bytes) {
  Split split(s, batch_parts(pool, s.n, kMinPart));
  return split.workspace_bytes() <= workspace_bytes ? split : Split(s, 1);
}

void forward_part(const Shape& s, int64_t first, int64_t count, const float* x, const float* wx,
                  const float* wh, const float* b, float* h, uint8_t* workspace) {
  const LstmPlan& p = plan_for(s.t, count, s.c, s.u);
  auto& eng = cpu_engine();
  const auto& pd = p.fwd_pd;
  auto in = [](const float* data) { return const_cast<float*>(data); };
  p.fwd.execute(
      thread_stream(),
      {{DNNL_ARG_SRC_LAYER, memory(pd.src_layer_desc(), eng, in(x) + first * s.t * s.c)},
       {DNNL_ARG_WEIGHTS_LAYER, reordered(p.wx_fwd, p.user_wx, in(wx), pd.weights_layer_desc(), 0)},
       {DNNL_ARG_WEIGHTS_ITER, reordered(p.wh_fwd, p.user_wh, in(wh), pd.weights_iter_desc(), 1)},
       {DNNL_ARG_BIAS, memory(p.bias, eng, in(b))},
       {DNNL_ARG_DST_LAYER, memory(pd.dst_layer_desc(), eng, h + first * s.t * s.u)},
       {DNNL_ARG_WORKSPACE, memory(pd.workspace_desc(), eng, workspace)},
       {DNNL_ARG_SCRATCHPAD, scratchpad(pd.scratchpad_desc(), 2)}});
  thread_stream().wait();
}

ffi::Error Forward(ffi::ThreadPool pool, Seq x, Mat wx, Mat wh, Vec b, ffi::Result<Seq> h,
                   ffi::Result<Bytes> workspace) {
  auto dims = x.dimensions();
  Shape s{dims[0], dims[1], dims[2], wh.dimensions()[0]};
  try {
    size_t ws_bytes = workspace->dimensions()[0];
    Split split = split_for(s, pool, ws_bytes);
    if (ws_bytes < split.workspace_bytes())
      return ffi::Error::InvalidArgument("oneDNN LSTM: workspace size does not match");
    auto part = [&](int64_t k) {
      auto [first, count] = split.ranges[k];
      forward_part(s, first, count, x.typed_data(), wx.typed_data(), wh.typed_data(),
                   b.typed_data(), h->typed_data(),
                   workspace->typed_data() + split.workspace_offsets[k]);
      return std::string();
    };
    std::string error = run_parts(pool, split.parts, part);
    if (!error.empty()) return ffi::Error::Internal("oneDNN LSTM forward failed: " + error);
  } catch (const dnnl::error& e) {
    return failed("LSTM forward", e);
  }
  return ffi::Error::Success();
}

// The gradients of examples [first, first + count): dx in place, the weight and bias
// gradients (sums over these examples) into dwx, dwh, db.
void backward_part(const Shape& s, int64_t first, int64_t count, const float* x,
                   const float* wx, const float* wh, const float* b, const float* h,
                   const uint8_t* workspace, const float* dh, float* dx, float* dwx, float* dwh,
                   float* db) {
  const LstmPlan& p = plan_for(s.t, count, s.c, s.u);
  auto& eng = cpu_engine();
  auto& stream = thread_stream();
  const auto& pd = p.bwd_pd;
  auto in = [](const auto* data) { return const_cast<void*>(static_cast<const void*>(data)); };
  // oneDNN adds the weight and bias gradients to what their buffers hold: start from zero
  memory dwx_inner(pd.diff_weights_layer_desc(), eng,
                   arena(2, pd.diff_weights_layer_desc().get_size()));
  memory dwh_inner(pd.diff_weights_iter_desc(), eng,
                   arena(3, pd.diff_weights_iter_desc().get_size()));
  std::memset(dwx_inner.get_data_handle(), 0, pd.diff_weights_layer_desc().get_size());
  std::memset(dwh_inner.get_data_handle(), 0, pd.diff_weights_iter_desc().get_size());
  std::memset(db, 0, p.bias.get_size());
  p.bwd.execute(
      stream,
      {{DNNL_ARG_SRC_LAYER, memory(pd.src_layer_desc(), eng, in(x + first * s.t * s.c))},
       {DNNL_ARG_WEIGHTS_LAYER, reordered(p.wx_bwd, p.user_wx, in(wx), pd.weights_layer_desc(), 0)},
       {DNNL_ARG_WEIGHTS_ITER, reordered(p.wh_bwd, p.user_wh, in(wh), pd.weights_iter_desc(), 1)},
       {DNNL_ARG_BIAS, memory(p.bias, eng, in(b))},
       {DNNL_ARG_DST_LAYER, memory(pd.dst_layer_desc(), eng, in(h + first * s.t * s.u))},
       {DNNL_ARG_WORKSPACE, memory(pd.workspace_desc(), eng, in(workspace))},
       {DNNL_ARG_DIFF_DST_LAYER, memory(pd.diff_dst_layer_desc(), eng, in(dh + first * s.t * s.u))},
       {DNNL_ARG_DIFF_SRC_LAYER, memory(pd.diff_src_layer_desc(), eng, dx + first * s.t * s.c)},
       {DNNL_ARG_DIFF_WEIGHTS_LAYER, dwx_inner},
       {DNNL_ARG_DIFF_WEIGHTS_ITER, dwh_inner},
       {DNNL_ARG_DIFF_BIAS, memory(p.bias, eng, db)},
       {DNNL_ARG_SCRATCHPAD, scratchpad(pd.scratchpad_desc(), 4)}});
  memory dwx_user(p.user_wx, eng, dwx), dwh_user(p.user_wh, eng, dwh);
  p.dwx_out.execute(stream, dwx_inner, dwx_user);
  p.dwh_out.execute(stream, dwh_inner, dwh_user);
  stream.wait();
}

// The caller's arena slot for the other parts' weight and bias gradients.
constexpr size_t kPartialsSlot = 16;

ffi::Error Backward(ffi::ThreadPool pool, Seq x, Mat wx, Mat wh, Vec b, Seq h, Bytes workspace,
                    Seq dh, ffi::Result<Seq> dx, ffi::Result<Mat> dwx, ffi::Result<Mat> dwh,
                    ffi::Result<Vec> db) {
  auto dims = x.dimensions();
  Shape s{dims[0], dims[1], dims[2], wh.dimensions()[0]};
  try {
    Split split = split_for(s, pool, workspace.dimensions()[0]);
    // the weight and bias gradients of part k > 0, added to part 0's after all are done
    size_t sizes[3] = {static_cast<size_t>(s.c * 4 * s.u), static_cast<size_t>(s.u * 4 * s.u),
                       static_cast<size_t>(4 * s.u)};
    size_t per_part = sizes[0] + sizes[1] + sizes[2];
    float* totals[3] = {dwx->typed_data(), dwh->typed_data(), db->typed_data()};
    auto* partials = static_cast<float*>(
        arena(kPartialsSlot, (split.parts - 1) * per_part * sizeof(float)));
    auto part = [&](int64_t k) {
      auto [first, count] = split.ranges[k];
      float* out[3] = {totals[0], totals[1], totals[2]};
      if (k > 0) {
        float* mine = partials + (k - 1) * per_part;
        out[0] = mine, out[1] = mine + sizes[0], out[2] = mine + sizes[0] + sizes[1];
      }
      backward_part(s, first, count, x.typed_data(), wx.typed_data(), wh.typed_data(),
                    b.typed_data(), h.typed_data(),
                    workspace.typed_data() + split.workspace_offsets[k], dh.typed_data(),
                    dx->typed_data(), out[0], out[1], out[2]);
      return std::string();
    };
    std::string error = run_parts(pool, split.parts, part);
    if (!error.empty()) return ffi::Error::Internal("oneDNN LSTM backward failed: " + error);
    for (int64_t k = 1; k < split.parts; ++k) {
      const float* mine = partials + (k - 1) * per_part;
      for (int i = 0; i < 3; ++i) {
        for (size_t j = 0; j < sizes[i]; ++j) totals[i][j] += mine[j];
        mine += sizes[i];
      }
    }
  } catch (const dnnl::error& e) {
    return failed("LSTM backward", e);
  }
  return ffi::Error::Success();
}

}  // namespace

// The workspace for the whole batch at once or in parts on every thread of this process
// (`split_for` picks the parts only if XLA's workspace holds them), whichever is larger.
size_t jaxcourse_onednn::lstm_workspace_bytes(int64_t steps, int64_t batch, int64_t inputs,
                                              int64_t units) {
  Shape s{batch, steps, inputs, units};
  int64_t parts = std::max<int64_t>(1, std::min(available_cores(), batch / kMinPart));
  return std::max(Split(s, 1).workspace_bytes(), Split(s, parts).workspace_bytes());
}

XLA_FFI_DEFINE_HANDLER_SYMBOL(JaxcourseLstmForward, Forward,
                              ffi::Ffi::Bind()
                                  .Ctx<ffi::ThreadPool>()
                                  .Arg<Seq>()
                                  .Arg<Mat>()
                                  .Arg<Mat>()
                                  .Arg<Vec>()
                                  .Ret<Seq>()
                                  .Ret<Bytes>());

XLA_FFI_DEFINE_HANDLER_SYMBOL(JaxcourseLstmBackward, Backward,
                              ffi::Ffi::Bind()
                                  .Ctx<ffi::ThreadPool>()
                                  .Arg<Seq>()
                                  .Arg<Mat>()
                                  .Arg<Mat>()
                                  .Arg<Vec>()
                                  .Arg<Seq>()
                                  .Arg<Bytes>()
                                  .Arg<Seq>()
                                  .Ret<Seq>()
                                  .Ret<Mat>()
                                  .Ret<Mat>()
                                  .Ret<Vec>());
