// PyTorch FSDP2 (torch.distributed.fsdp.fully_shard, torch ≥ 2.6): the sharded state of one
// rank, its groups and dtypes, and the load. The buffers of each instant are in
// fsdp2_timeline.cpp. Sources: torch/distributed/fsdp/_fully_shard/{_fsdp_param.py,
// _fsdp_param_group.py, _fsdp_collectives.py, _fsdp_api.py}.
#include "core/layout/fsdp2.hpp"

#include <algorithm>

#include <fmt/format.h>

#include <vramcalc/error.hpp>

#include "core/layout/policies.hpp"

namespace vramcalc {

namespace {

constexpr const char* kParamSrc =
    "torch/distributed/fsdp/_fully_shard/_fsdp_param.py FSDPParam._init_sharded_param (dim-0 shard, padded to ⌈d0/N⌉ rows)";

const char* dtype_name(Bytes b) { return b == 2 ? "bf16" : "fp32"; }

Precision storage_precision(const FsdpBytes& b) { return b.stored == 2 ? Precision::kBf16 : Precision::kFp32; }

}  // namespace

// HSDP (hsdp.cpp): the shard dimension of the (replicate, shard) mesh.
std::uint64_t fsdp_shards(const ParallelLayout& layout) { return layout.gpus / std::max<std::uint64_t>(layout.fsdp.replicate, 1); }

FsdpBytes fsdp_bytes(const FsdpSettings& f, Precision precision) {
  FsdpBytes b;
  b.stored = precision == Precision::kBf16 ? 2 : 4;
  // mixed = torchtitan's MixedPrecisionPolicy(param_dtype=bf16, reduce_dtype=fp32) over fp32
  // storage (job_config.py mixed_precision_param / mixed_precision_reduce).
  b.gathered = f.param_dtype_bytes.value_or(precision == Precision::kMixed || precision == Precision::kBf16 ? 2 : 4);
  b.reduce = f.reduce_dtype_bytes.value_or(precision == Precision::kMixed ? 4 : b.gathered);
  return b;
}

FsdpGroups fsdp_groups(const StepContext& ctx) {
  const std::uint64_t N = fsdp_shards(ctx.layout);
  const std::uint64_t L = std::max<std::uint64_t>(ctx.model.num_layers, 1);
  FsdpGroups g;
  for (const auto& t : ctx.params.tensors) {
    const std::uint64_t rows = ceil_div(t.rows, N);
    const std::uint64_t padded = checked_product({rows, N, t.cols, t.count});
    const std::uint64_t shard = checked_product({rows, t.cols, t.count});
    g.shard = checked_add(g.shard, shard);
    if (t.scope == ParamScope::kLayer) {
      g.block += padded / L;
      g.block_shard += shard / L;
      if (t.backward_region == BackwardRegion::kOutput) g.at_mlp += padded / L;
      if (t.backward_region == BackwardRegion::kOutput || t.backward_region == BackwardRegion::kAfterAttention) {
        g.at_attn += padded / L;
      }
      continue;
    }
    g.root = checked_add(g.root, padded);
    if (t.scope != ParamScope::kEmbedding) g.head = checked_add(g.head, padded);
  }
  if (ctx.model.output_tied()) g.head = g.root;  // lm_head's gradient is the embedding's
  if (ctx.layout.fsdp.fp8_all_gather) add_fp8_gather_groups(ctx, g);
  return g;
}

void validate_fsdp(const ParallelLayout& layout) {
  const FsdpSettings& f = layout.fsdp;
  if (f.version < 0 || f.version > 2) {
    throw InputError(field::kFsdp, std::to_string(f.version), "expected 1 (FSDP1, FullyShardedDataParallel) or 2 (FSDP2, fully_shard)");
  }
  if (f.version != 0 && layout.zero.stage > 0) {
    throw InputError(field::kFsdp, std::to_string(f.version),
                     fmt::format("FSDP and DeepSpeed ZeRO-{} both shard the model states; use one of them", layout.zero.stage));
  }
  for (const auto& [id, b] : {std::pair{field::kParamDtype, f.param_dtype_bytes}, std::pair{field::kReduceDtype, f.reduce_dtype_bytes}}) {
    if (!b) continue;
    if (*b != 2 && *b != 4) throw InputError(id, std::to_string(*b), "expected bf16 or fp32");
    if (f.version == 0) throw InputError(id, dtype_name(*b), "a MixedPrecisionPolicy needs FSDP");
  }
  validate_hsdp(layout);
  if (f.cpu_offload && f.version != 2) throw InputError(field::kFsdpOffload, "true", "CPUOffloadPolicy needs FSDP2");
  if (!f.wrap_blocks && f.version != 1) throw InputError(field::kFsdpWrap, "none", "a root-only unit (no auto-wrap) is modelled for FSDP1 only");
}

RankStates Fsdp2Policy::rank_states(const StepContext& ctx, const ModelStates& full) const {
  RankStates r = sharded_states(ctx, full);
  if (f_.cpu_offload) apply_fsdp2_cpu_offload(r);
  return r;
}

HostMemory Fsdp2Policy::host(const StepContext& ctx, const ModelStates& full) const {
  if (!f_.cpu_offload) return {};
  return fsdp2_offload_host(ctx, sharded_states(ctx, full).states);
}

RankStates Fsdp2Policy::sharded_states(const StepContext& ctx, const ModelStates& full) const {
  const FsdpBytes b = fsdp_bytes(f_, ctx.setup.precision);
  const FsdpGroups g = fsdp_groups(ctx);
  const std::uint64_t N = fsdp_shards(ctx.layout);
  TrainingSetup storage = ctx.setup;
  storage.precision = storage_precision(b);
  const ModelStates one = model_states(ctx.params, storage);  // one replica in the stored dtype
  RankStates r{one, ctx.setup.grad_accum > 1, {}};
  ModelStates& s = r.states;
  const Bytes stored = checked_mul(g.shard, b.stored);
  s.weights = {"weights", stored,
               fmt::format("Σ ⌈d0/N⌉·rest × {} B = {} × {}: this rank's {} shard of every parameter, N = {}", b.stored,
                           group_digits(g.shard), b.stored, dtype_name(b.stored), N),
               kParamSrc};
  s.master_weights = {"master_weights", 0,
                      b.stored == 4 ? "none: the fp32 sharded parameters are the master copy (MixedPrecisionPolicy)"
                                    : "none: bf16 storage has no master copy",
                      "torch/distributed/fsdp/_fully_shard/_fsdp_api.py MixedPrecisionPolicy docstring"};
  s.gradients = {"gradients", stored,
                 fmt::format("{} × {} B: the sharded gradient (reduce-scatter output cast to the parameter dtype); "
                             "zero_grad(set_to_none=True) frees it",
                             group_digits(g.shard), b.stored),
                 "torch/distributed/fsdp/_fully_shard/_fsdp_collectives.py foreach_reduce"};
  s.optimizer_states.bytes = per_rank(one.optimizer_states.bytes, N);
  s.optimizer_states.formula = fmt::format("({}) / N, N = {}: states of this rank's shards", one.optimizer_states.formula, N);
  s.optimizer_step_temp.bytes = per_rank(one.optimizer_step_temp.bytes, N);
  s.optimizer_step_temp.formula = fmt::format("({}) / N, N = {}: the step runs on the DTensor shards", one.optimizer_step_temp.formula, N);
  s.autocast_cache = full.autocast_cache;
  add_fsdp2_buffer_terms(f_, ctx, b, g, r.buffers);
  return r;
}

TrainingSetup Fsdp2Policy::compute_setup(const TrainingSetup& setup) const {
  const FsdpBytes b = fsdp_bytes(f_, setup.precision);
  TrainingSetup s = setup;
  // fully_shard casts the gathered parameters and the forward inputs to param_dtype
  // (_fsdp_param_group.py, cast_forward_inputs): the layers compute and save in it.
  if (b.gathered == 2 && s.precision == Precision::kFp32) s.precision = Precision::kBf16;
  if (b.gathered == 4 && (s.precision == Precision::kMixed || s.precision == Precision::kBf16)) s.precision = Precision::kFp32;
  return s;
}

LoadPhase Fsdp2Policy::load(const StepContext& ctx, const LoadSetup& load) const {
  const FsdpBytes b = fsdp_bytes(f_, ctx.setup.precision);
  const FsdpGroups g = fsdp_groups(ctx);
  LoadPhase lp;
  lp.cpu_terms.push_back(host_full_model(ctx, load.dtype_bytes.value_or(ctx.model.checkpoint_dtype_bytes)));
  if (f_.cpu_offload) {
    lp.cpu_terms.push_back({"param_partition", checked_mul(g.shard, b.stored),
                            fmt::format("{} × {} B: the sharded parameters, pinned (CPUOffloadPolicy)", group_digits(g.shard), b.stored),
                            kParamSrc, false});
  }
  lp.gpu_terms.push_back(component_term(ComponentId::kWeights, f_.cpu_offload ? 0 : checked_mul(g.shard, b.stored),
                                        fmt::format("{} × {} B: the shards of the groups already sharded{}", group_digits(g.shard), b.stored,
                                                    f_.cpu_offload ? " (offloaded: 0 on the GPU)" : ""),
                                        kParamSrc));
  const std::uint64_t largest = std::max(g.root, g.block);
  lp.gpu_terms.push_back(component_term(
      ComponentId::kGatheredParams, checked_mul(largest, b.stored),
      fmt::format("largest group {} × {} B: moved to the GPU whole, then sharded", group_digits(largest), b.stored),
      "torch/distributed/fsdp/_fully_shard/_fsdp_init.py _move_states_to_device"));
  lp.gpu_point = "fully_shard: the largest group on the GPU before it is sharded";
  finish_load(ctx, lp);
  return lp;
}

}  // namespace vramcalc
