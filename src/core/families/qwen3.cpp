// Qwen3 (transformers models/qwen3/modeling_qwen3.py): Llama's layer with an RMSNorm over each
// head of q and k (q_norm, k_norm of width head_dim) before RoPE; head_dim independent of the
// hidden size.
#include "core/families/families.hpp"

namespace vramcalc {
namespace {

using enum BackwardRegion;

void read(const ConfigReader& c, ModelConfig& m) {
  build::read_common(c, m, false);
  m.attention_bias = c.flag("attention_bias", false);
  if (c.flag("use_sliding_window", false)) {
    m.sliding_window = c.count("sliding_window", false, 0);
    const std::uint64_t first = c.count("max_window_layers", false, 0);
    m.sliding_layers = first >= m.num_layers ? 0 : m.num_layers - first;
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
  build::gated_mlp(t, m, false);
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
           NormOp{"post_attention_layernorm", kRms, h, 1, 2, false, false, kAfterAttention}, MlpOp{MlpKind::kGated}},
          kRms, false};
}

}  // namespace

FamilySpec qwen3_family() { return {Family::kQwen3, "qwen3", read, parameters, layer}; }

}  // namespace vramcalc
