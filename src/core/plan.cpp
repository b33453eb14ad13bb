// The planner as a whole: the run as given, its limits, each layout's fewest GPUs and the
// cheapest changes that make it fit.
#include <vramcalc/plan.hpp>

#include <algorithm>

#include <vramcalc/error.hpp>

namespace vramcalc {

bool Plan::anything_fits() const {
  const bool layout_fits = std::any_of(min_gpus.begin(), min_gpus.end(), [](const LayoutFit& l) { return l.gpus.has_value(); });
  return fits || max_batch.value > 0 || max_seq.value > 0 || layout_fits || !changes.empty();
}

Plan plan(const EstimateInputs& inputs, const PlanLimits& limits) {
  if (!inputs.gpu && !inputs.memory_budget) {
    throw InputError(field::kGpu, "", "the planner needs a GPU from the catalog or a memory budget");
  }
  Plan p;
  p.inputs = inputs;
  p.inputs.with_advice = false;
  p.limits = limits;
  p.capacity = inputs.memory_budget ? *inputs.memory_budget : inputs.gpu->capacity;
  p.fits = fits(p.inputs, &p.device_total);
  p.estimates = 1;
  p.max_batch = largest_fitting(p.inputs, field::kMicroBatch, limits.max_batch, &p.estimates);
  p.max_seq = largest_fitting(p.inputs, field::kSeqLen, limits.max_seq, &p.estimates);
  for (const LayoutOption& layout : plan_layouts()) {
    p.min_gpus.push_back(fewest_gpus(p.inputs, layout, limits.max_gpus, &p.estimates));
  }
  if (!p.fits) {
    p.changes = fitting_options(p.inputs, limits.max_combined, &p.estimates);
    if (p.changes.size() > limits.max_changes) p.changes.resize(limits.max_changes);
  }
  return p;
}

}  // namespace vramcalc
