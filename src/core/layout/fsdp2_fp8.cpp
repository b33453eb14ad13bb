// torchao's float8 all-gather under FSDP2 (--fp8-all-gather on; torchao 0.18
// Float8LinearConfig(enable_fsdp_float8_all_gather=True), torchtitan --float8.enable_fsdp_float8_all_gather).
//
// convert_to_float8_training wraps each Float8Linear weight in a WeightWithDynamicFloat8CastTensor
// (torchao/float8/float8_linear.py Float8Linear.from_float). FSDP2 calls its extensions
// (torch/distributed/fsdp/_fully_shard/_fsdp_param.py FSDPParam.all_gather_inputs, init_unsharded_param):
// - fsdp_pre_all_gather (torchao/float8/fsdp_utils.py) casts the local shard to fp8 — with the scale from
//   precompute_float8_dynamic_scale_for_fsdp or an amax all-reduce — and returns its 1-byte data as the
//   all-gather input and the fp32 scale as metadata (not gathered). The cast holds the fp32 scaled copy, its
//   clamp and the fp8 result (9 B per shard element, tools/measure/FINDINGS.md §37), in the copy-in stream.
// - foreach_all_gather (_fsdp_collectives.py) views mixed-dtype inputs as uint8: the flat output of a group
//   is Σ (fp8 weights × 1 B + other parameters × param_dtype bytes) × N.
// - fsdp_post_all_gather wraps each gathered uint8 buffer as a Float8TrainingTensor (data + the scale): the
//   unsharded parameter is 1 B per element and the Float8Linear matmul uses it without a weight cast
//   (float8_linear.py matmul_with_hp_or_float8_args: tensor_already_casted_to_fp8(weight_hp_t)).
// Gradients stay in param_dtype (grad_weight is a high-precision matmul output), so the unsharded
// gradients, the reduce-scatter and the sharded states are unchanged.
#include <algorithm>

#include <fmt/format.h>

#include <vramcalc/error.hpp>

#include "core/layout/fsdp2.hpp"
#include "core/ops_fp8.hpp"

namespace vramcalc {
namespace {

constexpr Bytes kCastTemp = 8;  // beyond the fp8 result: the fp32 scaled copy (4) and its clamp (4) per element

Bytes with_fp8(std::uint64_t group, std::uint64_t fp8, Bytes gathered) {
  return checked_add(checked_mul(group - fp8, gathered), fp8);
}

// The copy-in stream while one group's all-gather is set up: the fp8 shards of its weights (1 B each,
// freed once copied into the flat output), and either the cast in flight (its 8 B temporaries of the
// largest shard, before the output exists: bounded by all the shards) or the flat output.
Bytes copy_in(std::uint64_t fp8, std::uint64_t max_weight, std::uint64_t N, Bytes flat) {
  return checked_add(fp8 / N, std::max(checked_mul(kCastTemp, max_weight / N), flat));
}

}  // namespace

void add_fp8_gather_groups(const StepContext& ctx, FsdpGroups& g) {
  const std::uint64_t N = fsdp_shards(ctx.layout);
  const std::uint64_t L = std::max<std::uint64_t>(ctx.model.num_layers, 1);
  for (const auto& t : ctx.params.tensors) {
    if (!fp8_converted(t)) continue;
    const std::uint64_t one = checked_product({ceil_div(t.rows, N), N, t.cols});
    if (t.scope == ParamScope::kLayer) {
      g.block_fp8 = checked_add(g.block_fp8, checked_mul(one, t.count) / L);
      g.block_fp8_weights += t.count / L;
      g.block_fp8_max = std::max(g.block_fp8_max, one);
    } else {
      g.root_fp8 = checked_add(g.root_fp8, checked_mul(one, t.count));
      g.root_fp8_weights += t.count;
      g.root_fp8_max = std::max(g.root_fp8_max, one);
    }
  }
}

FsdpGathered fsdp_gathered(const FsdpBytes& b, const FsdpGroups& g) {
  FsdpGathered out;
  out.root_flat = with_fp8(g.root, g.root_fp8, b.gathered);
  out.block_flat = with_fp8(g.block, g.block_fp8, b.gathered);
  out.root = checked_add(out.root_flat, checked_mul(4, g.root_fp8_weights));
  out.block = checked_add(out.block_flat, checked_mul(4, g.block_fp8_weights));
  return out;
}

Bytes fsdp_all_gather_pool(const FsdpBytes& b, const FsdpGroups& g, std::uint64_t N) {
  const FsdpGathered s = fsdp_gathered(b, g);
  if (g.block_fp8 == 0 && g.root_fp8 == 0) return checked_add(s.root_flat, s.block_flat);
  // block 0's all-gather beside the root's parked output, or the root's own (first) all-gather
  return std::max(checked_add(s.root_flat, copy_in(g.block_fp8, g.block_fp8_max, N, s.block_flat)),
                  copy_in(g.root_fp8, g.root_fp8_max, N, s.root_flat));
}

std::string fp8_gather_note(const FsdpGroups& g, const FsdpBytes& b) {
  if (g.block_fp8 == 0 && g.root_fp8 == 0) return "";
  return fmt::format("; float8 all-gather: the Float8Linear weights ({} of a block, {} of the root) at 1 B instead of {} B, "
                     "+ 4 B fp32 scale per weight on the unsharded parameters",
                     group_digits(g.block_fp8), group_digits(g.root_fp8), b.gathered);
}

void validate_fp8_all_gather(const EstimateInputs& in) {
  if (!in.layout.fsdp.fp8_all_gather) return;
  const auto refuse = [](const std::string& why) { throw InputError(field::kFp8AllGather, "on", why); };
  if (in.layout.fsdp.version != 2) refuse("the float8 all-gather is FSDP2's (fully_shard extensions): needs --fsdp 2");
  if (in.setup.fp8 == Fp8Recipe::kNone) refuse("the float8 all-gather casts Float8Linear weights: needs --fp8 tensorwise");
  if (in.setup.fp8 != Fp8Recipe::kTensorwise) {
    // torchao/float8/config.py Float8LinearConfig.__post_init__: "enable_fsdp_float8_all_gather only
    // supports tensorwise scaling granularity"
    refuse(fmt::format("torchao's enable_fsdp_float8_all_gather supports tensorwise scaling only, not {}", to_string(in.setup.fp8)));
  }
  if (in.layout.fsdp.cpu_offload) refuse("the float8 all-gather with CPUOffloadPolicy (a cast on the host) is not modelled");
  if (in.model.output_tied()) refuse("a tied lm_head under the float8 all-gather (its weight is re-wrapped, untying it) is not modelled");
}

}  // namespace vramcalc
