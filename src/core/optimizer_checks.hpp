#pragma once
// Combinations of optimizer options the estimator refuses, with the reason (InputError).

#include <vramcalc/estimate.hpp>

namespace vramcalc {

/// Throws InputError for optimizer settings that contradict the rest of the inputs.
void validate_optimizer(const EstimateInputs& in);

}  // namespace vramcalc
