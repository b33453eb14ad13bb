// GPT-NeoX / Pythia (transformers models/gpt_neox/modeling_gpt_neox.py): LayerNorm with bias,
// one fused query_key_value (per-head [q|k|v]) sliced into views, partial rotary (rotary_pct of
// each head), GELU MLP, and by default the parallel residual x + attn(ln1(x)) + mlp(ln2(x)).
#include <cmath>

#include "core/families/families.hpp"

namespace vramcalc {
namespace {

using enum BackwardRegion;

void read(const ConfigReader& c, ModelConfig& m) {
  m.num_kv_heads = m.num_heads;
  m.intermediate_size = c.count("intermediate_size", true);
  m.tie_word_embeddings = c.flag("tie_word_embeddings", false);
  m.attention_bias = c.flag("attention_bias", true);  // GPTNeoXConfig: query_key_value and dense biases
  m.linear_bias = true;                               // the MLP's Linears always have biases
  m.parallel_block = c.flag("use_parallel_residual", true);
  const double pct = c.number("partial_rotary_factor", c.number("rotary_pct", 0.25));
  m.rotary_dim = static_cast<std::uint64_t>(static_cast<double>(m.head_dim) * std::min(pct, 1.0));
}

std::vector<ParamTensor> parameters(const ModelConfig& m) {
  const std::uint64_t h = m.hidden_size;
  const std::uint64_t L = m.num_layers;
  std::vector<ParamTensor> t;
  build::embedding(t, m, "embed_in.weight");
  build::norm(t, "layers.*.input_layernorm", h, L, true, kInput);
  build::norm(t, "layers.*.post_attention_layernorm", h, L, true, kAfterAttention);
  build::linear(t, "layers.*.attention.query_key_value", 3 * m.q_dim(), h, L, m.attention_bias, kInput);
  build::linear(t, "layers.*.attention.dense", h, m.q_dim(), L, m.attention_bias, kAfterAttention);
  build::linear(t, "layers.*.mlp.dense_h_to_4h", m.intermediate_size, h, L, true, kAfterAttention);
  build::linear(t, "layers.*.mlp.dense_4h_to_h", h, m.intermediate_size, L, true, kOutput);
  build::head(t, m, "final_layer_norm", true, "embed_out");
  return t;
}

LayerSpec layer(const ModelConfig& m) {
  const std::uint64_t h = m.hidden_size;
  // With the parallel residual both LayerNorms read (and save) the same x.
  return {{NormOp{"input_layernorm", NormKind::kLayerNorm, h, 1, 1, false, false, kInput}, AttentionOp{true, false},
           NormOp{"post_attention_layernorm", NormKind::kLayerNorm, h, 1, 1, false, m.parallel_block, kAfterAttention},
           MlpOp{MlpKind::kPlain}},
          NormKind::kLayerNorm, false};
}

}  // namespace

FamilySpec gpt_neox_family() { return {Family::kGptNeox, "gpt_neox", read, parameters, layer}; }

}  // namespace vramcalc
