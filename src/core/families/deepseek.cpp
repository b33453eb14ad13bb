// DeepSeek-V2 / V3 (transformers 5.24 models/deepseek_v2/modeling_deepseek_v2.py,
// models/deepseek_v3/modeling_deepseek_v3.py): multi-head latent attention (q_a_proj → q_a_layernorm →
// q_b_proj, or a plain q_proj without q_lora_rank; kv_a_proj_with_mqa → kv_a_layernorm on the r_kv latent →
// kv_b_proj, the shared d_rope key part rotated and broadcast over the heads) and DeepSeekMoE: the first
// first_k_dense_replace layers have a dense SwiGLU MLP of intermediate_size, the others n_routed_experts
// experts of moe_intermediate_size (3-D tensors), an fp32 router (_keep_in_fp32_modules_strict "gate.weight")
// and an ungated shared MLP of n_shared_experts × moe_intermediate_size. V2 routes by softmax (greedy or
// group-limited), V3 by sigmoid + e_score_correction_bias (a buffer, not a parameter) over groups and
// renormalises; both scale by routed_scaling_factor. The HF class builds num_hidden_layers layers: V3's
// multi-token-prediction layer (model.layers.61) is not built (_keys_to_ignore_on_load_unexpected).
#include <fmt/format.h>

#include <vramcalc/error.hpp>

#include "core/families/families.hpp"

