// FSDP2's communication-stream pools. fully_shard allocates the flat all-gather output in its
// all-gather copy-in stream and the reduce-scatter output (the sharded gradients are views of it,
// or its cast) in its reduce-scatter stream. The caching allocator reuses a freed block only on the
// stream that allocated it, so each pool stays reserved at its high-water mark for the whole step,
// beside the compute stream's memory: max_memory_reserved holds both, max_memory_allocated does not.
#include <fmt/format.h>

#include "core/layout/fsdp2.hpp"
#include "core/layout/policies.hpp"

namespace vramcalc {
namespace {

constexpr const char* kCollSrc = "torch/distributed/fsdp/_fully_shard/_fsdp_collectives.py";
constexpr const char* kAllocSrc = "c10/cuda/CUDACachingAllocator.cpp (a block is reused only on its own stream)";

// Two flat all-gather outputs are alive at once: a group's, parked until the next group's wait,
// and the next one's; the largest pair is the root's and a block's.
// Under the float8 all-gather (fsdp2_fp8.cpp) the outputs hold the fp8 weights at 1 B, and the
// copy-in stream also holds the next group's fp8 shards (fsdp_pre_all_gather's casts).
StreamPool all_gather_pool(const FsdpBytes& b, const FsdpGroups& g, std::uint64_t N) {
  const Bytes bytes = fsdp_all_gather_pool(b, g, N);
  const bool fp8 = g.block_fp8 != 0 || g.root_fp8 != 0;
  return {component_term(ComponentId::kStreamPools, bytes,
                         fmt::format("all-gather copy-in stream: (root {} + block {}) × {} B (param_dtype): the parked and the next flat all-gather output{}",
                                     group_digits(g.root), group_digits(g.block), b.gathered,
                                     fp8 ? fmt::format("{}; + the next block's fp8 shards {} (or, if larger, its cast in flight "
                                                       "8 B × largest weight shard instead of its output)",
                                                       fp8_gather_note(g, b), group_digits(g.block_fp8 / N))
                                         : ""),
                         std::string(kCollSrc) + " foreach_all_gather (all_gather_copy_in_stream); " + kAllocSrc +
                             (fp8 ? "; torchao float8/fsdp_utils.py WeightWithDynamicFloat8CastTensor.fsdp_pre_all_gather" : ""),
                         true),
          ComponentId::kAllGatherBuffer};
}

// The reduce-scatter output of every group stays until zero_grad: the sharded gradients, plus the
// output in reduce_dtype of the largest group when the gradients are cast from it.
StreamPool reduce_scatter_pool(const StepContext& ctx, const RankStates& rank, const FsdpBytes& b, const FsdpGroups& g) {
  const std::uint64_t N = fsdp_shards(ctx.layout);
  const Bytes cast = b.reduce == b.stored ? 0 : checked_mul(per_rank(std::max(g.root, g.block), N), b.reduce);
  const Bytes bytes = checked_add(rank.states.gradients.bytes, cast);
  return {component_term(ComponentId::kStreamPools, bytes,
                         fmt::format("reduce-scatter stream: the sharded gradients {}{} (views of the reduce-scatter outputs, freed by zero_grad)",
                                     group_digits(rank.states.gradients.bytes),
                                     cast ? fmt::format(" + the largest group's output in reduce_dtype {}", group_digits(cast)) : ""),
                         std::string(kCollSrc) + " foreach_reduce (\"the RS output is allocated in the RS stream\"); " + kAllocSrc, true),
          ComponentId::kGradients};
}

}  // namespace

std::vector<StreamPool> Fsdp2Policy::stream_pools(const StepContext& ctx, const RankStates& rank) const {
  const FsdpBytes b = fsdp_bytes(f_, ctx.setup.precision);
  const FsdpGroups g = fsdp_groups(ctx);
  return {all_gather_pool(b, g, fsdp_shards(ctx.layout)), reduce_scatter_pool(ctx, rank, b, g)};
}

}  // namespace vramcalc
