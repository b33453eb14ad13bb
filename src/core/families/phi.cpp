// Phi-1.5 / Phi-2 (transformers models/phi/modeling_phi.py): one LayerNorm (with bias) feeding
// attention and MLP in parallel (x + attn(ln(x)) + mlp(ln(x))), separate q/k/v and dense with
// biases, partial rotary (partial_rotary_factor of each head, the rest passed through and
// concatenated), GELU MLP fc1/fc2 (gelu_new), untied lm_head with a bias.
#include <algorithm>

#include <vramcalc/error.hpp>

#include "core/families/families.hpp"

namespace vramcalc {
namespace {

using enum BackwardRegion;

void read(const ConfigReader& c, ModelConfig& m) {
  if (c.flag("qk_layernorm", false)) {
    throw InputError(config_field("qk_layernorm"), "true", "Phi's optional q/k LayerNorm is not modelled");
  }
  build::read_common(c, m, false);
  m.attention_bias = true;
  m.linear_bias = true;
  m.lm_head_bias = true;
  m.parallel_block = true;
  m.block_norms = 1;
  m.hidden_act = "gelu_new";  // PhiConfig.hidden_act default (the config's value overrides)
  const double pct = c.number("partial_rotary_factor", 0.5);
  m.rotary_dim = static_cast<std::uint64_t>(static_cast<double>(m.head_dim) * std::min(pct, 1.0));
}

std::vector<ParamTensor> parameters(const ModelConfig& m) {
  const std::uint64_t h = m.hidden_size;
  const std::uint64_t L = m.num_layers;
  std::vector<ParamTensor> t;
  build::embedding(t, m, "embed_tokens.weight");
  build::linear(t, "layers.*.self_attn.q_proj", m.q_dim(), h, L, true, kInput);
  build::linear(t, "layers.*.self_attn.k_proj", m.kv_dim(), h, L, true, kInput);
  build::linear(t, "layers.*.self_attn.v_proj", m.kv_dim(), h, L, true, kInput);
  build::linear(t, "layers.*.self_attn.dense", h, m.q_dim(), L, true, kAfterAttention);
  build::linear(t, "layers.*.mlp.fc1", m.intermediate_size, h, L, true, kAfterAttention);
  build::linear(t, "layers.*.mlp.fc2", h, m.intermediate_size, L, true, kOutput);
  build::norm(t, "layers.*.input_layernorm", h, L, true, kInput);
  build::head(t, m, "final_layernorm", true, "lm_head");
  if (!m.tie_word_embeddings) t.push_back({"lm_head.bias", m.vocab_size, 1, 1, true, false, ParamScope::kLmHead, true, kNone});
  return t;
}

LayerSpec layer(const ModelConfig& m) {
  const std::uint64_t h = m.hidden_size;
  // The one norm's output is read by q, k, v and fc1.
  return {{NormOp{"input_layernorm", NormKind::kLayerNorm, h, 1, 4, false, false, kInput}, AttentionOp{},
           MlpOp{.kind = MlpKind::kPlain, .act_extra = build::act_extra(m)}},
          NormKind::kLayerNorm, false};
}

}  // namespace

FamilySpec phi_family() { return {Family::kPhi, "phi", read, parameters, layer}; }

}  // namespace vramcalc
