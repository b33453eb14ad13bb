#pragma once
/// One change to the inputs, named by field id (vramcalc/error.hpp, namespace field) and a
/// value as text: what advice, the planner and its layouts hand back, applied here.

#include <vramcalc/estimate.hpp>

namespace vramcalc {

/// Sets the field `change.field` of `inputs` to `change.value` ("3", "full", "cpu", "true").
/// A ZeRO stage change takes DeepSpeed's defaults for the new stage (HF "auto" buckets) and
/// keeps the offload settings. InputError(field, value) for a value the field does not take,
/// or for a field that cannot be changed this way.
void apply_change(EstimateInputs& inputs, const Advice::Change& change);

/// `inputs` with every change applied in order.
EstimateInputs with_changes(EstimateInputs inputs, const std::vector<Advice::Change>& changes);

}  // namespace vramcalc
