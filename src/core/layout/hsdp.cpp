// HSDP: FSDP2 over a 2-D device mesh (replicate R, shard N). fully_shard shards every parameter on
// the mesh's last dimension (N = data-parallel ranks / R, context-parallel ranks folded in) and
// all-reduces each group's reduce-scatter output across the R replicas
// (torch/distributed/fsdp/_fully_shard/_fsdp_collectives.py foreach_reduce, all_reduce_group).
// The all-reduce runs in place on the reduce-dtype output; FSDPParamGroup._all_reduce_state keeps a
// reference to it until finalize_backward (PR #140044), so when the reduce dtype differs from the
// stored one every group's output stays alive to the end of backward beside the cast gradient.
#include <algorithm>

#include <fmt/format.h>

#include <vramcalc/error.hpp>

#include "core/layout/fsdp2.hpp"
#include "core/layout/policies.hpp"

namespace vramcalc {

namespace {

constexpr const char* kArSrc =
    "torch/distributed/fsdp/_fully_shard/_fsdp_collectives.py foreach_reduce (dist.all_reduce(reduce_output), "
    "all_reduce_input); _fsdp_param_group.py _all_reduce_state, cleared in finalize_backward";

}  // namespace

void validate_hsdp(const ParallelLayout& layout) {
  const FsdpSettings& f = layout.fsdp;
  const std::string r = std::to_string(f.replicate);
  if (f.replicate == 0) throw InputError(field::kDpReplicate, r, "must be a positive integer");
  if (f.replicate == 1) return;
  if (f.version != 2) throw InputError(field::kDpReplicate, r, "HSDP (a replicate × shard mesh) needs FSDP2");
  const std::uint64_t dp = layout.data_parallel();
  if (dp % f.replicate != 0) {
    throw InputError(field::kDpReplicate, r,
                     fmt::format("must divide the {} data-parallel ranks (gpus {} / (tp·cp·pp) {})", dp, layout.gpus,
                                 layout.model_parallel()));
  }
}

Bytes hsdp_all_reduce_bytes(const FsdpSettings& f, const FsdpBytes& b, const FsdpGroups& g, std::uint64_t groups) {
  if (f.replicate <= 1 || b.reduce == b.stored) return 0;  // the sharded gradients are views into the buffer
  return checked_product({groups, g.block_shard, b.reduce});
}

Term hsdp_all_reduce_term(const FsdpSettings& f, const StepContext& ctx, const FsdpBytes& b, const FsdpGroups& g) {
  const std::uint64_t L = std::max<std::uint64_t>(ctx.model.num_layers, 1);
  return component_term(
      ComponentId::kHsdpAllReduce, hsdp_all_reduce_bytes(f, b, g, L),
      fmt::format("L × block/N × {} B = {} × {} × {} (reduce_dtype): each block's reduce-scatter output, all-reduced over "
                  "R = {} replicas, kept to the end of backward beside its {}-B cast (only when reduce_dtype ≠ the stored dtype)",
                  b.reduce, L, group_digits(g.block_shard), b.reduce, f.replicate, b.stored),
      kArSrc);
}

}  // namespace vramcalc
