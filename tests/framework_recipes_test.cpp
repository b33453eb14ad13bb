// The deepspeed and lightning recipes (src/core/recipes/deepspeed.cpp, lightning.cpp): each knob they set,
// and the bytes their knobs change, derived by hand from DeepSpeed's and Lightning's code.
#include <catch2/catch.hpp>

#include "fixtures.hpp"

#include <fstream>

#include <nlohmann/json.hpp>

#include <vramcalc/vramcalc.hpp>

#include "cli_run.hpp"

using namespace vramcalc;

namespace {

using fixtures::moment_at;

// Llama-3.1-8B: P = 8,030,261,248; largest module the 128,256 × 4,096 embedding; 65 RMSNorm weights of 4,096.
constexpr std::uint64_t kEmbedding = 128'256ULL * 4'096ULL;
constexpr std::uint64_t kNorms = (32ULL * 2 + 1) * 4'096ULL;

EstimateInputs zero_inputs(const std::string& stage, std::uint64_t gpus) {
  EstimateInputs in;
  in.model = resolve_model("llama-3.1-8b");
  in.setup.seq_len = 4096;
  in.layout.gpus = gpus;
  in.layout.gpus_per_node = 8;
  in.with_advice = false;
  apply_change(in, {field::kZeroStage, stage});  // HF "auto" sizes, as --zero sets them
  return in;
}

Bytes component_bytes(const Estimate& est, ComponentId id) {
  const Component* c = est.find(id);
  return c ? c->size_bytes : 0;
}

}  // namespace

