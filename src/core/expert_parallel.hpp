#pragma once
// Expert parallelism (--ep) and the expert routing knobs: the checks, the rank's model states
// with the routed experts sharded over the expert-data-parallel group, and the all-to-all buffers.

#include <vramcalc/estimate.hpp>
#include <vramcalc/layout_policy.hpp>

#include "core/model_parallel.hpp"

namespace vramcalc {

/// InputError for imbalance / capacity settings that are out of range or given to a dense model.
void validate_moe_routing(const EstimateInputs& in);
/// InputError for an expert-parallel degree the model or the layout cannot take.
void validate_expert_parallel(const EstimateInputs& in);

/// The rank's model states under expert parallelism: `local` (the rank's E/ep experts) where the
/// layout keeps a state whole, the states of all E experts divided by the dp·cp group where it
/// shards them (E/ep experts over dp·cp/ep expert-data-parallel ranks: the same bytes).
RankStates expert_parallel_states(const LayoutPolicy& policy, const StepContext& ctx, const ModelStates& full, const RankView& v);

/// One MoE layer's all-to-all buffers on the most loaded rank (0 without expert parallelism).
Term ep_all_to_all(const RankView& v);

}  // namespace vramcalc
