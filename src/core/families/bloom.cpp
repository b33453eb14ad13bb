// BLOOM (transformers models/bloom/modeling_bloom.py): ALiBi instead of position embeddings (a
// per-head linear bias on the scores, [b·a, 1, s] in the hidden dtype, added by baddbmm), a
// LayerNorm right after the word embedding, fused query_key_value (per head [q|k|v]) whose q, k,
// v are views, fp32 softmax cast back, a 4h MLP with a custom GELU Function that saves only its
// input, biases everywhere, tied embeddings. Eager attention only (no SDPA path in transformers).
#include <vramcalc/error.hpp>

#include "core/families/families.hpp"

namespace vramcalc {
namespace {

using enum BackwardRegion;

void read(const ConfigReader& c, ModelConfig& m) {
  if (c.flag("apply_residual_connection_post_layernorm", false)) {
    throw InputError(config_field("apply_residual_connection_post_layernorm"), "true",
                     "BLOOM with the residual taken after the LayerNorm is not modelled");
  }
  if (c.count("pretraining_tp", false, 1) > 1 && c.flag("slow_but_exact", false)) {
    throw InputError(config_field("slow_but_exact"), "true", "BLOOM's slow_but_exact tensor-parallel emulation is not modelled");
  }
  m.num_kv_heads = m.num_heads;
  m.intermediate_size = 4 * m.hidden_size;  // BloomMLP: dense_h_to_4h
  m.tie_word_embeddings = c.flag("tie_word_embeddings", true);
  m.attention_bias = true;
  m.linear_bias = true;
  m.hidden_act = "bloom_gelu";
}

std::vector<ParamTensor> parameters(const ModelConfig& m) {
  const std::uint64_t h = m.hidden_size;
  const std::uint64_t L = m.num_layers;
  std::vector<ParamTensor> t;
  build::embedding(t, m, "word_embeddings.weight");
  t.push_back({"word_embeddings_layernorm.weight", h, 1, 1, false, false, ParamScope::kEmbedding, true, kNone});
  t.push_back({"word_embeddings_layernorm.bias", h, 1, 1, false, false, ParamScope::kEmbedding, true, kNone});
  build::norm(t, "h.*.input_layernorm", h, L, true, kInput);
  build::linear(t, "h.*.self_attention.query_key_value", 3 * h, h, L, true, kInput);
  build::linear(t, "h.*.self_attention.dense", h, h, L, true, kAfterAttention);
  build::norm(t, "h.*.post_attention_layernorm", h, L, true, kAfterAttention);
  build::linear(t, "h.*.mlp.dense_h_to_4h", m.intermediate_size, h, L, true, kAfterAttention);
  build::linear(t, "h.*.mlp.dense_4h_to_h", h, m.intermediate_size, L, true, kOutput);
  build::head(t, m, "ln_f", true, "lm_head");
  return t;
}

LayerSpec layer(const ModelConfig& m) {
  const std::uint64_t h = m.hidden_size;
  constexpr NormKind kLn = NormKind::kLayerNorm;
  AttentionOp attention{true, false};
  attention.rope = false;  // ALiBi: q and k stay views of the fused output, saved by baddbmm
  attention.eager_only = true;
  LayerSpec spec{{NormOp{"input_layernorm", kLn, h, 1, 1, false, false, kInput}, attention,
                  NormOp{"post_attention_layernorm", kLn, h, 1, 1, false, false, kAfterAttention}, MlpOp{MlpKind::kPlain}},
                 kLn, false};
  spec.rope_tables = 0;
  spec.embedding_layernorm = true;
  return spec;
}

}  // namespace

FamilySpec bloom_family() {
  return {Family::kBloom, "bloom", read, parameters, layer,
          {{"num_hidden_layers", "n_layer"}, {"num_attention_heads", "n_head"}, {"hidden_size", "n_embed"}}};
}

}  // namespace vramcalc
