#pragma once
/// Data-parallel sharding (ZeRO stages 1-3, DeepSpeed's buffers, offload) and model loading:
/// the per-rank view of the model states (modeling.md §2, §3).

#include <vramcalc/layout.hpp>
#include <vramcalc/model.hpp>
#include <vramcalc/model_states.hpp>
#include <vramcalc/term.hpp>
#include <vramcalc/training.hpp>

namespace vramcalc {

/// Model states of one rank, and the ZeRO buffers that are not sharded.
struct RankStates {
  ModelStates states;            ///< each term divided by what the stage shards, 0 when offloaded
  bool gradients_persistent = false;  ///< DeepSpeed stage 2/3 keep gradient partitions between steps
  Term gathered_params;          ///< stage 3: the largest module gathered in full + prefetch (forward, backward)
  Term gathered_grad;            ///< stage 3: the largest module's full gradient before reduce-scatter (backward)
  Term persistent_params;        ///< stage 3: parameters under the persistence threshold, full on every rank
  Term reduce_bucket;            ///< ipg / reduce bucket(s)
  bool reduce_bucket_always = false;  ///< stage 3 allocates it at init; stages 1-2 during backward only
  Term reduce_scatter_temp;      ///< reduce-scatter staging (backward)
};

/// Host (CPU) and NVMe memory of the layout.
struct HostMemory {
  Term offloaded_optimizer;  ///< per rank: fp32 master, optimizer states and fp32 grads in host RAM
  Term offloaded_params;     ///< per rank: parameter partitions in host RAM
  Term nvme;                 ///< per rank: bytes swapped to NVMe
  Bytes ram_per_rank = 0;    ///< during training
  Bytes ram_per_node = 0;
  Bytes pinned_per_node = 0;
};

/// The load phase: from_pretrained and deepspeed.initialize.
struct LoadPhase {
  Bytes gpu = 0;              ///< GPU allocated peak while the engine places the model
  std::string gpu_point;
  Bytes cpu_per_rank = 0;     ///< host RAM while from_pretrained runs
  Bytes cpu_per_node = 0;
  std::vector<Term> gpu_terms;
  std::vector<Term> cpu_terms;
};

/// Shards `states` for `layout` (ZeRO stage, offload) and adds DeepSpeed's unsharded buffers.
RankStates shard_states(const ModelConfig& model, const ParameterCounts& params, const TrainingSetup& setup,
                        const ModelStates& states, const ParallelLayout& layout);
/// Host RAM and NVMe that the layout's offload needs.
/// `full` = the unsharded model states of one replica (model_states()).
HostMemory host_memory(const ParameterCounts& params, const TrainingSetup& setup, const ModelStates& full,
                       const ParallelLayout& layout);
/// The load phase, with or without zero.Init (layout.zero.zero3_init).
LoadPhase load_phase(const ModelConfig& model, const ParameterCounts& params, const TrainingSetup& setup,
                     const ParallelLayout& layout, const LoadSetup& load);
/// Checks a layout for combinations DeepSpeed rejects (InputError naming the flag).
void validate_layout(const ParallelLayout& layout);

}  // namespace vramcalc
