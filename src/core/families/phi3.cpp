// Phi-3 (transformers models/phi3/modeling_phi3.py): one fused qkv_proj sliced into views and a
// fused gate_up_proj; every layer slides when the config gives a window.
#include "core/families/families.hpp"

namespace vramcalc {
namespace {

using enum BackwardRegion;

void read(const ConfigReader& c, ModelConfig& m) {
  build::read_common(c, m, false);
  m.sliding_window = c.count("sliding_window", false, 0);
  m.sliding_layers = m.num_layers;
}

std::vector<ParamTensor> parameters(const ModelConfig& m) {
  const std::uint64_t h = m.hidden_size;
  const std::uint64_t L = m.num_layers;
  std::vector<ParamTensor> t;
  build::embedding(t, m, "embed_tokens.weight");
  build::linear(t, "layers.*.self_attn.qkv_proj", m.q_dim() + 2 * m.kv_dim(), h, L, false, kInput);
  build::linear(t, "layers.*.self_attn.o_proj", h, m.q_dim(), L, false, kAfterAttention);
  build::linear(t, "layers.*.mlp.gate_up_proj", 2 * m.intermediate_size, h, L, false, kAfterAttention);
  build::linear(t, "layers.*.mlp.down_proj", h, m.intermediate_size, L, false, kOutput);
  build::norm(t, "layers.*.input_layernorm", h, L, false, kInput);
  build::norm(t, "layers.*.post_attention_layernorm", h, L, false, kAfterAttention);
  build::head(t, m, "norm", false, "lm_head");
  return t;
}

LayerSpec layer(const ModelConfig& m) {
  const std::uint64_t h = m.hidden_size;
  return {{NormOp{"input_layernorm", NormKind::kRms, h, 1, 1, false, false, kInput}, AttentionOp{true, false, false},
           NormOp{"post_attention_layernorm", NormKind::kRms, h, 1, 1, false, false, kAfterAttention},
           MlpOp{MlpKind::kFusedGated}},
          NormKind::kRms, false};
}

}  // namespace

FamilySpec phi3_family() { return {Family::kPhi3, "phi3", read, parameters, layer}; }

}  // namespace vramcalc
