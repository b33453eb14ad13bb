#pragma once
// DeepSpeed's zero_optimization sizes set from text by field id (a recipe's knobs, the planner):
// reduce_bucket_size, stage3_prefetch_bucket_size, stage3_param_persistence_threshold,
// stage3_max_live_parameters, contiguous_gradients (deepspeed/runtime/zero/config.py).

#include <string>

#include <vramcalc/deepspeed.hpp>

namespace vramcalc {

/// Sets the ZeroSettings field that `field` names (vramcalc/error.hpp field::kReduceBucketSize and
/// the next four) to `value`; false when `field` names none of them. InputError(field, value) for
/// a value DeepSpeed's config would reject (not an integer ≥ 0; reduce_bucket_size 0; not a bool).
bool apply_zero_knob(ZeroSettings& zero, const std::string& field, const std::string& value);

}  // namespace vramcalc
