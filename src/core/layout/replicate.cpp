// One GPU, or torch DDP over N ranks: the model states are whole on every rank.
#include <fmt/format.h>

#include "core/layout/policies.hpp"

namespace vramcalc {

RankStates ReplicatePolicy::rank_states(const StepContext& ctx, const ModelStates& full) const {
  RankStates r{full, false, {}};
  if (ctx.layout.gpus <= 1) return r;
  // The DDP reducer keeps flat buckets holding a copy of every gradient
  // (gradient_as_bucket_view=False by default), allocated at construction.
  // Only parameters that require grad are bucketed (reducer.cpp; LoRA: the adapters).
  const Bytes g = trained_bytes_per_param(ctx, precision_bytes(ctx.setup.precision).grad);
  const std::uint64_t P = frozen_base(ctx) ? trained_params(ctx) : ctx.params.total;
  r.buffers.push_back(component_term(
      ComponentId::kDdpGradBuckets, checked_mul(P, g),
      fmt::format("DDP gradient buckets: {} × {} B = {} × {} (a second copy of the gradients)", frozen_base(ctx) ? "P_t" : "P", g,
                  group_digits(P), g),
      "torch/csrc/distributed/c10d/reducer.cpp (bucket views, gradient_as_bucket_view=False); pytorch PR #41954"));
  return r;
}

void ReplicatePolicy::buffers_at(Instant instant, const StepContext&, const RankStates& rank, Moment& m) const {
  if (instant == Instant::kLoad) return;
  if (const Term* buckets = find_term(rank.buffers, ComponentId::kDdpGradBuckets)) {
    m.add(ComponentId::kDdpGradBuckets, buckets->bytes);
  }
}

LoadPhase ReplicatePolicy::load(const StepContext& ctx, const LoadSetup& load) const {
  const PrecisionBytes pb = precision_bytes(ctx.setup.precision);
  LoadPhase lp;
  lp.cpu_terms.push_back(host_full_model(ctx, load.dtype_bytes.value_or(ctx.model.checkpoint_dtype_bytes)));
  load_whole_model(ctx, checked_mul(ctx.params.total, pb.master),
                   "DeepSpeed runtime/zero/stage_1_and_2.py (single_partition_of_fp32_groups)", lp);
  lp.gpu_point = "model moved to the GPU, optimizer's fp32 master copy built";
  finish_load(ctx, lp);
  return lp;
}

}  // namespace vramcalc
