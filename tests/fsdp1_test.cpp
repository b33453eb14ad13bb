// FSDP1 (FullyShardedDataParallel, src/core/layout/fsdp1.cpp): bytes derived by hand from
// torch/distributed/fsdp/_flat_param.py and _runtime_utils.py.
#include <catch2/catch.hpp>

#include "fixtures.hpp"

#include <vramcalc/vramcalc.hpp>

using namespace vramcalc;

namespace {

using fixtures::moment_at;

EstimateInputs fsdp1_inputs(std::uint64_t gpus) {
  EstimateInputs in;
  in.model = resolve_model("llama-3.1-8b");
  in.setup.seq_len = 8192;
  in.setup.precision = Precision::kMixed;
  in.layout.gpus = gpus;
  in.layout.gpus_per_node = 8;
  in.layout.fsdp.version = 1;
  in.with_advice = false;
  return in;
}

constexpr std::uint64_t kP = 8'030'261'248;
constexpr std::uint64_t kBlock = 218'112'000;                    // one decoder block's FlatParameter
constexpr std::uint64_t kRoot = 2 * 128'256ULL * 4096 + 4096;  // embedding + lm_head + final norm

}  // namespace

TEST_CASE("FSDP1 shards each FlatParameter padded to a multiple of N", "[fsdp1]") {
  const Estimate est8 = estimate(fsdp1_inputs(8));
  CHECK(est8.find(ComponentId::kWeights)->size_bytes == kP / 8 * 4);
  CHECK(est8.find(ComponentId::kGradients)->size_bytes == kP / 8 * 4);
  CHECK(est8.find(ComponentId::kOptimizerStates)->size_bytes == kP / 8 * 8);
  // N = 3: the block divides (72,704,000), the root does not: ⌈1,050,677,248 / 3⌉ = 350,225,750
  const Estimate est3 = estimate(fsdp1_inputs(3));
  const std::uint64_t shard3 = 32 * (kBlock / 3) + 350'225'750;
  CHECK(est3.find(ComponentId::kWeights)->size_bytes == shard3 * 4);
  CHECK(est3.find(ComponentId::kOptimizerStates)->size_bytes == shard3 * 8);
  CHECK(moment_at(est3, Instant::kForwardLoss).bytes_of(ComponentId::kGatheredParams) == 350'225'750ULL * 3 * 2);
}

TEST_CASE("FSDP1 gathers into the compute buffer: the root and one block, no parked all-gather output", "[fsdp1]") {
  EstimateInputs in = fsdp1_inputs(8);
  const Estimate full = estimate(in);
  const Moment& fwd = moment_at(full, Instant::kForwardLoss);
  CHECK(fwd.bytes_of(ComponentId::kGatheredParams) == kRoot * 2);
  CHECK(fwd.bytes_of(ComponentId::kAllGatherBuffer) == 0);
  CHECK(moment_at(full, Instant::kForwardLastLayer).bytes_of(ComponentId::kGatheredParams) == kRoot * 2 + kBlock * 2);
  // backward: the block in backward and the one prefetched (BACKWARD_PRE)
  CHECK(moment_at(full, Instant::kBackwardLastMlp).bytes_of(ComponentId::kGatheredParams) == kRoot * 2 + 2 * kBlock * 2);
  CHECK(moment_at(full, Instant::kBackwardFirstMlp).bytes_of(ComponentId::kGatheredParams) == kRoot * 2 + kBlock * 2);
  // SHARD_GRAD_OP keeps every block from forward to its backward
  in.layout.fsdp.reshard_after_forward = false;
  CHECK(moment_at(estimate(in), Instant::kForwardLoss).bytes_of(ComponentId::kGatheredParams) == kRoot * 2 + 32 * kBlock * 2);
}

TEST_CASE("FSDP1 MixedPrecision reduces in param_dtype unless reduce_dtype is given", "[fsdp1]") {
  // bf16 gradients, no cast: the root's per-parameter gradients beside their concatenation dominate the hook
  const Estimate est = estimate(fsdp1_inputs(8));  // kept alive: the moment points into it
  const Moment& end = moment_at(est, Instant::kBackwardEnd);
  CHECK(end.bytes_of(ComponentId::kGatheredGrad) == kRoot * 2);
  CHECK(end.bytes_of(ComponentId::kReduceScatterTemp) == kRoot * 2);
  CHECK(end.bytes_of(ComponentId::kGradients) == 32 * kBlock / 8 * 4);
  // reduce_dtype fp32: the cast flat gradient (4 B) + the fp32 sharded output
  EstimateInputs in = fsdp1_inputs(8);
  in.layout.fsdp.reduce_dtype_bytes = 4;
  CHECK(moment_at(estimate(in), Instant::kBackwardEnd).bytes_of(ComponentId::kReduceScatterTemp) == kRoot * 4 + kRoot / 8 * 4);
}

TEST_CASE("FSDP1: HSDP and CPU offload here need FSDP2; apply_change accepts version 1", "[fsdp1]") {
  EstimateInputs in = fsdp1_inputs(8);
  in.layout.fsdp.replicate = 2;
  CHECK_THROWS_AS(estimate(in), InputError);
  EstimateInputs off = fsdp1_inputs(8);
  off.layout.fsdp.cpu_offload = true;
  CHECK_THROWS_AS(estimate(off), InputError);
  EstimateInputs c;
  apply_change(c, {field::kFsdp, "1"});
  CHECK(c.layout.fsdp.version == 1);
}

TEST_CASE("the accelerate-fsdp recipe selects FSDP1 with fp32 flat parameters and bf16 compute and reduce", "[fsdp1][recipe]") {
  EstimateInputs in;
  in.model = resolve_model("llama-3.1-8b");
  const AppliedRecipe a = apply_recipe(in, find_recipe("accelerate-fsdp"), {field::kOptimizer});
  CHECK(in.layout.fsdp.version == 1);
  CHECK(in.layout.fsdp.reshard_after_forward);
  CHECK(in.setup.precision == Precision::kMixed);
  CHECK(in.layout.fsdp.param_dtype_bytes == 2);
  CHECK(in.layout.fsdp.reduce_dtype_bytes == 2);
  CHECK(in.setup.optimizer == Optimizer::kAdamW);  // the user's setting stands
  REQUIRE(a.overridden.size() == 1);
  CHECK(a.overridden[0].field == field::kOptimizer);
}
