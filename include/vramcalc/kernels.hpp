#pragma once
/// Which kernel runs each fusable op of a decoder layer: HF's eager modules, or Liger-Kernel's
/// Triton kernels (linkedin/Liger-Kernel src/liger_kernel/ops/). A kernel set changes what the
/// op saves for backward and what its backward allocates (src/core/kernels.cpp); the fused
/// linear cross-entropy is chosen with the loss (LossImpl::kFused).

#include <string>
#include <vector>

namespace vramcalc {

struct KernelSet {
  bool fused_norm = false;    ///< LigerRMSNorm / LigerLayerNorm: saves the input and per-row rstd
  bool fused_rope = false;    ///< LigerRopeFunction: rotates q, k in place, saves cos/sin only
  bool fused_swiglu = false;  ///< LigerSiLUMulFunction / LigerGELUMulFunction: saves gate and up, recomputes the activation

  bool any() const { return fused_norm || fused_rope || fused_swiglu; }
  bool operator==(const KernelSet&) const = default;
};

/// Named kernel sets: "hf" (none fused) and "liger" (apply_liger_kernel_to_<model> defaults:
/// rms_norm, rope, swiglu; its fused_linear_cross_entropy is the loss choice "fused").
enum class KernelPreset { kHf, kLiger };

const char* to_string(KernelPreset value);
/// InputError(field::kKernels) listing the accepted names.
KernelPreset parse_kernel_preset(const std::string& text);
std::vector<std::string> kernel_preset_names();
KernelSet kernel_set_of(KernelPreset preset);
/// "hf", "liger", or the fused ops joined by '+' ("fused-norm+fused-swiglu").
std::string describe(const KernelSet& kernels);

}  // namespace vramcalc
