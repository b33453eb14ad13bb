#pragma once
// Advice: changes to the inputs that lower the peak, each re-estimated with the change made.

#include <vramcalc/estimate.hpp>

namespace vramcalc {

/// Appends to est.advice every candidate change that lowers est's device total.
void add_advice(Estimate& est);

}  // namespace vramcalc
