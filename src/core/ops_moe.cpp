// What the transformers 5 MoE block saves for backward, for its default experts implementation
// "grouped_mm" (modeling_utils.py get_correct_experts_implementation; integrations/moe.py
// grouped_mm_experts_forward). The tokens are sorted by expert into one S = T·k row buffer, so the
// saved bytes depend on S only, not on how the router spreads the tokens over the experts.
// Measured on transformers 5.24 / torch 2.15 CPU (tools/measure/FINDINGS.md §MoE): the experts'
// _grouped_mm is not autocast, so under AMP they run in the residual (fp32) dtype.
#include <algorithm>

#include <fmt/format.h>

#include <vramcalc/moe_routing.hpp>

#include "core/ops.hpp"

namespace vramcalc {
namespace {

constexpr const char* kGrouped = "transformers integrations/moe.py grouped_mm_experts_forward";
constexpr const char* kRouter = "transformers models/mixtral/modeling_mixtral.py MixtralTopKRouter (qwen2_moe, qwen3_moe alike)";
constexpr const char* kShared = "transformers models/qwen2_moe/modeling_qwen2_moe.py Qwen2MoeSparseMoeBlock (shared_expert)";

void add(std::vector<SavedTensor>& out, std::string name, Bytes bytes, std::string formula, const char* source,
         BackwardRegion region) {
  out.push_back({{std::move(name), bytes, std::move(formula), source, false}, region, false});
}

constexpr const char* kDeepseekRouter =
    "transformers models/deepseek_v3/modeling_deepseek_v3.py DeepseekV3TopkRouter, models/deepseek_v2 DeepseekV2TopkRouter";

// DeepSeek's router (fp32 weight, _keep_in_fp32_modules_strict): F.linear(x.type(fp32), w): under autocast
// the linear casts x to bf16 (saved); in bf16 .type(fp32) is a new fp32 copy (saved); in fp32 it is the norm
// output itself. V2: softmax(dtype=fp32) saved, group-limited greedy (n_group > 1): group max indices,
// group top-k indices and the masked_fill's bool mask, then top-k indices. V3: sigmoid (the logits' dtype)
// saved; group top-2 and group top-k indices and the bool mask (packed, the chain feeds only the choice);
// gather's top-k indices; renormalised (clone + sum, norm_topk_prob); scaled by a Python float (nothing).
void deepseek_router_saved(const MlpOp& op, const Dims& x, std::vector<SavedTensor>& out) {
  const auto after = BackwardRegion::kAfterAttention;
  const Bytes in = x.amp ? 2 : (x.e == 4 ? 0 : 4);
  if (in > 0) {
    add(out, "moe.router_input", checked_product({in, x.T, x.h}),
        fmt::format("{}·T·h: the router's {} of its input, saved by the fp32 gate Linear", in, x.amp ? "autocast bf16 cast" : "fp32 copy"),
        kDeepseekRouter, after);
  }
  const bool v3 = op.router == MlpOp::Router::kDeepseekSigmoid;
  const Bytes logits = x.amp ? 2 : 4;
  const Bytes probs = v3 ? logits : 4;
  add(out, "moe.router_probs", checked_product({probs, x.T, op.experts}),
      fmt::format("{}·T·E: {} of the router logits, saved", probs, v3 ? "sigmoid" : "fp32 softmax"), kDeepseekRouter, after);
  const Bytes G = op.router_groups;
  if (G > 1) {
    const Bytes idx = checked_add(checked_product({8, x.T, v3 ? 2 * G : G}), checked_product({8, x.T, op.router_topk_groups}));
    add(out, "moe.group_choice", checked_add(idx, checked_mul(x.T, op.experts)),
        fmt::format("8·T·{}G + 8·T·topk_group + 1·T·E: int64 group {} indices, the chosen groups' indices and masked_fill's bool mask",
                    v3 ? "2" : "", v3 ? "top-2" : "max"),
        kDeepseekRouter, after);
  }
  add(out, "moe.topk_indices", checked_product({8, x.T, op.top_k}), "8·T·k: int64 top-k indices, saved by topk / gather", kDeepseekRouter, after);
  if (op.renormalize) {
    add(out, "moe.renorm", checked_add(checked_product({probs, x.T, op.top_k}), checked_mul(probs, x.T)),
        fmt::format("{0}·T·k + {0}·T: top-k weights (cloned by the in-place division) and their sum", probs), kDeepseekRouter, after);
  }
}

// The routing weights' dtype: fp32 (Mixtral, DeepSeek's fp32 router) or the logits' dtype; DeepSeek-V3's
// sigmoid under autocast runs on bf16 logits.
Bytes routing_weight_bytes(const MlpOp& op, const Dims& x) {
  if (op.router == MlpOp::Router::kDeepseekSigmoid && x.amp) return 2;
  return op.fp32_routing_weights ? 4 : x.e;
}

void router_saved(const MlpOp& op, const Dims& x, std::vector<SavedTensor>& out) {
  if (op.router != MlpOp::Router::kSoftmax) {
    deepseek_router_saved(op, x, out);
    return;
  }
  const auto after = BackwardRegion::kAfterAttention;
  add(out, "moe.router_probs", checked_product({4, x.T, op.experts}), "4·T·E: fp32 softmax of the router logits, saved by softmax",
      kRouter, after);
  add(out, "moe.topk_indices", checked_product({8, x.T, op.top_k}), "8·T·k: int64 top-k indices, saved by topk", kRouter, after);
  if (op.renormalize) {
    add(out, "moe.renorm", checked_add(checked_product({4, x.T, op.top_k}), checked_mul(4, x.T)),
        "4·T·k + 4·T: fp32 top-k values (cloned by the in-place division) and their sum", kRouter, after);
  }
}

// Every routed tensor is alive at the block's backward peak (the combine's backward runs first),
// so all of them are released after it (kAfterAttention). The sort indices cover this rank's
// S = T·k routed copies; the experts' tensors cover the R rows its experts compute (R = S
// without expert parallelism and capacity factor: moe_routing.cpp).
void experts_saved(const MlpOp& op, const Dims& x, Bytes S, const ExpertRows& rows, std::vector<SavedTensor>& out) {
  const auto after = BackwardRegion::kAfterAttention;
  const Bytes r = x.r;  // _grouped_mm runs in the parameters' dtype (no autocast)
  const Bytes I = op.expert_width;
  const Bytes w = routing_weight_bytes(op, x);
  const Bytes R = rows.rows;
  const bool all = R == S;
  const char* n = all ? "S" : "R";
  const std::string rows_note = all ? "S = T·k rows" : fmt::format("R = {} rows: {}", R, rows.formula);
  const Bytes local = op.local_experts > 0 ? op.local_experts : op.experts;
  add(out, "moe.sort_indices", checked_product({24, S}),
      "3×8·S: int64 perm // k, the sort permutation and its inverse, saved by the three index ops", kGrouped, after);
  add(out, "moe.offsets", checked_mul(4, local), all && local == op.experts ? "4·E: int32 cumulative tokens per expert, saved by _grouped_mm"
                                                                       : "4·E/ep: int32 cumulative tokens per local expert, saved by _grouped_mm",
      kGrouped, after);
  add(out, "moe.gathered_input", checked_product({r, R, x.h}),
      fmt::format("{}·{}·h: the input gathered into expert order ({}), saved by the up _grouped_mm", r, n, rows_note), kGrouped, after);
  add(out, "moe.gate_up", checked_product({r, R, 2 * I}),
      fmt::format("{}·{}·2I_e: gate_up output (gate saved by the activation, up by the product)", r, n), kGrouped, after);
  add(out, "moe.act", checked_product({r, R, I}), fmt::format("{}·{}·I_e: activation output saved by the product", r, n), kGrouped, after);
  add(out, "moe.product", checked_product({r, R, I}), fmt::format("{}·{}·I_e: act·up, the down _grouped_mm's saved input", r, n), kGrouped,
      after);
  add(out, "moe.down_out", checked_product({r, R, x.h}),
      fmt::format("{}·{}·h: down output, saved by the routing-weight multiply", r, n), kGrouped, after);
  add(out, "moe.routing_weights", checked_product({w, R}),
      fmt::format("{}·{}: routing weights in expert order ({}), saved by the multiply", w, n, op.fp32_routing_weights ? "fp32" : "logits' dtype"),
      kGrouped, after);
}

// Qwen2-MoE's shared expert: a SwiGLU MLP over all T tokens (as LlamaMLP) and its down output
// times sigmoid(shared_expert_gate(x)) (the mul saves both; sigmoid saves its output).
void shared_saved(const MlpOp& op, const Dims& x, std::vector<SavedTensor>& out) {
  const Bytes tI = checked_product({x.e, x.T, op.shared_width});
  add(out, "moe.shared_mlp", checked_mul(4, tI), fmt::format("4×{}·T·I_s: gate, up, act and act·up of the shared expert", x.e),
      op.shared_ungated ? "transformers models/deepseek_v3/modeling_deepseek_v3.py DeepseekV3MoE (shared_experts: DeepseekV3MLP of "
                          "n_shared_experts × moe_intermediate_size)"
                        : kShared,
      BackwardRegion::kAfterAttention);
  if (op.shared_ungated) return;  // DeepSeek: shared_experts(residuals) is added as it is
  add(out, "moe.shared_out", checked_add(checked_product({x.e, x.T, x.h}), checked_mul(x.e, x.T)),
      fmt::format("{}·T·h + {}·T: shared expert output and sigmoid gate, saved by the gating multiply", x.e, x.e), kShared,
      BackwardRegion::kOutput);
}

}  // namespace

void moe_saved(const MlpOp& op, const Dims& x, std::vector<SavedTensor>& out) {
  const Bytes S = checked_mul(x.T, op.top_k);
  if (op.gpt_oss) {
    gpt_oss_router_saved(op, x, out);
    gpt_oss_experts_saved(op, x, out);
    return;
  }
  router_saved(op, x, out);
  experts_saved(op, x, S, expert_rows(x.T, op.top_k, op.experts, x.moe, false), out);
  if (op.shared_width > 0) shared_saved(op, x, out);
}

Bytes moe_backward_transient(const MlpOp& op, const Dims& x) {
  // The combine's backward, first in the block: sum(dim=1) expands the T×h gradient to (T, k, h),
  // the view back to S×h copies it, and the inverse-permutation index's backward allocates zeros
  // and index_puts into a new S×h tensor: 3·c·S·h, c the dtype of weighted_out (proj_out × routing
  // weights: fp32 when the weights are fp32). Later, the experts' own backward holds the gradients of
  // the product and of act·up (2·r·S·I_e) once the combine's buffers are gone.
  const Bytes S = checked_mul(x.T, op.top_k);
  const Bytes c = routing_weight_bytes(op, x) == 4 ? 4 : std::max(x.r, x.e);
  const Bytes combine = checked_product({3, c, S, x.h});
  // Expert parallelism: the layer in backward is the one where this rank is the most loaded; its
  // rows beyond the mean (saved since its forward) are alive beside the working set.
  const Bytes R = expert_rows(x.T, op.top_k, op.experts, x.moe).rows;
  const Bytes mean = expert_rows(x.T, op.top_k, op.experts, x.moe, false).rows;
  const Bytes w = op.fp32_routing_weights ? 4 : x.e;
  const Bytes per_row = checked_add(checked_mul(x.r, checked_add(checked_mul(2, x.h), checked_mul(4, op.expert_width))), w);
  const Bytes excess = R > mean ? checked_mul(R - mean, per_row) : 0;
  const Bytes experts = checked_product({2, x.r, R, op.expert_width});
  const Bytes shared = checked_product({3, x.e, x.T, op.shared_width});
  return checked_add(std::max({combine, experts, shared}), excess);
}

Term moe_aux_loss_saved(const ModelConfig& m, const Dims& x) {
  // load_balancing_loss_func (transformers models/mixtral/modeling_mixtral.py, 5.24): per layer,
  // softmax of the recorded router logits (their dtype; CUDA autocast runs softmax in fp32) saved
  // for backward, and topk's int64 indices (saved, released with the discarded values); then
  // E-sized sums (one fp32 E vector saved by the final product).
  const Bytes probs = x.amp ? 4 : x.e;
  const Bytes per_layer = checked_add(checked_product({probs, x.T, m.num_experts}), checked_product({8, x.T, m.experts_per_token}));
  return {"moe.aux_loss", checked_add(checked_mul(m.num_layers, per_layer), checked_mul(4, m.num_experts)),
          fmt::format("L × ({}·T·E + 8·T·k) + 4·E: the aux loss's softmax of each layer's router logits and top-k indices", probs),
          "transformers models/mixtral/modeling_mixtral.py load_balancing_loss_func (output_router_logits)", false};
}

}  // namespace vramcalc