TEST_CASE("the deepspeed recipe sets bf16 with FusedAdam and DeepSpeed's own zero_optimization sizes", "[recipe][deepspeed]") {
  EstimateInputs in = zero_inputs("3", 8);
  const AppliedRecipe a = apply_recipe(in, find_recipe("deepspeed"), {field::kZeroStage});
  CHECK(in.setup.precision == Precision::kMixed);
  CHECK(in.setup.optimizer == Optimizer::kAdamWFused);
  CHECK(in.layout.zero.stage == 3);  // the stage stays the user's
  CHECK(in.layout.zero.reduce_bucket_size == 500'000'000);
  CHECK(in.layout.zero.stage3_prefetch_bucket_size == 50'000'000);
  CHECK(in.layout.zero.stage3_param_persistence_threshold == 100'000);
  CHECK(in.layout.zero.stage3_max_live_parameters == 1'000'000'000);
  CHECK(in.layout.zero.contiguous_gradients);
  CHECK(a.set.size() == 7);
  CHECK(a.overridden.empty());  // the recipe sets no stage, so the user's --zero overrides nothing
}

TEST_CASE("deepspeed recipe, ZeRO-2: one 5e8-element bf16 reduce bucket instead of HF's h² (1 GB vs 33.5 MB)", "[recipe][deepspeed]") {
  EstimateInputs hf = zero_inputs("2", 8);
  CHECK(component_bytes(estimate(hf), ComponentId::kReduceBucket) == 4'096ULL * 4'096 * 2);  // auto: h·h × 2 B
  EstimateInputs ds = zero_inputs("2", 8);
  (void)apply_recipe(ds, find_recipe("deepspeed"), {field::kZeroStage});
  // stage_1_and_2.py setup_buckets: torch.empty(reduce_bucket_size, bf16); overlap_comm defaults to False below stage 3.
  const Estimate est = estimate(ds);
  CHECK(component_bytes(est, ComponentId::kReduceBucket) == 500'000'000ULL * 2);
  CHECK(component_bytes(est, ComponentId::kReduceScatterTemp) == 500'000'000ULL * 2);
}

TEST_CASE("deepspeed recipe, ZeRO-3: the embedding plus a 5e7 prefetch gathered, norms persistent, a 1 GB bucket", "[recipe][deepspeed]") {
  EstimateInputs in = zero_inputs("3", 8);
  (void)apply_recipe(in, find_recipe("deepspeed"), {field::kZeroStage});
  const Estimate est = estimate(in);
  CHECK(component_bytes(est, ComponentId::kGatheredParams) == (kEmbedding + 50'000'000) * 2);
  CHECK(component_bytes(est, ComponentId::kPersistentParams) == kNorms * 2);  // every norm ≤ 1e5 elements
  CHECK(component_bytes(est, ComponentId::kReduceBucket) == 500'000'000ULL * 2);
}

TEST_CASE("deepspeed recipe, stage 0: FP16_Optimizer over bf16 holds 20 B/param at the step", "[recipe][deepspeed]") {
  EstimateInputs in = zero_inputs("0", 1);
  (void)apply_recipe(in, find_recipe("deepspeed"), {field::kZeroStage});
  const Estimate est = estimate(in);
  const std::uint64_t P = est.params.total;
  // fused_optimizer.py: bf16 flat params 2P, bf16 grads 2P, fp32 master clone 4P, FusedAdam states 8P, fp32 flat grads 4P.
  CHECK(component_bytes(est, ComponentId::kWeights) == 2 * P);
  CHECK(component_bytes(est, ComponentId::kGradients) == 2 * P);
  CHECK(component_bytes(est, ComponentId::kMasterWeights) == 4 * P);
  CHECK(component_bytes(est, ComponentId::kOptimizerStates) == 8 * P);
  CHECK(component_bytes(est, ComponentId::kGradFp32Copy) == 4 * P);
  CHECK(component_bytes(est, ComponentId::kOptimizerStepTemp) == 0);  // FusedAdam: no foreach temporaries
}

TEST_CASE("zero_optimization knobs: values DeepSpeed's config rejects are input errors naming the key", "[recipe][deepspeed]") {
  EstimateInputs in = zero_inputs("3", 8);
  CHECK_THROWS_WITH(apply_change(in, {field::kReduceBucketSize, "0"}),
                    Catch::Contains("zero_optimization.reduce_bucket_size") && Catch::Contains("'0'"));
  CHECK_THROWS_AS(apply_change(in, {field::kPrefetchBucketSize, "-1"}), InputError);
  CHECK_THROWS_AS(apply_change(in, {field::kMaxLiveParameters, "1e9"}), InputError);
  CHECK_THROWS_AS(apply_change(in, {field::kContiguousGradients, "yes"}), InputError);
  apply_change(in, {field::kPrefetchBucketSize, "0"});
  CHECK(in.layout.zero.stage3_prefetch_bucket_size == 0);
}

namespace {

constexpr std::uint64_t kP = 8'030'261'248;    // Llama-3.1-8B
constexpr std::uint64_t kBlock = 218'112'000;  // one decoder block: q,o 4096², k,v 4096·1024, 3 × 4096·14336, 2 norms

EstimateInputs lightning_inputs(std::uint64_t gpus) {
  EstimateInputs in;
  in.model = resolve_model("llama-3.1-8b");
  in.setup.seq_len = 4096;
  in.layout.gpus = gpus;
  in.layout.gpus_per_node = 8;
  in.with_advice = false;
  (void)apply_recipe(in, find_recipe("lightning"), {});
  return in;
}

}  // namespace

TEST_CASE("the lightning recipe is FSDPStrategy() with bf16-mixed: FSDP1, root only, fp32 storage, bf16 compute and reduce", "[recipe][lightning]") {
  const EstimateInputs in = lightning_inputs(8);
  CHECK(in.layout.fsdp.version == 1);
  CHECK_FALSE(in.layout.fsdp.wrap_blocks);
  CHECK(in.layout.fsdp.reshard_after_forward);
  CHECK(in.setup.precision == Precision::kMixed);
  CHECK(in.layout.fsdp.param_dtype_bytes == 2);
  CHECK(in.layout.fsdp.reduce_dtype_bytes == 2);
  CHECK(in.setup.grad_ckpt == GradCkpt::kNone);
  CHECK(in.setup.optimizer == Optimizer::kAdamW);  // left to the LightningModule: vramcalc's default
  // --fsdp-wrap blocks (auto_wrap_policy={Block}) overrides the knob
  EstimateInputs blocks;
  blocks.model = resolve_model("llama-3.1-8b");
  apply_change(blocks, {field::kFsdpWrap, "blocks"});
  const AppliedRecipe a = apply_recipe(blocks, find_recipe("lightning"), {field::kFsdpWrap});
  CHECK(blocks.layout.fsdp.wrap_blocks);
  REQUIRE(a.overridden.size() == 1);
  CHECK(a.overridden[0].field == field::kFsdpWrap);
}

TEST_CASE("FSDP1 without auto-wrap: the whole model gathered in bf16 through forward and backward", "[recipe][lightning][fsdp1]") {
  const Estimate est = estimate(lightning_inputs(8));
  CHECK(est.find(ComponentId::kWeights)->size_bytes == kP / 8 * 4);  // one FlatParameter, P divides by 8: 1,003,782,656 × 4 B
  CHECK(est.find(ComponentId::kOptimizerStates)->size_bytes == kP / 8 * 8);
  for (Instant i : {Instant::kForwardLoss, Instant::kForwardLastLayer, Instant::kBackwardLastMlp, Instant::kBackwardFirstAttn}) {
    CHECK(moment_at(est, i).bytes_of(ComponentId::kGatheredParams) == kP * 2);
  }
  // the root's post-backward hook: the per-parameter bf16 gradients beside their concatenation, no cast (reduce bf16)
  const Moment& end = moment_at(est, Instant::kBackwardEnd);
  CHECK(end.bytes_of(ComponentId::kGatheredGrad) == kP * 2);
  CHECK(end.bytes_of(ComponentId::kReduceScatterTemp) == kP * 2);
  CHECK(end.bytes_of(ComponentId::kGradients) == 0);  // no block unit reduced before the root
}

TEST_CASE("FSDP1 without auto-wrap: the later blocks' gradients wait for the root's hook", "[recipe][lightning][fsdp1]") {
  EstimateInputs root_only = lightning_inputs(8);
  EstimateInputs blocks = root_only;
  blocks.layout.fsdp.wrap_blocks = true;
  const Estimate a = estimate(root_only), b = estimate(blocks);
  // backward of the first block (the last to run): 31 later blocks' bf16 gradients, 31 × 218,112,000 × 2 B
  CHECK(moment_at(a, Instant::kBackwardFirstMlp).bytes_of(ComponentId::kGatheredGrad) ==
        moment_at(b, Instant::kBackwardFirstMlp).bytes_of(ComponentId::kGatheredGrad) + 31 * kBlock * 2);
  // backward of the last block (the first to run): nothing later yet
  CHECK(moment_at(a, Instant::kBackwardLastMlp).bytes_of(ComponentId::kGatheredGrad) ==
        moment_at(b, Instant::kBackwardLastMlp).bytes_of(ComponentId::kGatheredGrad));
}

TEST_CASE("a root-only unit (auto-wrap none) needs FSDP1; other wrap values are input errors", "[recipe][lightning][fsdp1]") {
  EstimateInputs in = lightning_inputs(8);
  CHECK_THROWS_AS(apply_change(in, {field::kFsdpWrap, "root"}), InputError);
  in.layout.fsdp.version = 2;
  CHECK_THROWS_WITH(estimate(in), Catch::Contains("FSDP1"));
}

TEST_CASE("a --deepspeed file's zero_optimization keys win over the deepspeed recipe's; the output names both", "[recipe][deepspeed][cli]") {
  const auto path = vramcalc_test::scratch("framework_recipes") / "ds_auto.json";
  std::ofstream(path) << R"({"zero_optimization": {"stage": 2, "reduce_bucket_size": "auto"}, "bf16": {"enabled": true}})";
  const auto r = vramcalc_test::run_vramcalc("--model llama-3.1-8b --gpus 8 --recipe deepspeed --format json --deepspeed " + path.string());
  REQUIRE(r.code == 0);
  const auto j = nlohmann::json::parse(r.out);
  CHECK(j["recipe"]["set"].size() == 1);  // the optimizer only
  CHECK(j["recipe"]["overridden"].size() == 6);
  CHECK(j["layout"]["reduce_bucket_size"] == 4096 * 4096);  // HF "auto": h·h, from the file
  const auto flags = vramcalc_test::run_vramcalc("--model llama-3.1-8b --gpus 8 --recipe lightning --fsdp-wrap blocks --format json");
  REQUIRE(flags.code == 0);
  CHECK_FALSE(nlohmann::json::parse(flags.out)["layout"]["fsdp"].contains("auto_wrap"));
}
