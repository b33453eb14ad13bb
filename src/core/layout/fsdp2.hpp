#pragma once
// FSDP2's parameter groups and dtypes on one rank, shared by fsdp2.cpp (states, load) and
// fsdp2_timeline.cpp (buffers per instant).

#include <vramcalc/layout_policy.hpp>

namespace vramcalc {

/// The ranks one FSDP group shards over (N). One function so that a layout with more
/// dimensions (tensor, context, pipeline parallelism) divides only its data-parallel part.
std::uint64_t fsdp_shards(const ParallelLayout& layout);

/// Element bytes of FSDP2's tensors: `stored` the sharded parameters (and their gradients and
/// optimizer states), `gathered` the all-gathered parameters (MixedPrecisionPolicy.param_dtype,
/// also the dtype of their autograd gradients), `reduce` the reduce-scatter input.
struct FsdpBytes {
  Bytes stored = 4;
  Bytes gathered = 4;
  Bytes reduce = 4;
};
FsdpBytes fsdp_bytes(const FsdpSettings& f, Precision precision);

/// Numels of the groups: fully_shard on every decoder block, and on the root for the rest
/// (embedding, final norm, lm_head). Each parameter is padded to ⌈d0/N⌉·N rows
/// (_fsdp_param.py _init_sharded_param).
struct FsdpGroups {
  std::uint64_t block = 0;     ///< one decoder block, padded
  std::uint64_t root = 0;      ///< everything outside the blocks, padded
  std::uint64_t head = 0;      ///< lm_head and the final norm (the root's gradients during the blocks' backward)
  std::uint64_t shard = 0;     ///< this rank's shard of every parameter
  std::uint64_t block_shard = 0;  ///< this rank's shard of one block
  std::uint64_t at_mlp = 0;    ///< one block's gradients made by its MLP backward peak
  std::uint64_t at_attn = 0;   ///< ... by its attention backward peak
  // --fp8-all-gather (fsdp2_fp8.cpp): the Float8Linear weights' padded numels, counts and largest
  // weight, of one block and of the root; all 0 without it.
  std::uint64_t block_fp8 = 0, block_fp8_weights = 0, block_fp8_max = 0;
  std::uint64_t root_fp8 = 0, root_fp8_weights = 0, root_fp8_max = 0;
};
FsdpGroups fsdp_groups(const StepContext& ctx);

/// The FSDP2 buffers' terms (their largest size, formula and source) for --explain and the
/// component list; buffers_at says how much of each is alive at every instant.
void add_fsdp2_buffer_terms(const FsdpSettings& f, const StepContext& ctx, const FsdpBytes& b, const FsdpGroups& g,
                            std::vector<Term>& out);

/// HSDP (hsdp.cpp): bytes of the reduce-dtype all-reduce buffers of `groups` blocks, 0 without
/// HSDP or when the reduce dtype is the stored one; its term for --explain.
Bytes hsdp_all_reduce_bytes(const FsdpSettings& f, const FsdpBytes& b, const FsdpGroups& g, std::uint64_t groups);
Term hsdp_all_reduce_term(const FsdpSettings& f, const StepContext& ctx, const FsdpBytes& b, const FsdpGroups& g);

/// torchao's float8 all-gather (fsdp2_fp8.cpp): fills the groups' fp8 fields (fsdp_groups calls it
/// with --fp8-all-gather on).
void add_fp8_gather_groups(const StepContext& ctx, FsdpGroups& g);
/// Bytes of the root's and a block's flat all-gather outputs (`*_flat`) and unsharded parameters
/// (the flat bytes + a 4 B fp32 scale per float8-gathered weight); group × param_dtype without fp8.
struct FsdpGathered {
  Bytes root_flat = 0, block_flat = 0, root = 0, block = 0;
};
FsdpGathered fsdp_gathered(const FsdpBytes& b, const FsdpGroups& g);
/// The all-gather copy-in stream's high-water mark (fsdp2_streams.cpp).
Bytes fsdp_all_gather_pool(const FsdpBytes& b, const FsdpGroups& g, std::uint64_t N);
/// "; float8 all-gather: …" for the formulas, "" without it.
std::string fp8_gather_note(const FsdpGroups& g, const FsdpBytes& b);

}  // namespace vramcalc
