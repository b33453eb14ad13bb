// GPT-2 (transformers models/gpt2/modeling_gpt2.py): learned absolute positions (wpe), Conv1D
// projections (weight in × out, with bias) with one fused c_attn whose split q, k, v are views,
// no rotation, LayerNorm with bias, GELU MLP (gelu_new by default), tied embeddings. Its eager
// attention takes the softmax in the scores' dtype.
#include <vramcalc/error.hpp>

#include "core/families/families.hpp"

namespace vramcalc {
namespace {

using enum BackwardRegion;

void read(const ConfigReader& c, ModelConfig& m) {
  if (c.flag("add_cross_attention", false)) {
    throw InputError(config_field("add_cross_attention"), "true", "GPT-2 with cross-attention (encoder-decoder) is not modelled");
  }
  if (c.flag("reorder_and_upcast_attn", false)) {
    throw InputError(config_field("reorder_and_upcast_attn"), "true", "GPT-2's upcast-and-reorder eager attention is not modelled");
  }
  m.num_kv_heads = m.num_heads;
  m.intermediate_size = c.count("n_inner", false, 4 * m.hidden_size);  // GPT2Block: n_inner or 4·h
  m.tie_word_embeddings = c.flag("tie_word_embeddings", true);
  m.max_position_embeddings = c.count("max_position_embeddings", false, 1024);  // n_positions
  m.attention_bias = true;
  m.linear_bias = true;
  m.hidden_act = "gelu_new";  // GPT2Config.activation_function default (the config's value overrides)
}

std::vector<ParamTensor> parameters(const ModelConfig& m) {
  const std::uint64_t h = m.hidden_size;
  const std::uint64_t L = m.num_layers;
  std::vector<ParamTensor> t;
  build::embedding(t, m, "wte.weight");
  t.push_back({"wpe.weight", m.max_position_embeddings, h, 1, false, false, ParamScope::kEmbedding, true, kNone});
  build::norm(t, "h.*.ln_1", h, L, true, kInput);
  build::linear(t, "h.*.attn.c_attn", 3 * h, h, L, true, kInput);
  build::linear(t, "h.*.attn.c_proj", h, h, L, true, kAfterAttention);
  build::norm(t, "h.*.ln_2", h, L, true, kAfterAttention);
  build::linear(t, "h.*.mlp.c_fc", m.intermediate_size, h, L, true, kAfterAttention);
  build::linear(t, "h.*.mlp.c_proj", h, m.intermediate_size, L, true, kOutput);
  build::head(t, m, "ln_f", true, "lm_head");
  return t;
}

LayerSpec layer(const ModelConfig& m) {
  const std::uint64_t h = m.hidden_size;
  constexpr NormKind kLn = NormKind::kLayerNorm;
  AttentionOp attention{true, false};
  attention.rope = false;
  attention.softmax_in_input_dtype = true;
  LayerSpec spec{{NormOp{"ln_1", kLn, h, 1, 1, false, false, kInput}, attention,
                  NormOp{"ln_2", kLn, h, 1, 1, false, false, kAfterAttention}, MlpOp{.kind = MlpKind::kPlain, .act_extra = build::act_extra(m)}},
                 kLn, false};
  spec.rope_tables = 0;
  spec.learned_positions = true;
  return spec;
}

}  // namespace

FamilySpec gpt2_family() {
  return {Family::kGpt2, "gpt2", read, parameters, layer,
          {{"hidden_size", "n_embd"},
           {"num_hidden_layers", "n_layer"},
           {"num_attention_heads", "n_head"},
           {"max_position_embeddings", "n_positions"},
           {"hidden_act", "activation_function"}}};
}

}  // namespace vramcalc