namespace vramcalc {
namespace {

using enum BackwardRegion;

void read_mla(const ConfigReader& c, ModelConfig& m) {
  m.q_lora_rank = c.count("q_lora_rank", false, 0);  // null: a plain q_proj (V2-Lite)
  m.kv_lora_rank = c.count("kv_lora_rank", false, 512);
  m.qk_nope_head_dim = c.count("qk_nope_head_dim", false, 128);
  m.qk_rope_head_dim = c.count("qk_rope_head_dim", false, 64);
  m.v_head_dim = c.count("v_head_dim", false, 128);
  // configuration_deepseek_v{2,3}.py __post_init__: head_dim = qk_rope_head_dim (the RoPE table width);
  // vramcalc's head_dim is the q/k head width d_nope + d_rope, its rotary_dim d_rope.
  m.head_dim = m.qk_nope_head_dim + m.qk_rope_head_dim;
  m.rotary_dim = m.qk_rope_head_dim;
  if (m.qk_rope_head_dim % 2 != 0) {
    throw InputError(config_field("qk_rope_head_dim"), std::to_string(m.qk_rope_head_dim), fmt::format("must be even ({})", c.origin()));
  }
}

void read_moe(const ConfigReader& c, ModelConfig& m, std::uint64_t experts_default, bool renorm_default) {
  m.num_experts = c.count("n_routed_experts", false, experts_default);
  m.experts_per_token = c.count("num_experts_per_tok", true);
  m.moe_intermediate_size = c.count("moe_intermediate_size", false, 1407);
  m.shared_expert_intermediate_size = checked_mul(c.count("n_shared_experts", false, 1), m.moe_intermediate_size);
  m.norm_topk_prob = c.flag("norm_topk_prob", renorm_default);
  m.output_router_logits = c.flag("output_router_logits", false);
  m.first_k_dense_replace = static_cast<std::uint64_t>(c.number("first_k_dense_replace", 0.0));
  if (m.experts_per_token > m.num_experts) {
    throw InputError(config_field("num_experts_per_tok"), std::to_string(m.experts_per_token),
                     fmt::format("exceeds n_routed_experts {} ({})", m.num_experts, c.origin()));
  }
  if (m.first_k_dense_replace >= m.num_layers) {
    throw InputError(config_field("first_k_dense_replace"), std::to_string(m.first_k_dense_replace),
                     fmt::format("must be below num_hidden_layers {}: at least one MoE layer is modelled ({})", m.num_layers, c.origin()));
  }
  if (const std::uint64_t freq = c.count("moe_layer_freq", false, 1); freq != 1) {
    throw InputError(config_field("moe_layer_freq"), std::to_string(freq),
                     fmt::format("transformers builds an MoE layer at every layer from first_k_dense_replace on; only 1 is supported ({})", c.origin()));
  }
  const std::uint64_t groups = c.count("n_group", false, 1);
  m.router_groups = groups;
  m.router_topk_groups = c.count("topk_group", false, 1);
  if (m.num_experts % groups != 0) {
    throw InputError(config_field("n_group"), std::to_string(groups), fmt::format("must divide n_routed_experts {} ({})", m.num_experts, c.origin()));
  }
}

void read_v2(const ConfigReader& c, ModelConfig& m) {
  build::read_common(c, m, false);
  m.attention_bias = c.flag("attention_bias", false);
  m.mlp_bias = c.flag("mlp_bias", false);
  read_mla(c, m);
  read_moe(c, m, 64, false);
}

void read_v3(const ConfigReader& c, ModelConfig& m) {
  build::read_common(c, m, false);
  m.attention_bias = c.flag("attention_bias", false);
  read_mla(c, m);
  read_moe(c, m, 256, true);
}

void mla_parameters(std::vector<ParamTensor>& t, const ModelConfig& m) {
  const std::uint64_t h = m.hidden_size;
  const std::uint64_t L = m.num_layers;
  const std::uint64_t a = m.num_heads;
  const bool bias = m.attention_bias;
  if (m.q_lora_rank == 0) {
    build::linear(t, "layers.*.self_attn.q_proj", checked_mul(a, m.head_dim), h, L, false, kInput);
  } else {
    build::linear(t, "layers.*.self_attn.q_a_proj", m.q_lora_rank, h, L, bias, kInput);
    build::norm(t, "layers.*.self_attn.q_a_layernorm", m.q_lora_rank, L, false, kInput);
    build::linear(t, "layers.*.self_attn.q_b_proj", checked_mul(a, m.head_dim), m.q_lora_rank, L, false, kInput);
  }
  build::linear(t, "layers.*.self_attn.kv_a_proj_with_mqa", m.kv_lora_rank + m.qk_rope_head_dim, h, L, bias, kInput);
  build::norm(t, "layers.*.self_attn.kv_a_layernorm", m.kv_lora_rank, L, false, kInput);
  build::linear(t, "layers.*.self_attn.kv_b_proj", checked_mul(a, m.qk_nope_head_dim + m.v_head_dim), m.kv_lora_rank, L, false, kInput);
  build::linear(t, "layers.*.self_attn.o_proj", h, checked_mul(a, m.v_head_dim), L, bias, kAfterAttention);
}

// Dense layers (mlp.{gate,up,down}_proj of intermediate_size) and MoE layers (router, routed experts,
// shared_experts.{gate,up,down}_proj of n_shared_experts × moe_intermediate_size).
void mlp_parameters(std::vector<ParamTensor>& t, const ModelConfig& m) {
  const std::uint64_t h = m.hidden_size;
  const std::uint64_t k = m.first_k_dense_replace;
  const std::uint64_t n = m.num_layers - k;
  const std::uint64_t E = m.num_experts;
  const std::uint64_t I = m.moe_intermediate_size;
  const std::uint64_t Is = m.shared_expert_intermediate_size;
  const bool bias = m.mlp_bias;
  if (k > 0) {
    build::linear(t, "layers.*.mlp.gate_proj", m.intermediate_size, h, k, bias, kAfterAttention);
    build::linear(t, "layers.*.mlp.up_proj", m.intermediate_size, h, k, bias, kAfterAttention);
    build::linear(t, "layers.*.mlp.down_proj", h, m.intermediate_size, k, bias, kOutput);
  }
  t.push_back({"layers.*.mlp.gate.weight", E, h, n, true, false, ParamScope::kLayer, true, kAfterAttention});
  t.push_back({"layers.*.mlp.experts.gate_up_proj", checked_product({E, 2, I}), h, n, false, false, ParamScope::kLayer, true,
               kAfterAttention, E});
  t.push_back({"layers.*.mlp.experts.down_proj", checked_mul(E, h), I, n, false, false, ParamScope::kLayer, true, kOutput, E});
  build::linear(t, "layers.*.mlp.shared_experts.gate_proj", Is, h, n, bias, kAfterAttention);
  build::linear(t, "layers.*.mlp.shared_experts.up_proj", Is, h, n, bias, kAfterAttention);
  build::linear(t, "layers.*.mlp.shared_experts.down_proj", h, Is, n, bias, kOutput);
}

std::vector<ParamTensor> parameters(const ModelConfig& m) {
  const std::uint64_t h = m.hidden_size;
  const std::uint64_t L = m.num_layers;
  std::vector<ParamTensor> t;
  build::embedding(t, m, "embed_tokens.weight");
  mla_parameters(t, m);
  mlp_parameters(t, m);
  build::norm(t, "layers.*.input_layernorm", h, L, false, kInput);
  build::norm(t, "layers.*.post_attention_layernorm", h, L, false, kAfterAttention);
  build::head(t, m, "norm", false, "lm_head");
  return t;
}

// The attention half of a layer: input_layernorm feeds q_proj (or q_a_proj) and kv_a_proj_with_mqa;
// q_a_layernorm feeds q_b_proj and kv_a_layernorm kv_b_proj (both normalise a projection output).
std::vector<LayerOp> attention_ops(const ModelConfig& m) {
  constexpr NormKind kRms = NormKind::kRms;
  std::vector<LayerOp> ops{NormOp{"input_layernorm", kRms, m.hidden_size, 1, 2, false, false, kInput}};
  if (m.q_lora_rank > 0) ops.push_back(NormOp{"q_a_layernorm", kRms, m.q_lora_rank, 1, 1, true, false, kInput});
  ops.push_back(NormOp{"kv_a_layernorm", kRms, m.kv_lora_rank, 1, 1, true, false, kInput});
  AttentionOp attn;
  attn.mla = true;
  ops.push_back(attn);
  return ops;
}

MlpOp moe_op(const ModelConfig& m, bool v3, std::uint64_t groups) {
  MlpOp op = moe::block(m, true);  // the router runs in fp32: fp32 routing weights
  op.router = v3 ? MlpOp::Router::kDeepseekSigmoid : MlpOp::Router::kDeepseekSoftmax;
  op.shared_ungated = true;
  op.router_groups = groups;
  op.router_topk_groups = m.router_topk_groups;
  return op;
}

LayerSpec layer_of(const ModelConfig& m, bool v3, std::uint64_t groups) {
  constexpr NormKind kRms = NormKind::kRms;
  LayerSpec spec;
  spec.ops = attention_ops(m);
  spec.dense_ops = spec.ops;
  // MoE layers: post_attention_layernorm feeds the shared expert's gate_proj and up_proj (the router reads an
  // fp32 .type() of it, ops_moe.cpp); dense layers: gate_proj and up_proj.
  spec.ops.push_back(NormOp{"post_attention_layernorm", kRms, m.hidden_size, 1, 2, false, false, kAfterAttention});
  spec.ops.push_back(moe_op(m, v3, groups));
  spec.dense_ops.push_back(NormOp{"post_attention_layernorm", kRms, m.hidden_size, 1, 2, false, false, kAfterAttention});
  spec.dense_ops.push_back(MlpOp{});
  spec.dense_layers = m.first_k_dense_replace;
  spec.rope_complex = !v3;
  return spec;
}

// V2's group_limited_greedy (topk_method, taken as n_group > 1; "greedy" configs set n_group 1) masks the
// softmax scores with masked_fill, which saves its bool T×E mask; V3's group mask only feeds the index choice.
LayerSpec layer_v2(const ModelConfig& m) { return layer_of(m, false, m.router_groups > 1 ? m.router_groups : 0); }
LayerSpec layer_v3(const ModelConfig& m) { return layer_of(m, true, m.router_groups > 1 ? m.router_groups : 0); }

}  // namespace

FamilySpec deepseek_v2_family() {
  return {Family::kDeepseekV2, "deepseek_v2", read_v2, parameters, layer_v2, {{"num_experts", "n_routed_experts"}}};
}
FamilySpec deepseek_v3_family() { return {Family::kDeepseekV3, "deepseek_v3", read_v3, parameters, layer_v3}; }

}  // namespace vramcalc
