// FSDP2 per rank (src/core/layout/fsdp2*.cpp): sharded states by hand, the gathered blocks that
// reshard_after_forward keeps, the MixedPrecisionPolicy dtypes, and the combinations rejected.
// The measured per-rank peaks are checked by the accuracy test (hf_cpu.json, kind fsdp2).
#include <catch2/catch.hpp>

#include "fixtures.hpp"

#include <vramcalc/vramcalc.hpp>

using namespace vramcalc;

namespace {

using fixtures::moment_at;

EstimateInputs fsdp_inputs(Precision precision, std::uint64_t gpus) {
  EstimateInputs in;
  in.model = resolve_model("llama-3.1-8b");
  in.setup.seq_len = 8192;
  in.setup.precision = precision;
  in.layout.gpus = gpus;
  in.layout.gpus_per_node = 8;
  in.layout.fsdp.version = 2;
  in.with_advice = false;
  return in;
}

constexpr std::uint64_t kP = 8'030'261'248;         // Llama 3.1 8B; every d0 divides by 8
constexpr std::uint64_t kBlock = 218'112'000;  // one decoder block: 4096·(4096+2·1024+4096) + 3·4096·14336 + 2·4096
constexpr std::uint64_t kRoot = 2 * 128'256ULL * 4096 + 4096;  // embedding + lm_head + final norm

}  // namespace

TEST_CASE("FSDP2 shards fp32 parameters, gradients and AdamW states: 16 B/param over N", "[fsdp]") {
  const Estimate est = estimate(fsdp_inputs(Precision::kMixed, 8));
  const std::uint64_t shard = kP / 8;
  CHECK(est.find(ComponentId::kWeights)->size_bytes == shard * 4);
  CHECK(est.find(ComponentId::kGradients)->size_bytes == shard * 4);
  CHECK(est.find(ComponentId::kOptimizerStates)->size_bytes == shard * 8);
  // the sharded fp32 parameters are the master copy: no separate one, no fp32 grad copy
  const Phase* step = est.phase(PhaseId::kOptimizerStep);
  REQUIRE(step != nullptr);
  CHECK(step->bytes_of(ComponentId::kMasterWeights) == 0);
  CHECK(step->bytes_of(ComponentId::kGradFp32Copy) == 0);
  // AdamW foreach's step temporary is one shard in fp32
  CHECK(step->bytes_of(ComponentId::kOptimizerStepTemp) == shard * 4);
}

TEST_CASE("FSDP2 bf16 storage: 8 B/param over N", "[fsdp]") {
  const Estimate est = estimate(fsdp_inputs(Precision::kBf16, 8));
  CHECK(est.find(ComponentId::kWeights)->size_bytes == kP / 8 * 2);
  CHECK(est.find(ComponentId::kOptimizerStates)->size_bytes == kP / 8 * 4);
}

TEST_CASE("FSDP2 gathers the root and one block in bf16; reshard_after_forward=False keeps every block", "[fsdp]") {
  REQUIRE(count_parameters(resolve_model("llama-3.1-8b")).per_layer == kBlock);
  EstimateInputs in = fsdp_inputs(Precision::kMixed, 8);
  const Estimate resharded = estimate(in);
  const Moment& fwd = moment_at(resharded, Instant::kForwardLoss);
  CHECK(fwd.bytes_of(ComponentId::kGatheredParams) == kRoot * 2);
  CHECK(fwd.bytes_of(ComponentId::kAllGatherBuffer) == kBlock * 2);  // the last block's flat output, parked
  in.layout.fsdp.reshard_after_forward = false;
  const Estimate kept = estimate(in);
  CHECK(moment_at(kept, Instant::kForwardLoss).bytes_of(ComponentId::kGatheredParams) == kRoot * 2 + 32 * kBlock * 2);
  // in backward: the block in backward and the one prefetched
  CHECK(moment_at(resharded, Instant::kBackwardLastMlp).bytes_of(ComponentId::kGatheredParams) == kRoot * 2 + 2 * kBlock * 2);
}

