#pragma once
// Megatron-LM's cross-entropy (--loss vocab-parallel): what its autograd function keeps and
// allocates over the rank's vocabulary shard.

#include <vramcalc/logits_loss.hpp>

namespace vramcalc {

/// The loss of `m` (its vocab_size: the rank's shard) over T tokens whose logits are `el`-byte.
/// InputError(field::kLoss) for a logit soft-cap, which Megatron's loss does not apply.
LogitsLoss vocab_parallel_loss(const ModelConfig& m, Bytes T, Bytes el);

}  // namespace vramcalc
