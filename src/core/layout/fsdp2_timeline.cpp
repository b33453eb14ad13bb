// FSDP2's buffers at each instant of the step on one rank (torch/distributed/fsdp/_fully_shard/):
// the root's gathered parameters, the current and prefetched block's, the flat all-gather output
// parked until the next group's wait, the unsharded gradients before their reduce-scatter, and the
// reduce-scatter input. Checked against tools/measure/alloc_measure.py's fsdp2 records.
#include <algorithm>

#include <fmt/format.h>

#include "core/layout/fsdp2.hpp"
#include "core/layout/policies.hpp"

namespace vramcalc {
namespace {

using enum Instant;

constexpr const char* kGroupSrc = "torch/distributed/fsdp/_fully_shard/_fsdp_param_group.py";
constexpr const char* kCollSrc = "torch/distributed/fsdp/_fully_shard/_fsdp_collectives.py";

bool is_last_block(Instant i) { return i == kBackwardLastMlp || i == kBackwardLastAttn; }
bool is_first_block(Instant i) { return i == kBackwardFirstMlp || i == kBackwardFirstAttn; }

struct Sizes {
  Bytes root, block, head_grad, root_grad, reduce_block, reduce_root;
  std::uint64_t layers;
  Bytes block_flat;  ///< a block's flat all-gather output (its unsharded parameters less the fp8 scales)
};

Sizes sizes(const StepContext& ctx, const FsdpBytes& b, const FsdpGroups& g) {
  const FsdpGathered p = fsdp_gathered(b, g);  // fp8 weights at 1 B under the float8 all-gather (fsdp2_fp8.cpp)
  return {p.root, p.block, checked_mul(g.head, b.gathered),
          checked_mul(g.root, b.gathered), checked_mul(g.block, b.reduce), checked_mul(g.root, b.reduce),
          std::max<std::uint64_t>(ctx.model.num_layers, 1), p.block_flat};
}

// Gathered parameters: the root (unsharded from its pre-forward; reshard_after_forward=None keeps
// it to the end of backward), the blocks kept by reshard_after_forward=False, and the current and
// prefetched block (one implicit prefetch each way, _backward_prefetch).
Bytes gathered_at(Instant i, const FsdpSettings& f, const Sizes& s) {
  const Bytes kept = f.reshard_after_forward ? 0 : checked_mul(s.layers, s.block);
  switch (i) {
    case kForwardLoss: return checked_add(s.root, kept);
    case kForwardLastLayer: return checked_add(s.root, f.reshard_after_forward ? s.block : kept);
    case kBackwardLoss:
    case kBackwardHead:  // lm_head's backward (fp8): the root re-gathered, the last block prefetched (measured, FINDINGS §38)
      return checked_add(s.root, f.reshard_after_forward ? s.block : kept);
    case kBackwardLastMlp:
    case kBackwardLastAttn: return checked_add(s.root, f.reshard_after_forward ? checked_mul(std::min<std::uint64_t>(s.layers, 2), s.block) : kept);
    case kBackwardFirstMlp:
    case kBackwardFirstAttn: return checked_add(s.root, s.block);
    default: return 0;
  }
}

}  // namespace

void add_fsdp2_buffer_terms(const FsdpSettings& f, const StepContext& ctx, const FsdpBytes& b, const FsdpGroups& g,
                            std::vector<Term>& out) {
  const Sizes s = sizes(ctx, b, g);
  const char* q = b.gathered == 2 ? "bf16" : "fp32";
  const Bytes gathered = std::max(gathered_at(kBackwardLastMlp, f, s), gathered_at(kForwardLoss, f, s));
  out.push_back(component_term(
      ComponentId::kGatheredParams, gathered,
      fmt::format("root {} + {} × block {}, × {} B ({}, param_dtype): the root stays gathered{}; {}", group_digits(g.root),
                  f.reshard_after_forward ? "2" : fmt::format("{}", s.layers), group_digits(g.block), b.gathered, q,
                  f.reshard_root ? " through forward and from the start of backward" : " from its pre-forward to the end of backward",
                  f.reshard_after_forward ? "the current and the prefetched block" : "every block kept from forward to its backward (reshard_after_forward=False)")
          + fp8_gather_note(g, b),
      std::string(kGroupSrc) + " unshard / reshard, _backward_prefetch; _fully_shard.py reshard_after_forward (root: PR #155319)"));
  out.push_back(component_term(ComponentId::kAllGatherBuffer, s.block_flat,
                               fmt::format("block {} × {} B: the flat all-gather output, parked until the next group's wait or the root's post-forward{}",
                                           group_digits(g.block), b.gathered, fp8_gather_note(g, b)),
                               std::string(kCollSrc) + " foreach_all_gather; _fsdp_param_group.py wait_for_unshard (all_gather_state)"));
  out.push_back(component_term(ComponentId::kGatheredGrad, s.root_grad,
                               fmt::format("root {} × {} B: the root's unsharded gradients, reduce-scattered only at the end of backward "
                                           "(lm_head's from its backward on); a block's own while its backward runs",
                                           group_digits(g.root), b.gathered),
                               std::string(kGroupSrc) + " post_backward (root: _root_post_backward_final_callback)"));
  out.push_back(component_term(ComponentId::kReduceScatterTemp, std::max(s.reduce_block, s.reduce_root),
                               fmt::format("group × {} B (reduce_dtype): the reduce-scatter input, kept until the next group's reduce-scatter",
                                           b.reduce),
                               std::string(kCollSrc) + " foreach_reduce (_chunk_cat into reduce_scatter_input)"));
  if (f.replicate > 1) out.push_back(hsdp_all_reduce_term(f, ctx, b, g));
}

void Fsdp2Policy::buffers_at(Instant i, const StepContext& ctx, const RankStates&, Moment& m) const {
  if (i == kLoad || i == kStep) return;
  const FsdpBytes b = fsdp_bytes(f_, ctx.setup.precision);
  const FsdpGroups g = fsdp_groups(ctx);
  const Sizes s = sizes(ctx, b, g);
  m.add(ComponentId::kGatheredParams, gathered_at(i, f_, s));
  if (i == kForwardLoss || i == kForwardLastLayer) m.add(ComponentId::kAllGatherBuffer, s.block_flat, "the last block's, parked");
  if (is_last_block(i) || is_first_block(i)) {
    const std::uint64_t made = (i == kBackwardLastMlp || i == kBackwardFirstMlp) ? g.at_mlp : g.at_attn;
    m.add(ComponentId::kGatheredGrad, checked_add(s.head_grad, checked_mul(made, b.gathered)),
          "lm_head's and the final norm's, and this block's so far");
  }
  if (is_first_block(i) && s.layers > 1) m.add(ComponentId::kReduceScatterTemp, s.reduce_block, "the previous block's");
  if (i == kBackwardEnd) {
    m.add(ComponentId::kGatheredGrad, s.root_grad, "the root's, before its reduce-scatter");
    m.add(ComponentId::kReduceScatterTemp, s.reduce_root, "the root's");
  }
  if (is_first_block(i)) m.add(ComponentId::kHsdpAllReduce, hsdp_all_reduce_bytes(f_, b, g, s.layers - 1), "the later blocks'");
  if (i == kBackwardEnd) m.add(ComponentId::kHsdpAllReduce, hsdp_all_reduce_bytes(f_, b, g, s.layers), "every block's");
}

std::optional<PhaseEntry> Fsdp2Policy::gradients_at(Instant i, const StepContext& ctx, const RankStates&) const {
  if (f_.cpu_offload || ctx.setup.grad_accum > 1 || i == kStep || i == kLoad) return std::nullopt;  // the step's default
  const FsdpBytes b = fsdp_bytes(f_, ctx.setup.precision);
  const FsdpGroups g = fsdp_groups(ctx);
  const std::uint64_t L = std::max<std::uint64_t>(ctx.model.num_layers, 1);
  if (is_first_block(i)) return PhaseEntry{ComponentId::kGradients, checked_product({L - 1, g.block_shard, b.stored}), "sharded, of the later blocks"};
  if (i == kBackwardEnd) return PhaseEntry{ComponentId::kGradients, checked_product({L, g.block_shard, b.stored}), "sharded, of every block"};
  return PhaseEntry{ComponentId::kGradients, 0, ""};
}

}  // namespace vramcalc