TEST_CASE("FSDP2 reduces in fp32 under mixed: the root's unsharded grads and reduce-scatter input end the backward", "[fsdp]") {
  const Estimate est = estimate(fsdp_inputs(Precision::kMixed, 8));
  const Moment& end = moment_at(est, Instant::kBackwardEnd);
  CHECK(end.bytes_of(ComponentId::kGatheredGrad) == kRoot * 2);       // bf16 autograd gradients
  CHECK(end.bytes_of(ComponentId::kReduceScatterTemp) == kRoot * 4);  // reduce_dtype fp32
  CHECK(end.bytes_of(ComponentId::kGradients) == 32 * kBlock / 8 * 4);  // every block's sharded fp32 gradient
  // an explicit bf16 reduce halves the reduce-scatter input
  EstimateInputs in = fsdp_inputs(Precision::kMixed, 8);
  in.layout.fsdp.reduce_dtype_bytes = 2;
  CHECK(moment_at(estimate(in), Instant::kBackwardEnd).bytes_of(ComponentId::kReduceScatterTemp) == kRoot * 2);
}

TEST_CASE("FSDP2 param_dtype bf16 over fp32 storage computes the activations in bf16", "[fsdp]") {
  EstimateInputs fp32 = fsdp_inputs(Precision::kFp32, 8);
  EstimateInputs cast = fp32;
  cast.layout.fsdp.param_dtype_bytes = 2;
  EstimateInputs bf16 = fp32;
  bf16.setup.precision = Precision::kBf16;
  CHECK(estimate(cast).activations.stack.bytes == estimate(bf16).activations.stack.bytes);
  CHECK(estimate(cast).activations.stack.bytes < estimate(fp32).activations.stack.bytes);
}

TEST_CASE("FSDP2 per-rank states shrink with more ranks", "[fsdp]") {
  const Bytes w8 = estimate(fsdp_inputs(Precision::kMixed, 8)).find(ComponentId::kOptimizerStates)->size_bytes;
  const Bytes w16 = estimate(fsdp_inputs(Precision::kMixed, 16)).find(ComponentId::kOptimizerStates)->size_bytes;
  CHECK(w16 * 2 == w8);
}

TEST_CASE("FSDP with ZeRO, an unknown version, or a MixedPrecisionPolicy without FSDP are input errors", "[fsdp]") {
  EstimateInputs in = fsdp_inputs(Precision::kMixed, 8);
  in.layout.zero = default_zero_settings(3, in.model.hidden_size, true);
  try {
    (void)estimate(in);
    FAIL("accepted FSDP with ZeRO-3");
  } catch (const InputError& e) {
    CHECK(e.field() == field::kFsdp);
  }
  EstimateInputs v = fsdp_inputs(Precision::kMixed, 8);
  v.layout.fsdp.version = 3;
  CHECK_THROWS_AS(estimate(v), InputError);
  EstimateInputs off = fsdp_inputs(Precision::kMixed, 8);
  off.layout.fsdp.version = 0;
  off.layout.fsdp.param_dtype_bytes = 2;
  try {
    (void)estimate(off);
    FAIL("accepted param_dtype without FSDP");
  } catch (const InputError& e) {
    CHECK(e.field() == field::kParamDtype);
  }
}

TEST_CASE("apply_change sets the FSDP fields from text", "[fsdp]") {
  EstimateInputs in;
  apply_change(in, {field::kFsdp, "2"});
  apply_change(in, {field::kReshardAfterForward, "false"});
  apply_change(in, {field::kParamDtype, "bf16"});
  apply_change(in, {field::kReduceDtype, "fp32"});
  CHECK(in.layout.fsdp.version == 2);
  CHECK_FALSE(in.layout.fsdp.reshard_after_forward);
  CHECK(in.layout.fsdp.param_dtype_bytes == 2);
  CHECK(in.layout.fsdp.reduce_dtype_bytes == 4);
  CHECK_THROWS_AS(apply_change(in, {field::kFsdp, "3"}), InputError);
  CHECK_THROWS_AS(apply_change(in, {field::kParamDtype, "fp16"}), InputError);
}

