// Builders the family files share, and the registry of families.
#include <vramcalc/architecture.hpp>

#include "core/families/families.hpp"

namespace vramcalc {

namespace build {

void linear(std::vector<ParamTensor>& out, const std::string& name, std::uint64_t out_features, std::uint64_t in_features,
            std::uint64_t count, bool bias, BackwardRegion region) {
  out.push_back({name + ".weight", out_features, in_features, count, true, false, ParamScope::kLayer, true, region});
  if (bias) out.push_back({name + ".bias", out_features, 1, count, true, false, ParamScope::kLayer, true, region});
}

void norm(std::vector<ParamTensor>& out, const std::string& name, std::uint64_t width, std::uint64_t count, bool bias,
          BackwardRegion region) {
  out.push_back({name + ".weight", width, 1, count, false, false, ParamScope::kLayer, true, region});
  if (bias) out.push_back({name + ".bias", width, 1, count, false, false, ParamScope::kLayer, true, region});
}

void attention_projections(std::vector<ParamTensor>& out, const ModelConfig& m, bool qkv_bias, bool o_bias) {
  const std::uint64_t h = m.hidden_size;
  const std::uint64_t L = m.num_layers;
  linear(out, "layers.*.self_attn.q_proj", m.q_dim(), h, L, qkv_bias, BackwardRegion::kInput);
  linear(out, "layers.*.self_attn.k_proj", m.kv_dim(), h, L, qkv_bias, BackwardRegion::kInput);
  linear(out, "layers.*.self_attn.v_proj", m.kv_dim(), h, L, qkv_bias, BackwardRegion::kInput);
  linear(out, "layers.*.self_attn.o_proj", h, m.q_dim(), L, o_bias, BackwardRegion::kAfterAttention);
}

void gated_mlp(std::vector<ParamTensor>& out, const ModelConfig& m, bool bias) {
  const std::uint64_t h = m.hidden_size;
  const std::uint64_t L = m.num_layers;
  linear(out, "layers.*.mlp.gate_proj", m.intermediate_size, h, L, bias, BackwardRegion::kAfterAttention);
  linear(out, "layers.*.mlp.up_proj", m.intermediate_size, h, L, bias, BackwardRegion::kAfterAttention);
  linear(out, "layers.*.mlp.down_proj", h, m.intermediate_size, L, bias, BackwardRegion::kOutput);
}

void embedding(std::vector<ParamTensor>& out, const ModelConfig& m, const std::string& name) {
  out.push_back({name, m.vocab_size, m.hidden_size, 1, false, true, ParamScope::kEmbedding, true, BackwardRegion::kNone});
}

void head(std::vector<ParamTensor>& out, const ModelConfig& m, const std::string& final_norm, bool final_norm_bias,
          const std::string& lm_head) {
  const std::uint64_t h = m.hidden_size;
  out.push_back({final_norm + ".weight", h, 1, 1, false, false, ParamScope::kFinalNorm, true, BackwardRegion::kNone});
  if (final_norm_bias) out.push_back({final_norm + ".bias", h, 1, 1, false, false, ParamScope::kFinalNorm, true, BackwardRegion::kNone});
  if (!m.tie_word_embeddings) {
    out.push_back({lm_head + ".weight", m.vocab_size, h, 1, true, false, ParamScope::kLmHead, true, BackwardRegion::kNone});
  }
}

void read_common(const ConfigReader& config, ModelConfig& m, bool tied_default) {
  m.num_kv_heads = config.count("num_key_value_heads", false, m.num_heads);
  m.intermediate_size = config.count("intermediate_size", true);
  m.tie_word_embeddings = config.flag("tie_word_embeddings", tied_default);
}

std::uint64_t act_extra(const ModelConfig& m) {
  // transformers activations.py NewGELUActivation: 0.5 * x * (1 + tanh(sqrt(2/pi) * (x + 0.044715 * x^3))),
  // elementwise autograd ops: pow saves x, tanh its output, the last mul both of its operands.
  return m.hidden_act == "gelu_new" ? 3 : 0;
}

}  // namespace build

const std::vector<FamilySpec>& family_specs() {
  static const std::vector<FamilySpec> specs = {llama_family(Family::kLlama), llama_family(Family::kMistral),
                                                llama_family(Family::kQwen2), gemma_family(Family::kGemma),
                                                gemma_family(Family::kGemma2), phi3_family(), gpt_neox_family(),
                                                falcon_family(), qwen3_family(), olmo2_family(),
                                                mixtral_family(), qwen2_moe_family(), qwen3_moe_family(),
                                                gpt2_family(), phi_family(), starcoder2_family(), gemma3_family(),
                                                bloom_family(), bert_family(), roberta_family(),
                                                gpt_oss_family(), deepseek_v2_family(), deepseek_v3_family(),
                                                t5_family(Family::kT5), t5_family(Family::kMt5), t5_family(Family::kUmt5)};
  return specs;
}

const FamilySpec& family_spec(Family family) { return family_specs().at(static_cast<std::size_t>(family)); }

const FamilySpec* find_family(std::string_view model_type) {
  for (const auto& f : family_specs()) {
    if (f.model_type == model_type) return &f;
  }
  return nullptr;
}

}  // namespace vramcalc
