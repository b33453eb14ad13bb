#pragma once
// The timeline of one training step on one rank: every moment, with the bytes each part of
// the model (states, the layout's buffers, autocast, activations, loss, workspaces) has alive.

#include <vector>

#include <vramcalc/activations.hpp>
#include <vramcalc/layout_policy.hpp>
#include <vramcalc/logits_loss.hpp>
#include <vramcalc/timeline.hpp>

namespace vramcalc {

/// The terms the timeline is made of.
struct StepParts {
  const ModelStates& full;   ///< one replica's model states
  const RankStates& rank;    ///< this rank's, with the layout's buffers
  const Activations& act;
  const LogitsLoss& loss;
  const Term& cublas;
  const LoadPhase& load;
};

/// Every moment of the step that `policy` has, in time order.
std::vector<Moment> build_timeline(const StepContext& ctx, const LayoutPolicy& policy, const StepParts& parts);

}  // namespace vramcalc
