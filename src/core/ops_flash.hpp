#pragma once
// The flash-attn library's kernels as HF calls them (transformers integrations/
// flash_attention.py; Dao-AILab/flash-attention flash_attn/flash_attn_interface.py,
// csrc/flash_attn/flash_api.cpp for FA2, hopper/flash_api.cpp for FA3): what they save and
// what their backward allocates.

#include <vector>

#include "core/ops.hpp"

namespace vramcalc {

inline bool is_flash(Attention a) { return a == Attention::kFlash2 || a == Attention::kFlash3; }

void flash_saved(const AttentionOp& op, const TrainingSetup& setup, const Dims& x, std::vector<SavedTensor>& out);
Bytes flash_backward_transient(const ModelConfig& m, const TrainingSetup& setup, const Dims& x);

}  // namespace vramcalc
