// Expert parallelism: the routed experts of every MoE layer split over `ep` ranks of the
// data-parallel (× context-parallel) group, the dense parts (attention, embeddings, norms, shared
// experts) replicated and sharded by the data-parallel layout, the routed experts' states sharded
// over the expert-data-parallel group of dp·cp/ep ranks (Megatron core/parallel_state.py
// initialize_model_parallel: expert_data_parallel_size = world / (etp·ep·pp); torchtitan
// ParallelDims: ep divides dp_shard·cp).
#include "core/expert_parallel.hpp"

#include <cmath>

#include <fmt/format.h>

#include <vramcalc/error.hpp>
#include <vramcalc/model_states.hpp>

namespace vramcalc {
namespace {

constexpr const char* kDispatcher =
    "Megatron core/transformer/moe/token_dispatcher.py MoEAlltoAllTokenDispatcher (dispatch_preprocess permute, token_dispatch / "
    "token_combine all_to_all into new tensors; core/tensor_parallel/mappings.py _AllToAll saves only the split sizes)";

void require_moe(const EstimateInputs& in, const char* field, const std::string& value) {
  if (in.model.num_experts == 0) throw InputError(field, value, "needs a mixture-of-experts model (the model has no routed experts)");
}

}  // namespace

void validate_moe_routing(const EstimateInputs& in) {
  if (in.layout.ep == 0) throw InputError(field::kEp, "0", "must be a positive integer");
  const MoeRouting& r = in.setup.moe;
  if (r.imbalance) {
    require_moe(in, field::kMoeImbalance, fmt::format("{}", *r.imbalance));
    if (!(std::isfinite(*r.imbalance) && *r.imbalance >= 1.0)) {
      throw InputError(field::kMoeImbalance, fmt::format("{}", *r.imbalance), "must be a number ≥ 1 (max / mean routed tokens per rank)");
    }
  }
  if (r.capacity_factor) {
    require_moe(in, field::kMoeCapacityFactor, fmt::format("{}", *r.capacity_factor));
    if (!(std::isfinite(*r.capacity_factor) && *r.capacity_factor > 0.0 && *r.capacity_factor <= 1e6)) {
      throw InputError(field::kMoeCapacityFactor, fmt::format("{}", *r.capacity_factor), "must be a number above 0");
    }
  }
  if (r.pad_to_capacity && !r.capacity_factor) {
    // Megatron token_dispatcher.py: assert self.moe_expert_capacity_factor is not None (drop_and_pad).
    throw InputError(field::kMoePadToCapacity, "true", "padding to capacity needs a capacity factor");
  }
}

void validate_expert_parallel(const EstimateInputs& in) {
  const ParallelLayout& l = in.layout;
  const std::string ep = std::to_string(l.ep);
  if (l.ep == 0) throw InputError(field::kEp, "0", "must be a positive integer");
  if (l.ep == 1) return;
  require_moe(in, field::kEp, ep);
  if (in.model.num_experts % l.ep != 0) {
    throw InputError(field::kEp, ep, fmt::format("must divide the model's {} routed experts", in.model.num_experts));
  }
  if (l.tp > 1) {
    // Megatron's experts default to expert_tensor_parallel_size = tp: not modelled.
    throw InputError(field::kEp, ep, "with tensor parallelism the experts' tensor split (expert tensor parallelism) is not modelled: use tp 1");
  }
  const std::uint64_t group = l.data_parallel() * l.cp;
  if (group % l.ep != 0) {
    throw InputError(field::kEp, ep,
                     fmt::format("must divide the data-parallel × context-parallel ranks ({} × {} = {}): ranks in total / pp must be a multiple of ep",
                                 l.data_parallel(), l.cp, group));
  }
}

RankStates expert_parallel_states(const LayoutPolicy& policy, const StepContext& ctx, const ModelStates& full, const RankView& v) {
  RankStates local = policy.rank_states(ctx, full);
  RankView all_view = v;
  all_view.model.expert_shards = 1;
  const ParameterCounts all_params = rank_parameters(all_view);
  const ModelStates all_full = model_states(all_params, ctx.setup);
  const StepContext all_ctx{all_view.model, all_params, ctx.setup, ctx.layout};
  const RankStates all = policy.rank_states(all_ctx, all_full);
  const std::uint64_t ep = v.model.expert_shards;
  const std::uint64_t edp = ctx.layout.gpus / ep;
  for (Term ModelStates::*t : {&ModelStates::weights, &ModelStates::master_weights, &ModelStates::gradients, &ModelStates::optimizer_states,
                               &ModelStates::optimizer_step_temp, &ModelStates::grad_fp32_copy, &ModelStates::autocast_cache,
                               &ModelStates::paged_states}) {
    if ((all.states.*t).bytes >= (all_full.*t).bytes) {
      (local.states.*t).formula += fmt::format(" [routed experts: this rank's E/{} of them]", ep);
      continue;
    }
    local.states.*t = all.states.*t;
    (local.states.*t).formula += fmt::format(" [routed experts: E/{} per rank sharded over the {} expert-data-parallel ranks = all E over {}]", ep,
                                             edp, ctx.layout.gpus);
  }
  return local;
}

Term ep_all_to_all(const RankView& v) {
  const MoeRouting& r = v.setup.moe;
  if (r.ep <= 1 || v.model.num_experts == 0) return component_term(ComponentId::kEpAllToAll, 0, "no expert parallelism", "", true);
  const Bytes T = v.setup.tokens();
  const Bytes S = checked_mul(T, v.model.experts_per_token);
  const ExpertRows rows = expert_rows(T, v.model.experts_per_token, v.model.num_experts, r);
  const Bytes e = precision_bytes(v.setup.precision).residual;  // the experts' dtype: the hidden states' (ops_moe.cpp)
  return component_term(ComponentId::kEpAllToAll, checked_product({e, checked_add(S, rows.rows), v.model.hidden_size}),
                        fmt::format("{}·(S + R)·h: the S = T·k permuted copies sent and the R = {} rows received by one all-to-all "
                                    "(dispatch; the combine and both backward exchanges mirror it), inside one MoE layer; "
                                    "not kept for backward. {}",
                                    e, rows.rows, rows.formula),
                        kDispatcher, true);
}

}  // namespace vramcalc
