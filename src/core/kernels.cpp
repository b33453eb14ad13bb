// Named kernel sets (kernels.hpp): parsing and description.
#include <vramcalc/kernels.hpp>

#include <array>
#include <utility>

#include <fmt/format.h>

#include "core/spellcheck.hpp"
#include <vramcalc/error.hpp>

namespace vramcalc {
namespace {

constexpr std::array<std::pair<KernelPreset, const char*>, 2> kPresets{{{KernelPreset::kHf, "hf"}, {KernelPreset::kLiger, "liger"}}};

}  // namespace

const char* to_string(KernelPreset value) {
  for (const auto& [p, name] : kPresets) {
    if (p == value) return name;
  }
  return "?";
}

std::vector<std::string> kernel_preset_names() {
  std::vector<std::string> out;
  for (const auto& entry : kPresets) out.emplace_back(entry.second);
  return out;
}

KernelPreset parse_kernel_preset(const std::string& text) {
  const std::string key = detail::lower(text);
  for (const auto& [p, name] : kPresets) {
    if (key == name) return p;
  }
  const auto names = kernel_preset_names();
  std::string message = fmt::format("expected one of {}", fmt::join(names, ", "));
  const std::string suggestion = detail::closest_match(text, names);
  if (!suggestion.empty()) message += fmt::format(" (did you mean '{}'?)", suggestion);
  throw InputError(field::kKernels, text, message);
}

// Liger-Kernel transformers/monkey_patch.py apply_liger_kernel_to_llama: rope, rms_norm and
// swiglu default to True (fused_linear_cross_entropy too: LossImpl::kFused).
KernelSet kernel_set_of(KernelPreset preset) {
  if (preset == KernelPreset::kLiger) return {true, true, true};
  return {};
}

std::string describe(const KernelSet& k) {
  if (!k.any()) return "hf";
  if (k == kernel_set_of(KernelPreset::kLiger)) return "liger";
  std::vector<std::string> parts;
  if (k.fused_norm) parts.emplace_back("fused-norm");
  if (k.fused_rope) parts.emplace_back("fused-rope");
  if (k.fused_swiglu) parts.emplace_back("fused-swiglu");
  return fmt::format("{}", fmt::join(parts, "+"));
}

}  // namespace vramcalc
