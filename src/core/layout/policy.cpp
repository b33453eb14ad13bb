// What every layout policy shares: validation, the policy factory, and the whole-model load.
#include <vramcalc/layout_policy.hpp>

#include <fmt/format.h>

#include <vramcalc/error.hpp>

#include "core/layout/policies.hpp"

namespace vramcalc {

Bytes per_rank(Bytes x, std::uint64_t n) { return ceil_div(x, n); }

const Term* find_term(const std::vector<Term>& terms, ComponentId id) {
  for (const auto& t : terms) {
    if (t.name == name_of(id)) return &t;
  }
  return nullptr;
}

bool LayoutPolicy::has(Instant instant) const { return instant != Instant::kBackwardHead; }

HostMemory LayoutPolicy::host(const StepContext&, const ModelStates&) const { return {}; }

std::optional<PhaseEntry> LayoutPolicy::gradients_at(Instant, const StepContext&, const RankStates&) const {
  return std::nullopt;
}

void validate_layout(const ParallelLayout& layout) {
  if (layout.gpus == 0) throw InputError(field::kGpus, "0", "must be a positive integer");
  if (layout.gpus_per_node == 0) throw InputError(field::kGpusPerNode, "0", "must be a positive integer");
  const ZeroSettings& z = layout.zero;
  if (z.stage < 0 || z.stage > 3) throw InputError(field::kZeroStage, std::to_string(z.stage), "expected 0, 1, 2 or 3");
  if (z.offload_param.device != OffloadDevice::kNone && z.stage != 3) {
    throw InputError(field::kOffloadParam, to_string(z.offload_param.device), "parameter offload needs ZeRO stage 3");
  }
  if (z.offload_optimizer.device != OffloadDevice::kNone && z.stage == 0) {
    throw InputError(field::kOffloadOptimizer, to_string(z.offload_optimizer.device), "optimizer offload needs ZeRO stage 1, 2 or 3");
  }
  if (z.offload_optimizer.ratio < 1.0 && z.stage != 3) {
    throw InputError(field::kOffloadOptimizerRatio, fmt::format("{}", z.offload_optimizer.ratio), "a partial offload ratio needs ZeRO stage 3");
  }
  validate_model_parallel_layout(layout);
  validate_fsdp(layout);
}

std::unique_ptr<LayoutPolicy> make_policy(const ParallelLayout& layout) {
  validate_layout(layout);
  if (layout.megatron != MegatronOptimizer::kNone) return std::make_unique<MegatronPolicy>(layout.megatron);
  if (layout.fsdp.version == 1) return std::make_unique<Fsdp1Policy>(layout.fsdp);
  if (layout.fsdp.version != 0) return std::make_unique<Fsdp2Policy>(layout.fsdp);
  if (layout.zero.stage == 0) return std::make_unique<ReplicatePolicy>();
  return std::make_unique<ZeroPolicy>(layout.zero);
}

Term host_full_model(const StepContext& ctx, Bytes load_bytes) {
  const ParameterCounts& pc = ctx.params;
  return {"full_model", checked_mul(pc.total, load_bytes),
          fmt::format("P × {} B = {} × {}: every rank materialises the whole model (load dtype)", load_bytes,
                      group_digits(pc.total), load_bytes),
          "transformers modeling_utils from_pretrained (meta-device loader, one copy; low_cpu_mem_usage always on since PR #36963)",
          false};
}

void finish_load(const StepContext& ctx, LoadPhase& lp, const std::string& merge_note) {
  for (const auto& t : lp.cpu_terms) lp.cpu_per_rank = checked_add(lp.cpu_per_rank, t.bytes);
  lp.cpu_per_node = checked_mul(lp.cpu_per_rank, std::min(ctx.layout.gpus_per_node, ctx.layout.gpus));
  lp.moment = {Instant::kLoad, lp.gpu_point, {}};
  for (const auto& t : lp.gpu_terms) {
    lp.gpu = checked_add(lp.gpu, t.bytes);
    const ComponentId id = find_component(t.name).value();
    lp.moment.add(id, t.bytes, lp.moment.bytes_of(id) > 0 ? merge_note : "");
  }
}

void load_whole_model(const StepContext& ctx, Bytes master_rank, const char* master_source, LoadPhase& lp) {
  const PrecisionBytes pb = precision_bytes(ctx.setup.precision);
  Bytes model_bytes = checked_mul(ctx.params.total, pb.weight);
  if (ctx.params.trainable != ctx.params.total) {
    // LoRA: adapters in their own dtype beside the base.
    model_bytes = stored_weight_bytes(ctx.params, pb.weight, ctx.setup.lora);
  }
  lp.gpu_terms.push_back(component_term(
      ComponentId::kWeights, model_bytes,
      fmt::format("P × {} B: engine casts and moves the whole model to the GPU (module.to(device))", pb.weight),
      "DeepSpeed runtime/engine.py _configure_distributed_model"));
  lp.gpu_terms.push_back(component_term(ComponentId::kMasterWeights, master_rank,
                                        "fp32 master partition built by the optimizer", master_source));
}

}  // namespace vramcalc
