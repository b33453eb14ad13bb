#pragma once
// The layout policies (one file each) and the pieces of the load phase they share.

#include <vramcalc/layout_policy.hpp>

namespace vramcalc {

/// One GPU, or plain data parallelism (torch DDP): every rank holds the whole model states.
class ReplicatePolicy final : public LayoutPolicy {
 public:
  RankStates rank_states(const StepContext& ctx, const ModelStates& full) const override;
  void buffers_at(Instant instant, const StepContext& ctx, const RankStates& rank, Moment& m) const override;
  LoadPhase load(const StepContext& ctx, const LoadSetup& load) const override;
};

/// DeepSpeed ZeRO stages 1-3 with offload (ZeRO-Offload, ZeRO-Infinity).
class ZeroPolicy final : public LayoutPolicy {
 public:
  explicit ZeroPolicy(const ZeroSettings& zero) : z_(zero) {}
  RankStates rank_states(const StepContext& ctx, const ModelStates& full) const override;
  bool has(Instant instant) const override;
  void buffers_at(Instant instant, const StepContext& ctx, const RankStates& rank, Moment& m) const override;
  LoadPhase load(const StepContext& ctx, const LoadSetup& load) const override;
  HostMemory host(const StepContext& ctx, const ModelStates& full) const override;

 private:
  ZeroSettings z_;
};

/// Megatron-LM: DDP's fp32 main_grad buffer over every parameter of the rank, fp32 master and
/// Adam states whole or sharded by the distributed optimizer (src/core/layout/megatron.cpp).
class MegatronPolicy final : public LayoutPolicy {
 public:
  explicit MegatronPolicy(MegatronOptimizer kind) : kind_(kind) {}
  RankStates rank_states(const StepContext& ctx, const ModelStates& full) const override;
  void buffers_at(Instant instant, const StepContext& ctx, const RankStates& rank, Moment& m) const override;
  LoadPhase load(const StepContext& ctx, const LoadSetup& load) const override;

 private:
  MegatronOptimizer kind_;
};

/// PyTorch FSDP2: fully_shard on every decoder block and on the root (fsdp2.cpp, fsdp2_timeline.cpp).
class Fsdp2Policy final : public LayoutPolicy {
 public:
  explicit Fsdp2Policy(const FsdpSettings& fsdp) : f_(fsdp) {}
  RankStates rank_states(const StepContext& ctx, const ModelStates& full) const override;
  void buffers_at(Instant instant, const StepContext& ctx, const RankStates& rank, Moment& m) const override;
  LoadPhase load(const StepContext& ctx, const LoadSetup& load) const override;
  TrainingSetup compute_setup(const TrainingSetup& setup) const override;
  std::optional<PhaseEntry> gradients_at(Instant instant, const StepContext& ctx, const RankStates& rank) const override;
  std::vector<StreamPool> stream_pools(const StepContext& ctx, const RankStates& rank) const override;
  HostMemory host(const StepContext& ctx, const ModelStates& full) const override;

 private:
  RankStates sharded_states(const StepContext& ctx, const ModelStates& full) const;
  FsdpSettings f_;
};

/// PyTorch FSDP1: FullyShardedDataParallel, a FlatParameter per decoder block and the root (fsdp1.cpp).
class Fsdp1Policy final : public LayoutPolicy {
 public:
  explicit Fsdp1Policy(const FsdpSettings& fsdp) : f_(fsdp) {}
  RankStates rank_states(const StepContext& ctx, const ModelStates& full) const override;
  void buffers_at(Instant instant, const StepContext& ctx, const RankStates& rank, Moment& m) const override;
  LoadPhase load(const StepContext& ctx, const LoadSetup& load) const override;
  TrainingSetup compute_setup(const TrainingSetup& setup) const override;
  std::optional<PhaseEntry> gradients_at(Instant instant, const StepContext& ctx, const RankStates& rank) const override;

 private:
  void add_fsdp1_terms(const StepContext& ctx, std::vector<Term>& out) const;
  FsdpSettings f_;
};

/// Checks the FSDP settings: a version torch has, not combined with ZeRO.
void validate_fsdp(const ParallelLayout& layout);
/// HSDP (hsdp.cpp): the replica count divides the data-parallel ranks, with FSDP2.
void validate_hsdp(const ParallelLayout& layout);
/// FSDP2 CPUOffloadPolicy (fsdp2_offload.cpp): the GPU keeps no sharded state; host RAM holds it.
void apply_fsdp2_cpu_offload(RankStates& r);
HostMemory fsdp2_offload_host(const StepContext& ctx, const ModelStates& one_rank);

/// Host RAM of from_pretrained when every rank materialises the whole model.
Term host_full_model(const StepContext& ctx, Bytes load_bytes);
/// GPU terms of moving the whole model to the GPU and building the fp32 master copy.
void load_whole_model(const StepContext& ctx, Bytes master_rank, const char* master_source, LoadPhase& lp);
/// Sums the load terms and builds the load moment; a component added twice gets `merge_note`.
void finish_load(const StepContext& ctx, LoadPhase& lp, const std::string& merge_note = "");

/// LoRA / QLoRA under DDP and ZeRO (src/core/layout/frozen_base.cpp): whether the base is frozen,
/// the parameters the optimizer gets, their bytes per element, and the stored bytes of the whole
/// model and of one tensor (quantized tensors in their packed bytes).
bool frozen_base(const StepContext& ctx);
std::uint64_t trained_params(const StepContext& ctx);
Bytes trained_bytes_per_param(const StepContext& ctx, Bytes regime_bytes);
Bytes stored_model_bytes(const StepContext& ctx);
Bytes stored_tensor_bytes(const StepContext& ctx, const ParamTensor& t);
/// Quantization state of the quantized tensors (absmax, codes): replicated, not partitioned.
Bytes quant_state_bytes(const StepContext& ctx);
/// One rank's ZeRO-3 weight partition of a frozen base: ⌈(stored − quant state)/N⌉ + quant state.
Bytes zero3_weight_partition(const StepContext& ctx);
/// Bytes of the largest stored tensor (of a decoder layer when `layer_only`).
Bytes largest_stored_tensor(const StepContext& ctx, bool layer_only);
/// numel of the largest trainable tensor.
std::uint64_t largest_trained_tensor(const StepContext& ctx);

}  // namespace vramcalc
