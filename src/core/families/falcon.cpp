// Falcon (transformers models/falcon/modeling_falcon.py): fused query_key_value (multi-query,
// or grouped with new_decoder_architecture), parallel attention + MLP over one shared LayerNorm
// (Falcon-7B) or two (ln_attn, ln_mlp), GELU MLP, tied embeddings. FalconModel always builds
// the causal mask (allow_is_causal_skip=False), so SDPA gets a mask in every layer.
#include <vramcalc/error.hpp>

#include "core/families/families.hpp"

namespace vramcalc {
namespace {

using enum BackwardRegion;

void read(const ConfigReader& c, ModelConfig& m) {
  if (c.flag("alibi", false)) throw InputError(config_field("alibi"), "true", "ALiBi Falcon models are not supported yet (RoPE only)");
  const bool new_arch = c.flag("new_decoder_architecture", false);
  m.num_kv_heads = new_arch ? c.count("num_kv_heads", false, m.num_heads) : c.flag("multi_query", true) ? 1 : m.num_heads;
  m.intermediate_size = c.count("ffn_hidden_size", false, 4 * m.hidden_size);
  m.tie_word_embeddings = c.flag("tie_word_embeddings", true);
  m.linear_bias = c.flag("bias", false);
  m.parallel_block = new_arch || c.flag("parallel_attn", true);
  m.block_norms = new_arch ? c.count("num_ln_in_parallel_attn", false, 2) : (m.parallel_block ? 1 : 2);
}

std::vector<ParamTensor> parameters(const ModelConfig& m) {
  const std::uint64_t h = m.hidden_size;
  const std::uint64_t L = m.num_layers;
  const bool b = m.linear_bias;
  std::vector<ParamTensor> t;
  build::embedding(t, m, "word_embeddings.weight");
  build::linear(t, "h.*.self_attention.query_key_value", m.q_dim() + 2 * m.kv_dim(), h, L, b, kInput);
  build::linear(t, "h.*.self_attention.dense", h, m.q_dim(), L, b, kAfterAttention);
  build::linear(t, "h.*.mlp.dense_h_to_4h", m.intermediate_size, h, L, b, kAfterAttention);
  build::linear(t, "h.*.mlp.dense_4h_to_h", h, m.intermediate_size, L, b, kOutput);
  if (m.block_norms == 2 && m.parallel_block) {
    build::norm(t, "h.*.ln_attn", h, L, true, kInput);
    build::norm(t, "h.*.ln_mlp", h, L, true, kAfterAttention);
  } else {
    build::norm(t, "h.*.input_layernorm", h, L, true, kInput);
    if (!m.parallel_block) build::norm(t, "h.*.post_attention_layernorm", h, L, true, kAfterAttention);
  }
  build::head(t, m, "ln_f", true, "lm_head");
  return t;
}

LayerSpec layer(const ModelConfig& m) {
  const std::uint64_t h = m.hidden_size;
  constexpr NormKind kLn = NormKind::kLayerNorm;
  const AttentionOp attention{true, true, false};
  if (m.block_norms == 1) {  // one LayerNorm whose output both the qkv and the MLP's first Linear read
    return {{NormOp{"input_layernorm", kLn, h, 1, 2, false, false, kInput}, attention, MlpOp{MlpKind::kPlain}}, kLn, false};
  }
  const char* second = m.parallel_block ? "ln_mlp" : "post_attention_layernorm";
  return {{NormOp{m.parallel_block ? "ln_attn" : "input_layernorm", kLn, h, 1, 1, false, false, kInput}, attention,
           NormOp{second, kLn, h, 1, 1, false, m.parallel_block, kAfterAttention}, MlpOp{MlpKind::kPlain}},
          kLn, false};
}

}  // namespace

FamilySpec falcon_family() { return {Family::kFalcon, "falcon", read, parameters, layer}; }

}  // namespace vramcalc
