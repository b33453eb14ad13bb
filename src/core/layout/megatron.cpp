// Megatron-LM's DDP and optimizer (core v0.16): one fp32 main_grad buffer covering every
// parameter of the rank, allocated at construction and zeroed each step; fp32 master weights
// and Adam states, whole or sharded over the data-parallel (× context-parallel) ranks by the
// distributed optimizer. The step runs TE/apex FusedAdam on the fp32 main grads: no
// parameter-sized temporary and no fp32 gradient copy.
#include <fmt/format.h>

#include <vramcalc/error.hpp>

#include "core/layout/policies.hpp"

namespace vramcalc {

const char* to_string(MegatronOptimizer value) {
  switch (value) {
    case MegatronOptimizer::kNone: return "none";
    case MegatronOptimizer::kDdp: return "ddp";
    case MegatronOptimizer::kDistributed: return "distributed";
  }
  return "?";
}

MegatronOptimizer parse_megatron_optimizer(const std::string& text) {
  for (MegatronOptimizer m : {MegatronOptimizer::kNone, MegatronOptimizer::kDdp, MegatronOptimizer::kDistributed}) {
    if (text == to_string(m)) return m;
  }
  throw InputError(field::kMegatron, text, "expected none, ddp or distributed");
}

RankStates MegatronPolicy::rank_states(const StepContext& ctx, const ModelStates& full) const {
  if (ctx.setup.precision != Precision::kMixed) {
    throw InputError(field::kPrecision, to_string(ctx.setup.precision), "Megatron's optimizer is modelled for its --bf16 training: use the mixed precision regime");
  }
  const std::uint64_t P = ctx.params.total;
  const std::uint64_t d = kind_ == MegatronOptimizer::kDistributed ? ctx.layout.gpus : 1;
  RankStates r{full, true, {}};
  ModelStates& s = r.states;
  s.gradients = component_term(ComponentId::kGradients, checked_mul(P, 4),
                               fmt::format("fp32 main_grad buffer: P × 4 B = {} × 4 (every parameter of the rank, not sharded)", group_digits(P)),
                               "Megatron core/distributed/param_and_grad_buffer.py _ParamAndGradBuffer (grad_data, grad_dtype fp32: "
                               "accumulate_allreduce_grads_in_fp32 with --bf16, training/arguments.py)");
  const char* opt_src = d > 1 ? "Megatron core/optimizer/distrib_optimizer.py (shard_main_param = shard_model_param.clone().float(); Adam states per shard)"
                              : "Megatron core/optimizer/optimizer.py Float16OptimizerWithFloat16Params (fp32 main params, Adam states)";
  s.master_weights = component_term(ComponentId::kMasterWeights, checked_mul(per_rank(P, d), 4),
                                    fmt::format("fp32 master: ⌈P / d⌉ × 4 B, d = {} {}", d, d > 1 ? "(distributed optimizer)" : "(whole)"), opt_src);
  s.optimizer_states = component_term(ComponentId::kOptimizerStates, per_rank(full.optimizer_states.bytes, d),
                                      fmt::format("Adam exp_avg + exp_avg_sq / d = {} / {}", group_digits(full.optimizer_states.bytes), d), opt_src);
  s.optimizer_step_temp = component_term(ComponentId::kOptimizerStepTemp, 0, "TE/apex FusedAdam: multi-tensor apply, no temporary",
                                         "Megatron core/optimizer/__init__.py (TE FusedAdam, else apex FusedAdam)");
  s.grad_fp32_copy = component_term(ComponentId::kGradFp32Copy, 0, "main_grad is already fp32 (.float() is a no-op)",
                                    "Megatron core/optimizer/distrib_optimizer.py (shard_model_grad.float())");
  return r;
}

void MegatronPolicy::buffers_at(Instant, const StepContext&, const RankStates&, Moment&) const {}

LoadPhase MegatronPolicy::load(const StepContext& ctx, const LoadSetup& load) const {
  LoadPhase lp;
  lp.cpu_terms.push_back(host_full_model(ctx, load.dtype_bytes.value_or(ctx.model.checkpoint_dtype_bytes)));
  const std::uint64_t d = kind_ == MegatronOptimizer::kDistributed ? ctx.layout.gpus : 1;
  load_whole_model(ctx, checked_mul(per_rank(ctx.params.total, d), 4), "Megatron core/optimizer (fp32 main params of the rank's shard)", lp);
  lp.gpu_point = "model moved to the GPU, optimizer's fp32 master copy built";
  finish_load(ctx, lp);
  return lp;
}

}  // namespace vramcalc
