#pragma once
/// MXFP4 experts (gpt-oss checkpoints, quantization_config quant_method "mxfp4"): the storage of
/// the 4-bit blocks and e8m0 scales, and what transformers does with them when training.

#include <vramcalc/model.hpp>
#include <vramcalc/term.hpp>

namespace vramcalc {

/// Bytes of the routed experts' weights stored as MXFP4: per weight row of `in` columns, in/2
/// bytes of packed FP4 pairs (`*_blocks`, (…, in/32, 16) uint8) and in/32 e8m0 scales (`*_scales`,
/// uint8), i.e. 4.25 bits per weight; 0 when the model has no MXFP4 experts.
Bytes mxfp4_expert_bytes(const ModelConfig& model);
/// The checkpoint on disk: the MXFP4 experts plus every other parameter in the checkpoint's dtype.
Bytes mxfp4_checkpoint_bytes(const ModelConfig& model);
/// The --explain term: the MXFP4 storage, and that training dequantizes (formula and source).
Term mxfp4_experts_term(const ModelConfig& model);

}  // namespace vramcalc
