#pragma once
/// Under Megatron-LM (layout.megatron set) --fp8 means Transformer Engine: tensorwise = Float8CurrentScaling,
/// delayed = DelayedScaling (src/core/te_fp8.cpp, FINDINGS §40).
/// FP8 training with torchao float8 (torchao.float8.convert_to_float8_training, torchao 0.18):
/// every nn.Linear whose in and out features are multiples of 16 becomes a Float8Linear
/// (torchtitan components/quantization/utils.py module_filter_fn). What it saves and the fp8
/// casts it makes in forward and backward: src/core/ops_fp8.cpp, tools/measure/FINDINGS.md §37.

#include <string>
#include <vector>

namespace vramcalc {

enum class Fp8Recipe {
  kNone,        ///< no float8 training
  kTensorwise,  ///< Float8LinearConfig() : one fp32 scale per tensor (torchao's default)
  kRowwise,     ///< Float8LinearConfig.from_recipe_name("rowwise"): an fp32 scale per row / column
  kDelayed,     ///< Transformer Engine DelayedScaling (Megatron-LM --fp8-recipe delayed): amax history, scales (te_fp8.cpp)
};

const char* to_string(Fp8Recipe value);
/// InputError(field::kFp8) listing the accepted names; "delayed" says why it is refused.
Fp8Recipe parse_fp8(const std::string& text);
std::vector<std::string> fp8_names();

}  // namespace vramcalc
