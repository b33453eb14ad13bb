// Gemma and Gemma 2 (transformers models/gemma, models/gemma2): GemmaRMSNorm scales by
// (1 + weight) in fp32; tied embeddings; Gemma 2 adds sandwich norms around attention and MLP,
// alternating sliding-window layers and tanh soft-caps on attention and final logits.
#include "core/families/families.hpp"

namespace vramcalc {
namespace {

using enum BackwardRegion;

void read(const ConfigReader& c, ModelConfig& m) {
  build::read_common(c, m, true);
  m.attention_bias = c.flag("attention_bias", false);
  if (m.family != Family::kGemma2) return;
  m.sliding_window = c.count("sliding_window", false, 4096);
  m.sliding_layers = (m.num_layers + 1) / 2;  // even layer indices slide
  m.attn_logit_softcapping = c.number("attn_logit_softcapping", 50.0);
  m.final_logit_softcapping = c.number("final_logit_softcapping", 30.0);
}

std::vector<ParamTensor> parameters(const ModelConfig& m) {
  const std::uint64_t h = m.hidden_size;
  const std::uint64_t L = m.num_layers;
  const bool bias = m.attention_bias;
  std::vector<ParamTensor> t;
  build::embedding(t, m, "embed_tokens.weight");
  build::attention_projections(t, m, bias, bias);
  build::gated_mlp(t, m, false);
  build::norm(t, "layers.*.input_layernorm", h, L, false, kInput);
  build::norm(t, "layers.*.post_attention_layernorm", h, L, false, kAfterAttention);
  if (m.family == Family::kGemma2) {
    build::norm(t, "layers.*.pre_feedforward_layernorm", h, L, false, kAfterAttention);
    build::norm(t, "layers.*.post_feedforward_layernorm", h, L, false, kAfterAttention);
  }
  build::head(t, m, "norm", false, "lm_head");
  return t;
}

LayerSpec layer(const ModelConfig& m) {
  const std::uint64_t h = m.hidden_size;
  constexpr NormKind kNorm = NormKind::kRmsFp32Scale;
  if (m.family == Family::kGemma) {
    return {{NormOp{"input_layernorm", kNorm, h, 1, 3, false, false, kInput}, AttentionOp{},
             NormOp{"post_attention_layernorm", kNorm, h, 1, 2, false, false, kAfterAttention}, MlpOp{MlpKind::kGated}},
            kNorm, false};
  }
  return {{NormOp{"input_layernorm", kNorm, h, 1, 3, false, false, kInput}, AttentionOp{},
           NormOp{"post_attention_layernorm", kNorm, h, 1, 0, false, false, kAfterAttention},
           NormOp{"pre_feedforward_layernorm", kNorm, h, 1, 2, false, false, kAfterAttention},
           NormOp{"post_feedforward_layernorm", kNorm, h, 1, 0, false, false, kAfterAttention}, MlpOp{MlpKind::kGated}},
          kNorm, false};
}

}  // namespace

FamilySpec gemma_family(Family family) {
  return {family, family == Family::kGemma2 ? "gemma2" : "gemma", read, parameters, layer};
}

}  // namespace vramcalc
