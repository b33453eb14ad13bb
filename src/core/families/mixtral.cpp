// Mixtral (transformers models/mixtral/modeling_mixtral.py): Mistral's attention and norms with a
// sparse MoE block: router (MixtralTopKRouter: softmax in fp32, top-k, always renormalised; the
// routing weights stay fp32) and num_local_experts SwiGLU experts of width intermediate_size.
#include "core/families/families.hpp"

namespace vramcalc {
namespace {

using enum BackwardRegion;

void read(const ConfigReader& c, ModelConfig& m) {
  build::read_common(c, m, false);
  moe::read(c, m, "num_local_experts", "intermediate_size");
  m.norm_topk_prob = true;  // router_top_value /= router_top_value.sum(...)
  m.sliding_window = c.count("sliding_window", false, 0);
  m.sliding_layers = m.num_layers;
}

std::vector<ParamTensor> parameters(const ModelConfig& m) {
  const std::uint64_t h = m.hidden_size;
  const std::uint64_t L = m.num_layers;
  std::vector<ParamTensor> t;
  build::embedding(t, m, "embed_tokens.weight");
  build::attention_projections(t, m, false, false);
  moe::routed_experts(t, m);
  build::norm(t, "layers.*.input_layernorm", h, L, false, kInput);
  build::norm(t, "layers.*.post_attention_layernorm", h, L, false, kAfterAttention);
  build::head(t, m, "norm", false, "lm_head");
  return t;
}

LayerSpec layer(const ModelConfig& m) {
  const std::uint64_t h = m.hidden_size;
  // post_attention_layernorm feeds one Linear (the router); the experts gather its output by index.
  return {{NormOp{"input_layernorm", NormKind::kRms, h, 1, 3, false, false, kInput}, AttentionOp{},
           NormOp{"post_attention_layernorm", NormKind::kRms, h, 1, 1, false, false, kAfterAttention}, moe::block(m, true)},
          NormKind::kRms, false};
}

}  // namespace

FamilySpec mixtral_family() { return {Family::kMixtral, "mixtral", read, parameters, layer}; }

}  // namespace vramcalc