TEST_CASE("the torchtitan recipe selects FSDP2 with torchtitan's mixed precision; flags override it", "[fsdp][recipe]") {
  EstimateInputs in;
  in.model = resolve_model("llama-3.1-8b");
  const AppliedRecipe a = apply_recipe(in, find_recipe("torchtitan"), {field::kGradCkpt});
  CHECK(in.layout.fsdp.version == 2);
  CHECK(in.setup.precision == Precision::kMixed);
  CHECK(in.layout.fsdp.param_dtype_bytes == 2);
  CHECK(in.layout.fsdp.reduce_dtype_bytes == 4);
  CHECK(in.setup.optimizer == Optimizer::kAdamWFused);
  CHECK(in.setup.grad_ckpt == GradCkpt::kNone);  // the user's setting stands
  REQUIRE(a.overridden.size() == 1);
  CHECK(a.overridden[0].field == field::kGradCkpt);
}

TEST_CASE("the hf-trainer recipe is transformers 5.x's pure bf16 with fused AdamW: 8 B/param of states", "[recipe]") {
  EstimateInputs in;
  in.model = resolve_model("llama-3.1-8b");
  in.with_advice = false;
  (void)apply_recipe(in, find_recipe("hf-trainer"), {});
  CHECK(in.setup.precision == Precision::kBf16);
  CHECK(in.setup.optimizer == Optimizer::kAdamWFused);
  const Estimate est = estimate(in);
  CHECK(est.find(ComponentId::kWeights)->size_bytes == kP * 2);
  CHECK(est.find(ComponentId::kOptimizerStates)->size_bytes == kP * 4);
}

TEST_CASE("FSDP2's stream pools: reserved beyond allocated by the parked all-gather pair and the sharded gradients", "[fsdp]") {
  // mixed = MixedPrecisionPolicy(bf16, fp32) over fp32 shards: the sharded gradients are views of
  // the fp32 reduce-scatter outputs (no cast), allocated in the reduce-scatter stream.
  EstimateInputs in = fsdp_inputs(Precision::kMixed, 8);
  in.setup.micro_batch = 2;
  in.setup.grad_ckpt = GradCkpt::kOpSac;
  const Estimate est = estimate(in);
  const Phase& peak = est.phases[est.peak_phase];
  REQUIRE(peak.bytes_of(ComponentId::kGradients) == 0);         // peak at the start of backward: freed by zero_grad
  REQUIRE(peak.bytes_of(ComponentId::kAllGatherBuffer) == 0);
  const std::uint64_t all_gather = (kRoot + kBlock) * 2;         // root's and a block's flat bf16 outputs
  const std::uint64_t reduce_scatter = kP / 8 * 4;               // every fp32 gradient shard
  const Component* pools = est.find(ComponentId::kStreamPools);
  REQUIRE(pools != nullptr);
  CHECK(pools->size_bytes == all_gather + reduce_scatter);
  const Component* reserve = est.find(ComponentId::kAllocatorReserve);
  // The peak is the loss backward: the loss window's hole (2·T·V, the freed bf16 logits' share) adds to it.
  const std::uint64_t hole = 2ULL * 16384 * 128256;
  REQUIRE(est.find(ComponentId::kLossWindowHole) != nullptr);
  CHECK(est.find(ComponentId::kLossWindowHole)->size_bytes == hole);
  CHECK(est.peak_reserved == est.peak_allocated + reserve->size_bytes + all_gather + reduce_scatter + hole);
}

TEST_CASE("FSDP2's stream pools do not count what of them is allocated at the peak", "[fsdp]") {
  // Without checkpointing at a short sequence the peak is the optimizer step, where the gradient
  // shards are allocated (and counted) already: only the all-gather pool is extra.
  EstimateInputs in = fsdp_inputs(Precision::kMixed, 8);
  in.setup.seq_len = 128;
  const Estimate est = estimate(in);
  const Phase& peak = est.phases[est.peak_phase];
  const std::uint64_t grads = peak.bytes_of(ComponentId::kGradients);
  const std::uint64_t parked = peak.bytes_of(ComponentId::kAllGatherBuffer);
  const std::uint64_t expected = (kRoot + kBlock) * 2 - parked + (kP / 8 * 4 - std::min(grads, kP / 8 * 4));
  CHECK(est.find(ComponentId::kStreamPools)->size_bytes == expected);
  // ZeRO-3 and DDP have no such pools
  EstimateInputs z = in;
  z.layout.fsdp.version = 0;
  z.layout.zero = default_zero_settings(3, z.model.hidden_size, true);
  CHECK(estimate(z).find(ComponentId::kStreamPools) == nullptr);
}
