// What gpt-oss saves beyond the Llama / Mixtral rules (transformers 5.24 models/gpt_oss/
// modeling_gpt_oss.py): the eager attention with a sink column per head, the router that takes
// the top-k logits before its softmax, and the experts' biases and clamped SwiGLU under the
// default grouped_mm experts implementation (integrations/moe.py grouped_mm_experts_forward with
// has_bias, is_transposed). Measured on torch 2.15 CPU: tools/measure/FINDINGS.md §20.
#include <fmt/format.h>

#include "core/ops.hpp"

namespace vramcalc {
namespace {

constexpr const char* kAttn = "transformers models/gpt_oss/modeling_gpt_oss.py eager_attention_forward (sinks)";
constexpr const char* kRouter = "transformers models/gpt_oss/modeling_gpt_oss.py GptOssTopKRouter";
constexpr const char* kExperts =
    "transformers integrations/moe.py grouped_mm_experts_forward (has_bias); models/gpt_oss GptOssExperts._apply_gate";

void add(std::vector<SavedTensor>& out, std::string name, Bytes bytes, std::string formula, const char* source,
         BackwardRegion region, bool s2 = false) {
  out.push_back({{std::move(name), bytes, std::move(formula), source, false}, region, s2});
}

// The dtype of the sink logits: the scores (matmul's dtype) plus the mask (the hidden dtype) and
// the cat with the sinks (a parameter) promote to fp32 under autocast.
Bytes logits_bytes(const Dims& x) { return x.amp ? 4 : x.e; }

}  // namespace

void sinks_softmax_saved(const Dims& x, std::vector<SavedTensor>& out) {
  const Bytes c = logits_bytes(x);
  add(out, "attn.sink_probs", checked_product({c, x.a, x.s, x.s + 1, x.b}),
      fmt::format("{}·a·s·(s+1)·b: softmax over the scores and the sink column (logits' dtype), saved by softmax; "
                  "probs·v saves the s columns as a view",
                  c),
      kAttn, BackwardRegion::kInput, true);
  if (c != x.e) {
    add(out, "attn.probs_bf16", checked_product({x.e, x.a, x.s, x.s, x.b}),
        fmt::format("{}·a·s²·b: the probabilities without the sink cast to v's dtype, saved by probs·v", x.e), kAttn,
        BackwardRegion::kAfterAttention, true);
  }
  add(out, "attn.sink_max_indices", checked_product({8, x.a, x.s, x.b}),
      "8·a·s·b: int64 argmax of each row, saved by max(dim=-1) (logits − max, gradient flows through max)", kAttn,
      BackwardRegion::kInput);
}

// At the max's backward (the attention's peak): the softmax input's gradient, and max(dim)'s
// backward, new_zeros of the logits' shape with the gradient scattered into it: two more
// s·(s+1) buffers in the logits' dtype beside the saved probabilities (measured: _softmax_backward_data,
// new_zeros, scatter at the backward peak of hf-step-gpt_oss-*-s512-*, FINDINGS.md §20).
Bytes sinks_backward_transient(const Dims& x) { return checked_product({2, logits_bytes(x), x.a, x.s, x.s + 1, x.b}); }

void gpt_oss_router_saved(const MlpOp& op, const Dims& x, std::vector<SavedTensor>& out) {
  const auto after = BackwardRegion::kAfterAttention;
  add(out, "moe.topk_indices", checked_product({8, x.T, op.top_k}), "8·T·k: int64 top-k indices of the logits, saved by topk", kRouter,
      after);
  add(out, "moe.topk_softmax", checked_product({x.e, x.T, op.top_k}),
      fmt::format("{}·T·k: softmax over the k top logits (logits' dtype), saved by softmax", x.e), kRouter, after);
}

void gpt_oss_experts_saved(const MlpOp& op, const Dims& x, std::vector<SavedTensor>& out) {
  const auto after = BackwardRegion::kAfterAttention;
  const Bytes S = checked_mul(x.T, op.top_k);
  const Bytes r = x.r;  // _grouped_mm runs in the parameters' dtype (no autocast)
  const Bytes I = op.expert_width;
  add(out, "moe.sort_indices", checked_product({32, S}),
      "4×8·S: int64 perm // k, the sort permutation, its inverse and the sorted expert ids (saved by the two bias gathers)", kExperts,
      after);
  add(out, "moe.offsets", checked_mul(4, op.experts), "4·E: int32 cumulative tokens per expert, saved by _grouped_mm", kExperts, after);
  add(out, "moe.gathered_input", checked_product({r, S, x.h}),
      fmt::format("{}·S·h: the input gathered into expert order (S = T·k rows), saved by the up _grouped_mm", r), kExperts, after);
  add(out, "moe.gate_up", checked_product({r, S, 2 * I}),
      fmt::format("{}·S·2I_e: gate_up output + bias (in place); both clamps save their strided views of it", r), kExperts, after);
  add(out, "moe.clamped_glu", checked_product({5, r, S, I}),
      fmt::format("5×{}·S·I_e: clamped gate, sigmoid(α·gate), glu, up + 1, and (up + 1)·glu (the down _grouped_mm's input)", r),
      kExperts, after);
  add(out, "moe.down_out", checked_product({r, S, x.h}),
      fmt::format("{}·S·h: down output + bias (in place), saved by the routing-weight multiply", r), kExperts, after);
  add(out, "moe.routing_weights", checked_product({x.e, S}),
      fmt::format("{}·S: routing weights in expert order (logits' dtype), saved by the multiply", x.e), kExperts, after);
}

}  // namespace vramcalc
