#pragma once
/// The memory components of an estimate: one table that names each once. Every renderer and
/// every phase walks this table; code refers to a component by its id, never by its name.

#include <optional>
#include <span>
#include <string_view>

namespace vramcalc {

/// Where a component's bytes live: PyTorch's allocated tensors, the allocator's reserve on
/// top of them, or memory PyTorch does not manage (CUDA context, NCCL).
enum class TermKind { kAllocated, kReserve, kNonPytorch };
const char* to_string(TermKind kind);

/// What divides a component across data-parallel ranks.
enum class ShardUnit {
  kNone,        ///< every rank holds all of it (activations, workspaces, buffers)
  kParameters,  ///< ZeRO-3 / FSDP: the parameters are partitioned
  kGradients,   ///< ZeRO-2 and up: gradient partitions
  kOptimizer,   ///< ZeRO-1 and up: optimizer states and master weights
};

/// Every component, in report order.
enum class ComponentId {
  kWeights,
  kMasterWeights,
  kGradients,
  kOptimizerStates,
  kOptimizerStepTemp,
  kGradFp32Copy,
  kAutocastCache,
  kGatheredParams,
  kGatheredGrad,
  kPersistentParams,
  kReduceBucket,
  kDdpGradBuckets,
  kReduceScatterTemp,
  kActivations,
  kAttentionMask,
  kLayerForward,
  kLayerBackward,
  kLogitsLoss,
  kCublasWorkspace,
  kAllocatorReserve,
  kCudaContext,
  kNcclBuffers,
  kPagedOptimizerStates,  ///< bitsandbytes paged states: seen by the driver, not by PyTorch's allocator
  kKvCache,               ///< inference: the KV cache of every layer
  kKvCacheGrowth,         ///< inference: torch.cat's new K and V of one layer beside the old ones
  kSpGatherBuffer,
  kCpKvGather,
  kPpRecvInputs,
  kAllGatherBuffer,
  kStreamPools,  ///< reserved: blocks cached by the layout's own CUDA streams (FSDP2's all-gather and reduce-scatter)
  kActivationOffloadInFlight,
  kEpAllToAll,  ///< expert parallelism: one MoE layer's all-to-all send and receive buffers
  kHsdpAllReduce,  ///< HSDP: each group's reduce-dtype gradient shard held for its all-reduce to the end of backward
  kFp8Casts,  ///< torchao float8: the fp8 casts (and their fp32 scaling temporaries) of the Linear in flight
  kLossWindowHole,  ///< reserved: the freed logits' block that the loss backward's gradients cannot reuse
  kTeFp8WeightCache,  ///< Transformer Engine fp8: quantized weights + transposes cached across micro-batches
  kFp8ScaleState,     ///< Transformer Engine DelayedScaling: amax history and scale buffers
  kTeFp8Casts,        ///< Transformer Engine fp8: the quantized copies of the Linear in flight
};

struct ComponentInfo {
  ComponentId id;
  std::string_view name;   ///< stable identifier in JSON and CSV, e.g. "optimizer_states"
  std::string_view label;  ///< short human description
  TermKind kind;
  ShardUnit shard;
  bool always_listed;      ///< reported even when 0 (the terms every user looks for)
};

/// The whole table, in ComponentId order.
std::span<const ComponentInfo> component_table();
const ComponentInfo& info(ComponentId id);
std::string_view name_of(ComponentId id);
/// The component called `name`, if there is one.
std::optional<ComponentId> find_component(std::string_view name);

}  // namespace vramcalc
