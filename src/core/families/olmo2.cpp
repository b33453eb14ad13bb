// OLMo 2 (transformers models/olmo2/modeling_olmo2.py): no norm before attention or MLP; the
// sublayer outputs are normalised before the residual add (post_attention_layernorm,
// post_feedforward_layernorm); RMSNorm over the whole q and k projections (QK-norm) before
// RoPE; Olmo2RMSNorm multiplies by its weight in fp32; RoPE tables stay fp32.
#include "core/families/families.hpp"

namespace vramcalc {
namespace {

using enum BackwardRegion;

void read(const ConfigReader& c, ModelConfig& m) {
  build::read_common(c, m, false);
  m.attention_bias = c.flag("attention_bias", false);
}

std::vector<ParamTensor> parameters(const ModelConfig& m) {
  const std::uint64_t h = m.hidden_size;
  const std::uint64_t L = m.num_layers;
  const bool bias = m.attention_bias;
  std::vector<ParamTensor> t;
  build::embedding(t, m, "embed_tokens.weight");
  build::attention_projections(t, m, bias, bias);
  build::norm(t, "layers.*.self_attn.q_norm", m.q_dim(), L, false, kInput);
  build::norm(t, "layers.*.self_attn.k_norm", m.kv_dim(), L, false, kInput);
  build::norm(t, "layers.*.post_attention_layernorm", h, L, false, kAfterAttention);
  build::gated_mlp(t, m, false);
  build::norm(t, "layers.*.post_feedforward_layernorm", h, L, false, kOutput);
  build::head(t, m, "norm", false, "lm_head");
  return t;
}

LayerSpec layer(const ModelConfig& m) {
  const std::uint64_t h = m.hidden_size;
  constexpr NormKind kNorm = NormKind::kRmsFp32Scale;
  return {{LinearInputOp{"attn_input", 3, kInput}, NormOp{"q_norm", kNorm, m.q_dim(), 1, 0, true, false, kInput},
           NormOp{"k_norm", kNorm, m.kv_dim(), 1, 0, true, false, kInput}, AttentionOp{},
           NormOp{"post_attention_layernorm", kNorm, h, 1, 0, false, false, kAfterAttention},
           LinearInputOp{"mlp_input", 2, kAfterAttention}, MlpOp{MlpKind::kGated},
           NormOp{"post_feedforward_layernorm", kNorm, h, 1, 0, false, false, kOutput}},
          kNorm, true};
}

}  // namespace

FamilySpec olmo2_family() { return {Family::kOlmo2, "olmo2", read, parameters, layer}; }

}  // namespace vramcalc
