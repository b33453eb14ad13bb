#pragma once
/// Umbrella header of the vramcalc core library.

#include <vramcalc/activations.hpp>
#include <vramcalc/architecture.hpp>
#include <vramcalc/change.hpp>
#include <vramcalc/component.hpp>
#include <vramcalc/error.hpp>
#include <vramcalc/estimate.hpp>
#include <vramcalc/gpu.hpp>
#include <vramcalc/layout.hpp>
#include <vramcalc/layout_policy.hpp>
#include <vramcalc/logits_loss.hpp>
#include <vramcalc/model.hpp>
#include <vramcalc/model_io.hpp>
#include <vramcalc/model_states.hpp>
#include <vramcalc/overhead.hpp>
#include <vramcalc/plan.hpp>
#include <vramcalc/recipe.hpp>
#include <vramcalc/term.hpp>
#include <vramcalc/timeline.hpp>
#include <vramcalc/training.hpp>
#include <vramcalc/units.hpp>
#include <vramcalc/model_head.hpp>

namespace vramcalc {
/// Library version, e.g. "0.1.0".
const char* version();
}  // namespace vramcalc
