// The exact parameter inventory: the family's tensors (src/core/families/) and the sums the
// memory terms need.
#include <vramcalc/model.hpp>

#include <algorithm>

#include <fmt/format.h>

#include <vramcalc/architecture.hpp>
#include <vramcalc/error.hpp>

#include "core/dense_layers.hpp"

namespace vramcalc {

const char* family_name(Family family) { return family_spec(family).model_type.data(); }

std::string supported_model_types() {
  std::string out;
  for (const auto& f : family_specs()) out += (out.empty() ? "" : ", ") + std::string(f.model_type);
  return out;
}

namespace {

// DeepSpeed's largest layer: the module with the most directly owned parameters (a weight and
// its bias).
std::uint64_t largest_module(const std::vector<ParamTensor>& tensors) {
  std::uint64_t largest = 0;
  for (const auto& p : tensors) {
    std::uint64_t module_params = p.numel();
    if (p.name.size() > 7 && p.name.ends_with(".weight")) {
      const std::string bias_name = p.name.substr(0, p.name.size() - 7) + ".bias";
      for (const auto& q : tensors) {
        if (q.name == bias_name) module_params += q.numel();
      }
    }
    largest = std::max(largest, module_params);
  }
  return largest;
}

// Layer tensors that only some layers have (DeepSeek: the dense MLP of the first k layers, the MoE block
// of the others), grouped by their layer count: the larger group is in "one decoder layer".
std::uint64_t largest_partial_layer(const std::vector<ParamTensor>& tensors, const ModelConfig& m) {
  std::uint64_t dense = 0;
  std::uint64_t sparse = 0;
  for (const auto& p : tensors) {
    if (p.scope != ParamScope::kLayer || p.count == m.num_layers) continue;
    (in_dense_layers_only(p, m) ? dense : sparse) += p.numel();
  }
  return std::max(dense, sparse);
}

}  // namespace

bool in_dense_layers_only(const ParamTensor& t, const ModelConfig& m) {
  return m.first_k_dense_replace > 0 && t.scope == ParamScope::kLayer && t.count == m.first_k_dense_replace &&
         t.name.starts_with("layers.*.mlp.") && t.name.find("expert") == std::string::npos && !t.name.starts_with("layers.*.mlp.gate.");
}

ParameterCounts count_parameters(const ModelConfig& m) { return sum_parameters(family_spec(m.family).parameters(m), m); }

ParameterCounts sum_parameters(std::vector<ParamTensor> tensors, const ModelConfig& m) {
  ParameterCounts pc;
  pc.tensors = std::move(tensors);
  for (const auto& p : pc.tensors) {
    const std::uint64_t n = checked_product({p.rows, p.cols, p.count});
    pc.total = checked_add(pc.total, n);
    if (p.trainable) pc.trainable = checked_add(pc.trainable, n);
    if (p.matmul) pc.matmul_weights += n;
    if (p.scope == ParamScope::kLayer && p.count == m.num_layers) pc.per_layer += p.numel();
    if (p.scope == ParamScope::kFinalNorm) pc.final_norm += p.numel();
    pc.largest_tensor = std::max(pc.largest_tensor, p.numel());
    // A token passes through k of the E routed experts (router and shared experts: all).
    if (p.experts > 0) pc.routed_experts = checked_add(pc.routed_experts, n);
    pc.active_per_token = checked_add(pc.active_per_token, p.experts > 0 ? n / p.experts * m.experts_per_token : n);
  }
  pc.per_layer += largest_partial_layer(pc.tensors, m);
  pc.embedding = m.vocab_size * m.hidden_size;
  // A classification head has no lm_head (its classifier tensors are in the inventory).
  pc.lm_head = m.tie_word_embeddings || m.head != ModelHead::kLm ? 0 : m.vocab_size * m.hidden_size;
  // Tied: lm_head multiplies by the embedding matrix, and autocast casts it for that matmul.
  if (m.output_tied()) pc.matmul_weights += pc.embedding;
  pc.largest_module = largest_module(pc.tensors);
  return pc;
}

}  // namespace vramcalc
