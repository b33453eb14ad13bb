// Qwen2-MoE / Qwen1.5-MoE (transformers models/qwen2_moe/modeling_qwen2_moe.py): Qwen2's attention
// (q/k/v bias) with Qwen2MoeSparseMoeBlock: a router (softmax fp32, top-k, renormalised only with
// norm_topk_prob, weights cast to the logits' dtype), num_experts SwiGLU experts of width
// moe_intermediate_size, and a shared SwiGLU expert of width shared_expert_intermediate_size scaled
// by sigmoid(shared_expert_gate(x)).
#include <algorithm>

#include "core/families/families.hpp"

namespace vramcalc {
namespace {

using enum BackwardRegion;

void read(const ConfigReader& c, ModelConfig& m) {
  build::read_common(c, m, false);
  moe::read(c, m, "num_experts", "moe_intermediate_size");
  m.shared_expert_intermediate_size = c.count("shared_expert_intermediate_size", true);
  m.norm_topk_prob = c.flag("norm_topk_prob", false);
  m.qkv_bias = c.flag("qkv_bias", true);
  // configuration_qwen2_moe.py (5.24) __post_init__: layer i slides when use_sliding_window, i is even
  // and i < max_window_layers (default 28), unless the config lists layer_types.
  if (c.flag("use_sliding_window", false)) {
    m.sliding_window = c.count("sliding_window", false, 4096);
    const std::uint64_t below = std::min(c.count("max_window_layers", false, 28), m.num_layers);
    m.sliding_layers = (below + 1) / 2;
  }
}

std::vector<ParamTensor> parameters(const ModelConfig& m) {
  const std::uint64_t h = m.hidden_size;
  const std::uint64_t L = m.num_layers;
  const std::uint64_t Is = m.shared_expert_intermediate_size;
  std::vector<ParamTensor> t;
  build::embedding(t, m, "embed_tokens.weight");
  build::attention_projections(t, m, m.qkv_bias, false);
  moe::routed_experts(t, m);
  build::linear(t, "layers.*.mlp.shared_expert.gate_proj", Is, h, L, false, kAfterAttention);
  build::linear(t, "layers.*.mlp.shared_expert.up_proj", Is, h, L, false, kAfterAttention);
  build::linear(t, "layers.*.mlp.shared_expert.down_proj", h, Is, L, false, kOutput);
  build::linear(t, "layers.*.mlp.shared_expert_gate", 1, h, L, false, kAfterAttention);
  build::norm(t, "layers.*.input_layernorm", h, L, false, kInput);
  build::norm(t, "layers.*.post_attention_layernorm", h, L, false, kAfterAttention);
  build::head(t, m, "norm", false, "lm_head");
  return t;
}

LayerSpec layer(const ModelConfig& m) {
  const std::uint64_t h = m.hidden_size;
  // post_attention_layernorm feeds four Linears: the shared expert's gate_proj and up_proj, the
  // shared_expert_gate and the router.
  return {{NormOp{"input_layernorm", NormKind::kRms, h, 1, 3, false, false, kInput}, AttentionOp{},
           NormOp{"post_attention_layernorm", NormKind::kRms, h, 1, 4, false, false, kAfterAttention}, moe::block(m, false)},
          NormKind::kRms, false};
}

}  // namespace

FamilySpec qwen2_moe_family() { return {Family::kQwen2Moe, "qwen2_moe", read, parameters, layer}; }

}  // namespace vramcalc
