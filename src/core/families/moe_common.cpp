// What the mixture-of-experts families share: the router and routed-expert tensors of the
// transformers 5 MoE block (models/mixtral/modeling_mixtral.py MixtralTopKRouter, MixtralExperts:
// 3-D gate_up_proj (E, 2·I_e, h) and down_proj (E, h, I_e)) and the block's op.
#include <fmt/format.h>

#include <vramcalc/error.hpp>

#include "core/families/families.hpp"

namespace vramcalc::moe {

void read(const ConfigReader& c, ModelConfig& m, const char* experts_key, const char* width_key) {
  m.num_experts = c.count(experts_key, true);
  m.experts_per_token = c.count("num_experts_per_tok", true);
  m.moe_intermediate_size = c.count(width_key, true);
  m.output_router_logits = c.flag("output_router_logits", false);
  if (m.experts_per_token > m.num_experts) {
    throw InputError(config_field("num_experts_per_tok"), std::to_string(m.experts_per_token),
                     fmt::format("exceeds {} {} ({})", experts_key, m.num_experts, c.origin()));
  }
  // Qwen-MoE: a layer is dense when listed in mlp_only_layers or when (i + 1) % decoder_sparse_step != 0
  // (modeling_qwen2_moe.py Qwen2MoeDecoderLayer). vramcalc models every layer alike.
  if (c.list_length("mlp_only_layers") > 0) {
    throw InputError(config_field("mlp_only_layers"), "(a non-empty list)",
                     fmt::format("dense layers between MoE layers are not modelled; every layer must be an MoE layer ({})", c.origin()));
  }
  if (const std::uint64_t step = c.count("decoder_sparse_step", false, 1); step != 1) {
    throw InputError(config_field("decoder_sparse_step"), std::to_string(step),
                     fmt::format("dense layers between MoE layers are not modelled; only 1 is supported ({})", c.origin()));
  }
}

void routed_experts(std::vector<ParamTensor>& out, const ModelConfig& m) {
  const std::uint64_t h = m.hidden_size;
  // Expert parallelism: the rank holds E / ep of the routed experts; the router keeps all E rows.
  const std::uint64_t E = m.num_experts / m.expert_shards;
  const std::uint64_t I = m.moe_intermediate_size;
  const std::uint64_t L = m.num_layers;
  // The router is an F.linear (autocast casts its weight); the experts run _grouped_mm, which CPU
  // autocast leaves in the parameters' dtype (measured, tools/measure/FINDINGS.md §MoE).
  out.push_back({"layers.*.mlp.gate.weight", m.num_experts, h, L, true, false, ParamScope::kLayer, true, BackwardRegion::kAfterAttention});
  out.push_back({"layers.*.mlp.experts.gate_up_proj", checked_product({E, 2, I}), h, L, false, false, ParamScope::kLayer, true,
                 BackwardRegion::kAfterAttention, E});
  out.push_back({"layers.*.mlp.experts.down_proj", checked_mul(E, h), I, L, false, false, ParamScope::kLayer, true,
                 BackwardRegion::kOutput, E});
}

MlpOp block(const ModelConfig& m, bool fp32_routing_weights) {
  MlpOp op;
  op.kind = MlpKind::kMoe;
  op.experts = m.num_experts;
  op.top_k = m.experts_per_token;
  op.expert_width = m.moe_intermediate_size;
  op.shared_width = m.shared_expert_intermediate_size;
  op.renormalize = m.norm_topk_prob;
  op.fp32_routing_weights = fp32_routing_weights;
  op.local_experts = m.num_experts / m.expert_shards;
  return op;
}

}  // namespace vramcalc::moe
