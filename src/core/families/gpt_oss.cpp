// gpt-oss (transformers models/gpt_oss/modeling_gpt_oss.py, 5.24, model_type gpt_oss): Llama-shaped
// attention with biases on q/k/v/o and one learned sink logit per head (GptOssAttention.sinks),
// layers alternating sliding-window and full attention (layer_types), YaRN RoPE whose cos/sin hold
// head_dim / 2 columns, RMSNorms that multiply the weight in fp32 (as OLMo2), and an MoE block of
// a biased router (GptOssTopKRouter: top-k of the logits, then a softmax over the k) and biased
// experts with a clamped SwiGLU (GptOssExperts). transformers has no SDPA path for the sinks
// (GptOssPreTrainedModel._supports_sdpa = False): eager attention.
#include <fmt/format.h>

#include <vramcalc/error.hpp>

#include "core/families/families.hpp"

namespace vramcalc {
namespace {

using enum BackwardRegion;

// Defaults are GptOssConfig's (configuration_gpt_oss.py, 5.24).
void read(const ConfigReader& c, ModelConfig& m) {
  m.head_dim = c.count("head_dim", false, 64);
  m.num_kv_heads = c.count("num_key_value_heads", false, 8);
  m.intermediate_size = c.count("intermediate_size", false, 2880);
  m.moe_intermediate_size = m.intermediate_size;  // GptOssExperts: intermediate_size is each expert's width
  m.num_experts = c.count("num_local_experts", false, 128);
  m.experts_per_token = c.count("num_experts_per_tok", false, 4);
  if (m.experts_per_token > m.num_experts) {
    throw InputError(config_field("num_experts_per_tok"), std::to_string(m.experts_per_token),
                     fmt::format("exceeds num_local_experts {} ({})", m.num_experts, c.origin()));
  }
  m.output_router_logits = c.flag("output_router_logits", false);
  m.tie_word_embeddings = c.flag("tie_word_embeddings", false);
  m.attention_bias = c.flag("attention_bias", true);
  m.attention_sinks = true;
  m.sliding_window = c.count("sliding_window", false, 128);
  // Without layer_types (__post_init__): layer i slides when i is even.
  m.sliding_layers = (m.num_layers + 1) / 2;
}

void experts(std::vector<ParamTensor>& t, const ModelConfig& m) {
  const std::uint64_t h = m.hidden_size;
  const std::uint64_t E = m.num_experts;
  const std::uint64_t I = m.moe_intermediate_size;
  const std::uint64_t L = m.num_layers;
  // gate_up_proj (E, h, 2I) and down_proj (E, I, h) as 3-D parameters, their biases (E, 2I) and (E, h);
  // _grouped_mm and the gathered biases are not autocast (FINDINGS.md §12).
  const auto add = [&](const char* name, std::uint64_t rows, std::uint64_t cols, BackwardRegion region) {
    t.push_back({.name = name, .rows = rows, .cols = cols, .count = L, .scope = ParamScope::kLayer,
                 .backward_region = region, .experts = E});
  };
  add("layers.*.mlp.experts.gate_up_proj", checked_product({E, 2, I}), h, kAfterAttention);
  add("layers.*.mlp.experts.gate_up_proj_bias", checked_product({E, 2, I}), 1, kAfterAttention);
  add("layers.*.mlp.experts.down_proj", checked_mul(E, h), I, kOutput);
  add("layers.*.mlp.experts.down_proj_bias", checked_mul(E, h), 1, kOutput);
}

std::vector<ParamTensor> parameters(const ModelConfig& m) {
  const std::uint64_t h = m.hidden_size;
  const std::uint64_t L = m.num_layers;
  std::vector<ParamTensor> t;
  build::embedding(t, m, "embed_tokens.weight");
  build::attention_projections(t, m, m.attention_bias, m.attention_bias);
  t.push_back({.name = "layers.*.self_attn.sinks", .rows = m.num_heads, .cols = 1, .count = L, .scope = ParamScope::kLayer,
               .backward_region = kInput});
  build::linear(t, "layers.*.mlp.router", m.num_experts, h, L, true, kAfterAttention);
  experts(t, m);
  build::norm(t, "layers.*.input_layernorm", h, L, false, kInput);
  build::norm(t, "layers.*.post_attention_layernorm", h, L, false, kAfterAttention);
  build::head(t, m, "norm", false, "lm_head");
  return t;
}

LayerSpec layer(const ModelConfig& m) {
  const std::uint64_t h = m.hidden_size;
  constexpr NormKind kNorm = NormKind::kRmsFp32Scale;  // (self.weight * hidden_states).to(input_dtype)
  MlpOp moe_block = moe::block(m, false);
  moe_block.gpt_oss = true;
  AttentionOp attention;
  attention.eager_only = true;
  // post_attention_layernorm feeds one Linear (the router); the experts gather its output by index.
  LayerSpec spec{{NormOp{"input_layernorm", kNorm, h, 1, 3, false, false, kInput}, attention,
                  NormOp{"post_attention_layernorm", kNorm, h, 1, 1, false, false, kAfterAttention}, moe_block},
                 kNorm, false};
  spec.rope_half_tables = true;  // GptOssRotaryEmbedding: emb = freqs (b, s, d/2), no cat
  return spec;
}

}  // namespace

FamilySpec gpt_oss_family() { return {Family::kGptOss, "gpt_oss", read, parameters, layer}; }

}  // namespace vramcalc
