#pragma once
/// Layouts as policies: how a parallel layout divides the model states across ranks, which
/// buffers it adds at each moment of the step, how the model is loaded, and what it puts in
/// host memory. Replicate (one GPU, or DDP) and ZeRO 1-3 are the policies today; a new layout
/// (FSDP2, tensor, context, pipeline parallelism) is one more class and one line in
/// make_policy().

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <vramcalc/layout.hpp>
#include <vramcalc/model.hpp>
#include <vramcalc/model_states.hpp>
#include <vramcalc/term.hpp>
#include <vramcalc/timeline.hpp>
#include <vramcalc/training.hpp>

namespace vramcalc {

/// What every part of the step model reads: the model, its parameters, the training setup and
/// the layout.
struct StepContext {
  const ModelConfig& model;
  const ParameterCounts& params;
  const TrainingSetup& setup;
  const ParallelLayout& layout;
};

/// Model states of one rank, and the layout's buffers that are not sharded.
/// A CUDA stream of the layout's own whose allocations the caching allocator keeps apart: a block
/// freed there is reused only by that stream (c10/cuda/CUDACachingAllocator.cpp, Block::stream),
/// so reserved memory holds the pool's high-water mark even when nothing in it is allocated.
struct StreamPool {
  Term high_water;    ///< the largest the pool gets in a step
  ComponentId holds;  ///< the allocated component whose tensors live in it (not counted twice)
};

struct RankStates {
  ModelStates states;                 ///< each term divided by what the layout shards, 0 when offloaded
  bool gradients_persistent = false;  ///< the layout keeps gradient partitions between steps
  std::vector<Term> buffers;          ///< the layout's own components (gathered params, buckets, ...)
};

/// Host (CPU) and NVMe memory of the layout during training.
struct HostMemory {
  Term offloaded_optimizer;  ///< per rank: fp32 master, optimizer states and fp32 grads in host RAM
  Term offloaded_params;     ///< per rank: parameter partitions in host RAM
  Term nvme;                 ///< per rank: bytes swapped to NVMe
  Bytes ram_per_rank = 0;    ///< during training
  Bytes ram_per_node = 0;
  Bytes pinned_per_node = 0;
  Term offloaded_activations;  ///< per rank: pinned host copies of saved activations (activation offloading)
};

/// The load phase: from_pretrained and the framework's initialisation.
struct LoadPhase {
  Bytes gpu = 0;  ///< GPU allocated peak while the model is placed
  std::string gpu_point;
  Bytes cpu_per_rank = 0;  ///< host RAM while from_pretrained runs
  Bytes cpu_per_node = 0;
  std::vector<Term> gpu_terms;
  std::vector<Term> cpu_terms;
  Moment moment;  ///< the load instant: gpu_terms as components
};

class LayoutPolicy {
 public:
  virtual ~LayoutPolicy() = default;
  /// Per-rank model states: `full` (one replica) divided by what the layout shards.
  virtual RankStates rank_states(const StepContext& ctx, const ModelStates& full) const = 0;
  /// Whether the layout adds `instant` to the step (e.g. ZeRO-3's lm_head backward).
  virtual bool has(Instant instant) const;
  /// The layout's buffers alive at `instant`.
  virtual void buffers_at(Instant instant, const StepContext& ctx, const RankStates& rank, Moment& m) const = 0;
  virtual LoadPhase load(const StepContext& ctx, const LoadSetup& load) const = 0;
  virtual HostMemory host(const StepContext& ctx, const ModelStates& full) const;
  /// The setup the activations and the loss are computed in (FSDP's param_dtype casts them).
  virtual TrainingSetup compute_setup(const TrainingSetup& setup) const { return setup; }
  /// The gradients alive at `instant` when the layout decides them (FSDP2: each group's sharded
  /// gradient appears at its reduce-scatter); nullopt: the step's default.
  virtual std::optional<PhaseEntry> gradients_at(Instant instant, const StepContext& ctx, const RankStates& rank) const;
  /// The layout's stream pools (reserved, not allocated on the compute stream); none by default.
  virtual std::vector<StreamPool> stream_pools(const StepContext& /*ctx*/, const RankStates& /*rank*/) const { return {}; }
};

/// The policy of `layout` (validated first: InputError for combinations the framework rejects).
std::unique_ptr<LayoutPolicy> make_policy(const ParallelLayout& layout);
/// Checks a layout for combinations DeepSpeed rejects.
void validate_layout(const ParallelLayout& layout);

/// Checks tp, cp, pp and the pipeline knobs against the rank count and each other
/// (part of validate_layout; src/core/layout/model_parallel_layout.cpp).
void validate_model_parallel_layout(const ParallelLayout& layout);

/// ⌈x / n⌉: partitions are padded so every rank holds the same number of elements.
Bytes per_rank(Bytes x, std::uint64_t n);
/// The term of `id` among `terms`, or nullptr.
const Term* find_term(const std::vector<Term>& terms, ComponentId id);

}  // namespace vramcalc
