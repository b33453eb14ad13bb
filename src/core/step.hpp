#pragma once
// The timeline of one training step on one rank: every moment, with the bytes each part of
// the model (states, the layout's buffers, autocast, activations, loss, workspaces) has alive.

#include <vector>

#include <vramcalc/activations.hpp>
#include <vramcalc/layout_policy.hpp>
#include <vramcalc/logits_loss.hpp>
#include <vramcalc/timeline.hpp>

#include "core/model_parallel.hpp"

namespace vramcalc {

/// The terms the timeline is made of.
struct StepParts {
  const ModelStates& full;   ///< one replica's model states
  const RankStates& rank;    ///< this rank's, with the layout's buffers
  const Activations& act;
  const LogitsLoss& loss;
  const Term& cublas;
  const LoadPhase& load;
  const ModelParallelTerms* mp = nullptr;  ///< tensor/context/pipeline parallelism's buffers; nullptr without
};

/// Every moment of the step that `policy` has, in time order.
std::vector<Moment> build_timeline(const StepContext& ctx, const LayoutPolicy& policy, const StepParts& parts);

}  // namespace vramcalc
