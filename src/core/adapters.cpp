// LoRA adapters on the parameter inventory: which Linears get lora_A (r × in) and lora_B
// (out × r), and the frozen base (peft tuners/lora/layer.py LoraLayer.update_layer;
// peft tuners/tuners_utils.py BaseTuner._mark_only_adapters_as_trainable).
#include <vramcalc/adapters.hpp>

#include <vramcalc/architecture.hpp>

#include <algorithm>
#include <array>
#include <string_view>

#include <fmt/format.h>

#include <vramcalc/error.hpp>
#include <vramcalc/model.hpp>

namespace vramcalc {
namespace {

constexpr std::array<std::string_view, 7> kLinears = {"q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"};

void add_unique(std::vector<std::string>& out, std::string_view name) {
  if (std::find(out.begin(), out.end(), name) == out.end()) out.emplace_back(name);
}

// One name of the list: a module name, its short form (q, gate, ...) or a group.
void add_target(std::vector<std::string>& out, const std::string& name, const std::string& text) {
  if (name == "attention") {
    for (std::size_t i = 0; i < 4; ++i) add_unique(out, kLinears[i]);
  } else if (name == "mlp") {
    for (std::size_t i = 4; i < 7; ++i) add_unique(out, kLinears[i]);
  } else if (name == "all-linear" || name == "all") {
    // PEFT's "all-linear" adapts every Linear but the output embedding
    // (peft tuners/tuners_utils.py _maybe_include_all_linear_layers).
    for (auto l : kLinears) add_unique(out, l);
  } else {
    for (auto l : kLinears) {
      if (name == l || name + "_proj" == l) {
        add_unique(out, l);
        return;
      }
    }
    throw InputError(field::kLoraTargets, text,
                     fmt::format("unknown LoRA target '{}'; expected q,k,v,o,gate,up,down (or *_proj), attention, mlp or all-linear", name));
  }
}

}  // namespace

std::vector<std::string> parse_lora_targets(const std::string& text) {
  std::vector<std::string> out;
  std::size_t start = 0;
  while (start <= text.size()) {
    const std::size_t comma = std::min(text.find(',', start), text.size());
    const std::string name = text.substr(start, comma - start);
    if (name.empty()) throw InputError(field::kLoraTargets, text, "empty LoRA target name");
    add_target(out, name, text);
    start = comma + 1;
  }
  return out;
}

std::string lora_targets_text(const std::vector<std::string>& targets) {
  std::string out;
  for (const auto& t : targets) out += (out.empty() ? "" : ",") + t;
  return out;
}

std::vector<std::string> lora_targets_or_default(const LoraSetup& lora) {
  // PEFT's TRANSFORMERS_MODELS_TO_LORA_TARGET_MODULES_MAPPING: llama, mistral, qwen2 → q_proj, v_proj.
  if (lora.targets.empty()) return {"q_proj", "v_proj"};
  return lora.targets;
}

void apply_lora(std::vector<ParamTensor>& tensors, const ModelConfig& model, const LoraSetup& lora) {
  (void)model;
  for (auto& t : tensors) t.trainable = false;
  const std::uint64_t r = lora.rank;
  std::vector<ParamTensor> adapters;
  for (const auto& target : lora_targets_or_default(lora)) {
    const std::string suffix = "." + target + ".weight";
    bool found = false;
    for (const auto& t : tensors) {
      if (!t.name.ends_with(suffix)) continue;
      found = true;
      const std::string module = t.name.substr(0, t.name.size() - 7);
      adapters.push_back({.name = module + ".lora_A.default.weight", .rows = r, .cols = t.cols, .count = t.count,
                          .scope = t.scope, .trainable = true, .backward_region = t.backward_region,
                          .dtype_bytes = lora.adapter_bytes});
      adapters.push_back({.name = module + ".lora_B.default.weight", .rows = t.rows, .cols = r, .count = t.count,
                          .scope = t.scope, .trainable = true, .backward_region = t.backward_region,
                          .dtype_bytes = lora.adapter_bytes});
      // DoRA: DoraLinearLayer.update_layer makes nn.Parameter(weight_norm), one value per output
      // row, cast to the adapter dtype with lora_A/B (_cast_adapter_dtype).
      if (lora.dora) {
        adapters.push_back({.name = module + ".lora_magnitude_vector.default.weight", .rows = t.rows, .cols = 1,
                            .count = t.count, .scope = t.scope, .trainable = true, .backward_region = t.backward_region,
                            .dtype_bytes = lora.adapter_bytes});
      }
    }
    if (!found) throw InputError(field::kLoraTargets, target, "the model has no Linear of this name (fused projections are not adaptable by name)");
  }
  tensors.insert(tensors.end(), adapters.begin(), adapters.end());
  if (lora.base_quant == BaseQuant::kNone) return;
  // transformers' bnb quantizer replaces the decoder Linears; it keeps the output embedding
  // (get_keys_to_not_convert), the input embedding, norms and biases unquantized.
  for (auto& t : tensors) {
    t.quantized = !t.trainable && t.matmul && t.scope == ParamScope::kLayer && t.cols > 1;
  }
  if (!lora.kbit_upcast) return;
  // peft utils/other.py prepare_model_for_kbit_training: `param.data = param.data.to(torch.float32)`
  // for every fp16/bf16 parameter whose class is not Params4bit (int8 Int8Params are int8, kept).
  // It runs before get_peft_model, so the adapters keep their own dtype.
  for (auto& t : tensors) {
    if (!t.trainable && !t.quantized) t.dtype_bytes = 4;
  }
}

Bytes stored_weight_bytes(const ParameterCounts& pc, Bytes regime_bytes, const LoraSetup& lora) {
  Bytes total = 0;
  for (const auto& t : pc.tensors) {
    const Bytes each = t.quantized ? quantized_weight_bytes(lora.base_quant, lora.double_quant, t.rows, t.cols)
                                   : checked_mul(t.numel(), t.dtype_bytes ? t.dtype_bytes : regime_bytes);
    total = checked_add(total, checked_mul(each, t.count));
  }
  return total;
}

std::uint64_t quantized_parameters(const ParameterCounts& pc) {
  std::uint64_t n = 0;
  for (const auto& t : pc.tensors) {
    if (t.quantized) n = checked_add(n, t.total());
  }
  return n;
}

std::uint64_t kbit_upcast_parameters(const ParameterCounts& pc) {
  std::uint64_t n = 0;
  for (const auto& t : pc.tensors) {
    if (!t.trainable && !t.quantized && t.dtype_bytes == 4) n = checked_add(n, t.total());
  }
  return n;
}

ParameterCounts count_parameters(const ModelConfig& model, const LoraSetup& lora) {
  if (!lora.enabled()) return count_parameters(model);
  std::vector<ParamTensor> tensors = family_spec(model.family).parameters(model);
  apply_lora(tensors, model, lora);
  return sum_parameters(std::move(tensors), model);
}

}  // namespace vramcalc
