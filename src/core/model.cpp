// Exact parameter inventory of each supported family, tensor by tensor, following the HF
// module definitions (transformers/models/<family>/modeling_<family>.py).
#include <vramcalc/model.hpp>

#include <algorithm>

#include <vramcalc/error.hpp>

namespace vramcalc {

const char* family_name(Family family) {
  switch (family) {
    case Family::kLlama: return "llama";
    case Family::kMistral: return "mistral";
    case Family::kQwen2: return "qwen2";
    case Family::kGemma: return "gemma";
    case Family::kGemma2: return "gemma2";
    case Family::kPhi3: return "phi3";
  }
  return "?";
}

std::string supported_model_types() { return "llama, mistral, qwen2, gemma, gemma2, phi3"; }

namespace {

// A Linear layer's weight (out × in) and, when it has one, its bias (out).
void add_linear(std::vector<ParamTensor>& out, const std::string& name, std::uint64_t out_features,
                std::uint64_t in_features, std::uint64_t count, bool bias) {
  out.push_back({name + ".weight", out_features, in_features, count, true, false});
  if (bias) out.push_back({name + ".bias", out_features, 1, count, true, false});
}

void add_norm(std::vector<ParamTensor>& out, const std::string& name, std::uint64_t h, std::uint64_t count) {
  out.push_back({name + ".weight", h, 1, count, false, false});
}

}  // namespace

ParameterCounts count_parameters(const ModelConfig& m) {
  ParameterCounts pc;
  auto& t = pc.tensors;
  const std::uint64_t L = m.num_layers;
  const std::uint64_t h = m.hidden_size;
  const bool qkv_bias = m.attention_bias || m.qkv_bias;

  t.push_back({"embed_tokens.weight", m.vocab_size, h, 1, false, true});
  if (m.family == Family::kPhi3) {
    // Phi3Attention: one fused qkv_proj (q_dim + 2·kv_dim outputs), Phi3MLP: gate_up_proj (2I).
    add_linear(t, "layers.*.self_attn.qkv_proj", m.q_dim() + 2 * m.kv_dim(), h, L, qkv_bias);
    add_linear(t, "layers.*.self_attn.o_proj", h, m.q_dim(), L, m.attention_bias);
    add_linear(t, "layers.*.mlp.gate_up_proj", 2 * m.intermediate_size, h, L, m.mlp_bias);
  } else {
    add_linear(t, "layers.*.self_attn.q_proj", m.q_dim(), h, L, qkv_bias);
    add_linear(t, "layers.*.self_attn.k_proj", m.kv_dim(), h, L, qkv_bias);
    add_linear(t, "layers.*.self_attn.v_proj", m.kv_dim(), h, L, qkv_bias);
    add_linear(t, "layers.*.self_attn.o_proj", h, m.q_dim(), L, m.attention_bias);
    add_linear(t, "layers.*.mlp.gate_proj", m.intermediate_size, h, L, m.mlp_bias);
    add_linear(t, "layers.*.mlp.up_proj", m.intermediate_size, h, L, m.mlp_bias);
  }
  add_linear(t, "layers.*.mlp.down_proj", h, m.intermediate_size, L, m.mlp_bias);
  add_norm(t, "layers.*.input_layernorm", h, L);
  add_norm(t, "layers.*.post_attention_layernorm", h, L);
  if (m.family == Family::kGemma2) {
    // Gemma2DecoderLayer adds a sandwich norm around the MLP.
    add_norm(t, "layers.*.pre_feedforward_layernorm", h, L);
    add_norm(t, "layers.*.post_feedforward_layernorm", h, L);
  }
  add_norm(t, "norm", h, 1);
  if (!m.tie_word_embeddings) add_linear(t, "lm_head", m.vocab_size, h, 1, false);

  for (auto& p : t) {
    if (p.name.starts_with("layers.*.mlp.down_proj.")) {
      p.backward_region = BackwardRegion::kOutput;
    } else if (p.name.starts_with("layers.*.mlp.") || p.name.starts_with("layers.*.self_attn.o_proj.") ||
               p.name.starts_with("layers.*.post_attention_layernorm.") || p.name.starts_with("layers.*.pre_feedforward_layernorm.") ||
               p.name.starts_with("layers.*.post_feedforward_layernorm.")) {
      p.backward_region = BackwardRegion::kAfterAttention;
    } else if (p.name.starts_with("layers.")) {
      p.backward_region = BackwardRegion::kInput;
    }
    if (!p.name.starts_with("layers.")) {
      p.scope = p.embedding ? ParamScope::kEmbedding : p.name == "lm_head.weight" ? ParamScope::kLmHead : ParamScope::kFinalNorm;
    }
    const std::uint64_t n = checked_product({p.rows, p.cols, p.count});
    pc.total = checked_add(pc.total, n);
    if (p.matmul) pc.matmul_weights += n;
    if (p.name.starts_with("layers.")) pc.per_layer += p.numel();
    pc.largest_tensor = std::max(pc.largest_tensor, p.numel());
  }
  pc.embedding = m.vocab_size * h;
  pc.lm_head = m.tie_word_embeddings ? 0 : m.vocab_size * h;
  pc.final_norm = h;
  // Tied: lm_head multiplies by the embedding matrix, and autocast casts it for that matmul.
  if (m.tie_word_embeddings) pc.matmul_weights += pc.embedding;
  // DeepSpeed's largest layer: the module with the most directly owned parameters.
  std::uint64_t largest_module = 0;
  for (const auto& p : t) {
    std::uint64_t module_params = p.numel();
    if (p.name.size() > 7 && p.name.ends_with(".weight")) {
      const std::string bias_name = p.name.substr(0, p.name.size() - 7) + ".bias";
      for (const auto& q : t) {
        if (q.name == bias_name) module_params += q.numel();
      }
    }
    largest_module = std::max(largest_module, module_params);
  }
  pc.largest_module = largest_module;
  return pc;
}

}  // namespace vramcalc
