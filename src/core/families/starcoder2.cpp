// StarCoder2 (transformers models/starcoder2/modeling_starcoder2.py): Llama's attention (GQA,
// RoPE, q/k/v/o with biases when use_bias) with LayerNorm (with bias) instead of RMSNorm, a
// plain GELU MLP c_fc/c_proj (gelu_pytorch_tanh), sliding window on every layer, tied embeddings.
#include "core/families/families.hpp"

namespace vramcalc {
namespace {

using enum BackwardRegion;

void read(const ConfigReader& c, ModelConfig& m) {
  build::read_common(c, m, true);
  const bool bias = c.flag("use_bias", true);
  m.attention_bias = bias;
  m.mlp_bias = bias;
  m.hidden_act = "gelu_pytorch_tanh";  // Starcoder2Config default (the config's value overrides)
  m.sliding_window = c.count("sliding_window", false, 0);
  m.sliding_layers = m.num_layers;
}

std::vector<ParamTensor> parameters(const ModelConfig& m) {
  const std::uint64_t h = m.hidden_size;
  const std::uint64_t L = m.num_layers;
  std::vector<ParamTensor> t;
  build::embedding(t, m, "embed_tokens.weight");
  build::attention_projections(t, m, m.attention_bias, m.attention_bias);
  build::linear(t, "layers.*.mlp.c_fc", m.intermediate_size, h, L, m.mlp_bias, kAfterAttention);
  build::linear(t, "layers.*.mlp.c_proj", h, m.intermediate_size, L, m.mlp_bias, kOutput);
  build::norm(t, "layers.*.input_layernorm", h, L, true, kInput);
  build::norm(t, "layers.*.post_attention_layernorm", h, L, true, kAfterAttention);
  build::head(t, m, "norm", true, "lm_head");
  return t;
}

LayerSpec layer(const ModelConfig& m) {
  const std::uint64_t h = m.hidden_size;
  constexpr NormKind kLn = NormKind::kLayerNorm;
  return {{NormOp{"input_layernorm", kLn, h, 1, 3, false, false, kInput}, AttentionOp{},
           NormOp{"post_attention_layernorm", kLn, h, 1, 1, false, false, kAfterAttention},
           MlpOp{.kind = MlpKind::kPlain, .act_extra = build::act_extra(m)}},
          kLn, false};
}

}  // namespace

FamilySpec starcoder2_family() { return {Family::kStarcoder2, "starcoder2", read, parameters, layer}; }

}  // namespace vramcalc
