// Qwen3-MoE (transformers models/qwen3_moe/modeling_qwen3_moe.py): Qwen3's attention (QK-norm per
// head) with Qwen3MoeSparseMoeBlock: a router (softmax fp32, top-k, renormalised with
// norm_topk_prob, weights cast to the logits' dtype) and num_experts SwiGLU experts of width
// moe_intermediate_size; no shared expert.
#include "core/families/families.hpp"

namespace vramcalc {
namespace {

using enum BackwardRegion;

void read(const ConfigReader& c, ModelConfig& m) {
  build::read_common(c, m, false);
  moe::read(c, m, "num_experts", "moe_intermediate_size");
  m.norm_topk_prob = c.flag("norm_topk_prob", false);
  m.attention_bias = c.flag("attention_bias", false);
  if (c.flag("use_sliding_window", false)) {
    m.sliding_window = c.count("sliding_window", false, 0);
    m.sliding_layers = m.num_layers;
  }
}

std::vector<ParamTensor> parameters(const ModelConfig& m) {
  const std::uint64_t h = m.hidden_size;
  const std::uint64_t L = m.num_layers;
  const bool bias = m.attention_bias;
  std::vector<ParamTensor> t;
  build::embedding(t, m, "embed_tokens.weight");
  build::attention_projections(t, m, bias, bias);
  build::norm(t, "layers.*.self_attn.q_norm", m.head_dim, L, false, kInput);
  build::norm(t, "layers.*.self_attn.k_norm", m.head_dim, L, false, kInput);
  moe::routed_experts(t, m);
  build::norm(t, "layers.*.input_layernorm", h, L, false, kInput);
  build::norm(t, "layers.*.post_attention_layernorm", h, L, false, kAfterAttention);
  build::head(t, m, "norm", false, "lm_head");
  return t;
}

LayerSpec layer(const ModelConfig& m) {
  const std::uint64_t h = m.hidden_size;
  constexpr NormKind kRms = NormKind::kRms;
  return {{NormOp{"input_layernorm", kRms, h, 1, 3, false, false, kInput},
           NormOp{"q_norm", kRms, m.head_dim, m.num_heads, 0, true, false, kInput},
           NormOp{"k_norm", kRms, m.head_dim, m.num_kv_heads, 0, true, false, kInput}, AttentionOp{},
           NormOp{"post_attention_layernorm", kRms, h, 1, 1, false, false, kAfterAttention}, moe::block(m, false)},
          kRms, false};
}

}  // namespace

FamilySpec qwen3_moe_family() { return {Family::kQwen3Moe, "qwen3_moe", read, parameters, layer}; }

}  // namespace vramcalc
