// Gemma 3 text model (transformers models/gemma3/modeling_gemma3.py, model_type gemma3_text):
// Gemma 2's sandwich norms ((1 + w) RMSNorm in fp32) and gated GELU MLP, plus an RMSNorm over
// each head of q and k (q_norm, k_norm) before RoPE, no soft-caps by default; five sliding-window
// layers to one global layer (sliding_window_pattern 6, or layer_types), each kind with its own
// RoPE table.
#include "core/families/families.hpp"

namespace vramcalc {
namespace {

using enum BackwardRegion;

void read(const ConfigReader& c, ModelConfig& m) {
  build::read_common(c, m, true);
  m.head_dim = c.count("head_dim", false, 256);  // Gemma3TextConfig default
  m.attention_bias = c.flag("attention_bias", false);
  m.hidden_act = "gelu_pytorch_tanh";
  m.sliding_window = c.count("sliding_window", false, 4096);
  // Without layer_types: layer i slides unless (i + 1) is a multiple of the pattern.
  const std::uint64_t pattern = c.count("sliding_window_pattern", false, 6);
  m.sliding_layers = m.num_layers - m.num_layers / pattern;
  m.attn_logit_softcapping = c.number("attn_logit_softcapping", 0.0);
  m.final_logit_softcapping = c.number("final_logit_softcapping", 0.0);
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
  build::norm(t, "layers.*.pre_feedforward_layernorm", h, L, false, kAfterAttention);
  build::norm(t, "layers.*.post_feedforward_layernorm", h, L, false, kAfterAttention);
  build::head(t, m, "norm", false, "lm_head");
  return t;
}

LayerSpec layer(const ModelConfig& m) {
  const std::uint64_t h = m.hidden_size;
  constexpr NormKind kNorm = NormKind::kRmsFp32Scale;
  LayerSpec spec{{NormOp{"input_layernorm", kNorm, h, 1, 3, false, false, kInput},
                  NormOp{"q_norm", kNorm, m.head_dim, m.num_heads, 0, true, false, kInput},
                  NormOp{"k_norm", kNorm, m.head_dim, m.num_kv_heads, 0, true, false, kInput}, AttentionOp{},
                  NormOp{"post_attention_layernorm", kNorm, h, 1, 0, false, false, kAfterAttention},
                  NormOp{"pre_feedforward_layernorm", kNorm, h, 1, 2, false, false, kAfterAttention},
                  NormOp{"post_feedforward_layernorm", kNorm, h, 1, 0, false, false, kAfterAttention},
                  MlpOp{MlpKind::kGated}},
                 kNorm, false};
  // One RoPE table per layer type present (Gemma3TextModel: position_embeddings[layer_type]).
  spec.rope_tables = m.sliding_layers > 0 && m.sliding_layers < m.num_layers ? 2 : 1;
  return spec;
}

}  // namespace

FamilySpec gemma3_family() {
  return {Family::kGemma3, "gemma3_text", read, parameters, layer, {{"hidden_act", "hidden_activation"}}};
}

}  // namespace vramcalc
