// Llama, Mistral and Qwen2 (transformers models/{llama,mistral,qwen2}/modeling_*.py): pre-norm
// RMSNorm, separate q/k/v/o projections (GQA), SwiGLU MLP.
#include "core/families/families.hpp"

namespace vramcalc {
namespace {

using enum BackwardRegion;

void read(const ConfigReader& c, ModelConfig& m) {
  build::read_common(c, m, false);
  m.attention_bias = m.family == Family::kLlama && c.flag("attention_bias", false);
  m.qkv_bias = m.family == Family::kQwen2;  // Qwen2Attention: q/k/v bias=True, o_proj bias=False
  m.mlp_bias = m.family == Family::kLlama && c.flag("mlp_bias", false);
  // Mistral slides every layer; Qwen2 the layers from max_window_layers on, with use_sliding_window.
  m.sliding_window = c.count("sliding_window", false, 0);
  if (m.family == Family::kMistral) m.sliding_layers = m.num_layers;
  if (m.family == Family::kQwen2 && c.flag("use_sliding_window", false)) {
    const std::uint64_t first = c.count("max_window_layers", false, 0);
    m.sliding_layers = first >= m.num_layers ? 0 : m.num_layers - first;
  }
}

std::vector<ParamTensor> parameters(const ModelConfig& m) {
  const std::uint64_t h = m.hidden_size;
  const std::uint64_t L = m.num_layers;
  const bool qkv_bias = m.attention_bias || m.qkv_bias;
  std::vector<ParamTensor> t;
  build::embedding(t, m, "embed_tokens.weight");
  build::attention_projections(t, m, qkv_bias, m.attention_bias);
  build::gated_mlp(t, m, m.mlp_bias);
  build::norm(t, "layers.*.input_layernorm", h, L, false, kInput);
  build::norm(t, "layers.*.post_attention_layernorm", h, L, false, kAfterAttention);
  build::head(t, m, "norm", false, "lm_head");
  return t;
}

LayerSpec layer(const ModelConfig& m) {
  const std::uint64_t h = m.hidden_size;
  return {{NormOp{"input_layernorm", NormKind::kRms, h, 1, 3, false, false, kInput}, AttentionOp{},
           NormOp{"post_attention_layernorm", NormKind::kRms, h, 1, 2, false, false, kAfterAttention}, MlpOp{MlpKind::kGated}},
          NormKind::kRms, false};
}

}  // namespace

FamilySpec llama_family(Family family) {
  const char* type = family == Family::kMistral ? "mistral" : family == Family::kQwen2 ? "qwen2" : "llama";
  return {family, type, read, parameters, layer};
}

}  // namespace vramcalc
