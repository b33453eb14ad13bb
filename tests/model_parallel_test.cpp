// Tensor, context and pipeline parallelism per rank: parameters against Megatron's
// most-loaded-shard formula, activations against Korthikanti et al. 2022's per-layer forms,
// the schedules' in-flight micro-batches, the rank roles, and the combinations rejected.
#include <catch2/catch.hpp>

#include <nlohmann/json.hpp>

#include <vramcalc/pipeline_schedule.hpp>
#include <vramcalc/vramcalc.hpp>

#include "cli_run.hpp"

using namespace vramcalc;

namespace {

EstimateInputs inputs(const std::string& model, std::uint64_t seq, std::uint64_t tp, bool sp, std::uint64_t cp, std::uint64_t pp) {
  EstimateInputs in;
  in.model = resolve_model(model);
  in.setup.seq_len = seq;
  in.layout.tp = tp;
  in.layout.sp = sp;
  in.layout.cp = cp;
  in.layout.pp = pp;
  in.layout.gpus = tp * cp * pp;
  in.with_advice = false;
  return in;
}

std::string error_field(const EstimateInputs& in) {
  try {
    (void)estimate(in);
  } catch (const InputError& e) {
    return e.field();
  }
  return "";
}

// Llama-3-8B (published 8,030,261,248 parameters): 32 layers × 2 RMSNorm weights + the final
// norm, each of h = 4096, stay whole on every tensor-parallel rank.
constexpr std::uint64_t kP8b = 8'030'261'248;
constexpr std::uint64_t kNorms8b = 65 * 4096;

}  // namespace

TEST_CASE("tensor parallelism splits every linear, the embedding and lm_head; norms stay whole", "[model_parallel][tp]") {
  const Estimate est = estimate(inputs("llama-3-8b", 4096, 8, true, 1, 1));
  REQUIRE(est.roles.size() == 1);
  CHECK(est.roles[0].parameters == (kP8b - kNorms8b) / 8 + kNorms8b);  // 1,004,015,616
  CHECK(est.roles[0].role.ranks == 8);
  CHECK(est.params.total == kP8b);  // the model as published
  CHECK(est.find(ComponentId::kWeights)->size_bytes == 2 * est.roles[0].parameters);
}

TEST_CASE("TP 8 × PP 4: the first stage's parameters are Megatron's most loaded shard plus whole norms", "[model_parallel][pp]") {
  // Megatron training/theoretical_memory_usage.py compute_weight_and_optimizer_memory:
  // (P_blocks / p + V·h) / t, with every block parameter (norms too) divided by t.
  EstimateInputs in = inputs("llama-3-70b", 4096, 8, true, 1, 4);
  in.layout.microbatches = 8;
  const Estimate est = estimate(in);
  const std::uint64_t P = 70'553'706'496, Vh = 128'256ULL * 8192;
  const std::uint64_t blocks = P - 2 * Vh - 8192;
  const std::uint64_t megatron = (blocks / 4 + Vh) / 8;  // 2,270,470,144
  REQUIRE(est.roles.size() == 3);
  const RoleResult& first = est.roles[0];
  // 20 layers × 2 norms × 8192 weights are replicated, not split: 286,720 more than Megatron's.
  CHECK(first.parameters == megatron + 20 * 2 * 8192 * 7 / 8);
  CHECK(static_cast<double>(first.parameters - megatron) / static_cast<double>(megatron) < 2e-4);
  CHECK(first.role.embedding);
  CHECK_FALSE(first.role.head);
  CHECK(est.roles[1].parameters == blocks / 4 / 8 + 20 * 2 * 8192 * 7 / 8);  // no embedding, no head
  CHECK(est.roles[2].role.head);
}

TEST_CASE("sequence parallelism divides each layer's saved activations by tp (Korthikanti et al. 2022, §4.2.2)", "[model_parallel][sp]") {
  const Estimate one = estimate(inputs("llama-3-8b", 4096, 1, false, 1, 1));
  const Estimate sp = estimate(inputs("llama-3-8b", 4096, 8, true, 1, 1));
  CHECK(sp.activations.per_layer * 8 == one.activations.per_layer);
  // T·(20h + 4·kv_dim + 8I + 8)/t + 4·a·b·s/t with T = 4096, h = 4096, kv_dim = 1024, I = 14336, a = 32.
  CHECK(sp.activations.per_layer == 4096ULL * (20 * 4096 + 4 * 1024 + 8 * 14336 + 8) / 8 + 4ULL * 32 * 4096 / 8);
  // The all-gathered input of the column-parallel linears: one bf16 T·h buffer.
  CHECK(sp.find(ComponentId::kSpGatherBuffer)->size_bytes == 2ULL * 4096 * 4096);
}

TEST_CASE("tensor parallelism without SP keeps the norms and residual whole (Korthikanti's sbh(10 + 24/t) form)", "[model_parallel][tp]") {
  const Estimate tp = estimate(inputs("llama-3-8b", 4096, 8, false, 1, 1));
  // Replicated: two norms' fp32 input, normalised and output copies, T·(16h + 8); split by t:
  // q, k, v, attention output and the MLP, T·(4h + 4·kv_dim + 8I)/t, plus the logsumexp.
  CHECK(tp.activations.per_layer == 4096ULL * (16 * 4096 + 8) + 4096ULL * (4 * 4096 + 4 * 1024 + 8 * 14336) / 8 + 4ULL * 32 * 4096 / 8);
  CHECK(tp.find(ComponentId::kSpGatherBuffer) == nullptr);
}

TEST_CASE("micro-batches in flight per schedule (Megatron schedules.py, torch pipelining)", "[model_parallel][pp]") {
  using enum PipelineSchedule;
  CHECK(inflight_units(kGpipe, 4, 0, 8, 1) == 8);
  CHECK(inflight_units(kOneFOneB, 4, 0, 8, 1) == 4);
  CHECK(inflight_units(kOneFOneB, 4, 3, 8, 1) == 1);
  CHECK(inflight_units(kOneFOneB, 4, 0, 2, 1) == 2);
  // Interleaved rank 0, p = 4, v = 2: 11 chunk-forwards of L/8 layers = L·(1 + (p−1)/(p·v)),
  // Megatron's interleaved_schedule_memory_penalty.
  CHECK(inflight_units(kInterleaved, 4, 0, 8, 2) == 11);
  CHECK(inflight_units(kInterleaved, 4, 3, 8, 2) == 5);
}

TEST_CASE("the last stage keeps one loss graph under 1F1B and interleaved 1F1B, every micro-batch's under GPipe", "[model_parallel][pp]") {
  using enum PipelineSchedule;
  CHECK(head_inflight_units(kGpipe, 4, 8, 1) == 8);
  CHECK(head_inflight_units(kOneFOneB, 4, 8, 1) == 1);
  // Megatron's CI test gpt3_7b_tp1_pp4_memory_speed: p = 4, v = 8, m = 4. The last rank's warm-up
  // is (v − 1)·p = 28 forwards of chunks 0..6; then each last-chunk forward is followed by its backward.
  CHECK(inflight_units(kInterleaved, 4, 3, 4, 8) == 29);
  CHECK(head_inflight_units(kInterleaved, 4, 4, 8) == 1);
  CHECK(head_inflight_units(kInterleaved, 4, 8, 2) == 1);
}

TEST_CASE("1F1B's first stage holds L layers' activations; the last holds one micro-batch and the loss", "[model_parallel][pp]") {
  EstimateInputs in = inputs("llama-3-8b", 4096, 1, false, 1, 4);
  in.layout.microbatches = 8;
  in.with_advice = false;
  const Estimate est = estimate(in);
  REQUIRE(est.roles.size() == 3);
  CHECK(est.roles[0].role.inflight == 4);
  CHECK(est.roles[1].role.inflight == 3);
  CHECK(est.roles[1].role.ranks == 2);
  CHECK(est.roles[2].role.inflight == 1);
  for (const auto& r : est.roles) CHECK(r.device_total <= est.device_total);
  CHECK(est.roles[est.peak_role].device_total == est.device_total);
  // The first stage's layers in flight: 4 micro-batches × 8 layers = all 32 layers of one micro-batch.
  const Estimate one = estimate(inputs("llama-3-8b", 4096, 1, false, 1, 1));
  const Bytes first_layers = est.roles[0].role.inflight * est.roles[0].role.layers * one.activations.kept_per_layer;
  CHECK(first_layers == 32 * one.activations.kept_per_layer);
}

TEST_CASE("context parallelism splits the sequence and all-gathers K and V", "[model_parallel][cp]") {
  const Estimate cp = estimate(inputs("llama-3-8b", 8192, 1, false, 2, 1));
  const Estimate half = estimate(inputs("llama-3-8b", 4096, 1, false, 1, 1));
  CHECK(cp.activations.per_layer == half.activations.per_layer);
  CHECK(cp.find(ComponentId::kCpKvGather)->size_bytes == 2ULL * 2 * 8192 * 1024);
}

TEST_CASE("inconsistent model-parallel combinations are input errors", "[model_parallel][errors]") {
  EstimateInputs in = inputs("llama-3-8b", 4096, 4, false, 1, 1);
  in.layout.gpus = 6;
  CHECK(error_field(in) == field::kGpus);
  CHECK(error_field(inputs("llama-3-8b", 4096, 16, false, 1, 1)) == field::kTp);  // 8 KV heads
  CHECK(error_field(inputs("llama-3-8b", 4096, 1, false, 1, 64)) == field::kPp);  // 32 layers
  CHECK(error_field(inputs("llama-3-8b", 4096, 1, true, 1, 1)) == field::kSp);
  EstimateInputs zero = inputs("llama-3-8b", 4096, 1, false, 1, 2);
  zero.layout.zero = default_zero_settings(3, 4096, true);
  CHECK(error_field(zero) == field::kZeroStage);
  EstimateInputs interleaved = inputs("llama-3-8b", 4096, 1, false, 1, 2);
  interleaved.layout.pp_schedule = PipelineSchedule::kInterleaved;
  CHECK(error_field(interleaved) == field::kVirtualStages);
  EstimateInputs eager = inputs("llama-3-8b", 4096, 1, false, 2, 1);
  eager.setup.attention = Attention::kEager;
  CHECK(error_field(eager) == field::kAttention);
  EstimateInputs fused = inputs("llama-3-8b", 4096, 2, false, 1, 1);
  fused.setup.loss = LossImpl::kFused;
  CHECK(error_field(fused) == field::kLoss);
}

TEST_CASE("without tp, cp or pp there are no roles and nothing changes", "[model_parallel]") {
  const Estimate est = estimate(inputs("llama-3-8b", 4096, 1, false, 1, 1));
  CHECK(est.roles.empty());
}

TEST_CASE("CLI: --gpus is the total, a bad split exits 2, JSON lists every rank role", "[model_parallel][cli]") {
  const auto bad = vramcalc_test::run_vramcalc("--model llama-3-8b --tp 4 --gpus 6");
  CHECK(bad.code == 2);
  CHECK(bad.err.find("--gpus: '6'") != std::string::npos);
  const auto r = vramcalc_test::run_vramcalc("--model llama-3-8b --seq 4096 --tp 2 --pp 2 --microbatches 4 --format json");
  REQUIRE(r.code == 0);
  const auto j = nlohmann::json::parse(r.out);
  CHECK(j["layout"]["gpus"] == 4);
  CHECK(j["layout"]["data_parallel"] == 1);
  REQUIRE(j["rank_roles"].size() == 2);
  std::size_t most = 0;
  for (const auto& role : j["rank_roles"]) most += role["most_loaded"].get<bool>() ? 1 : 0;
  CHECK(most == 1);
}

TEST_CASE("Megatron's optimizer: 18 B/param, or 6 + 12/d with the distributed optimizer (theoretical_memory_usage.py)", "[model_parallel][megatron]") {
  EstimateInputs in = inputs("llama-3-8b", 4096, 1, false, 1, 1);
  in.layout.gpus = 4;
  in.layout.megatron = MegatronOptimizer::kDdp;
  const Estimate ddp = estimate(in);
  const auto states = [](const Estimate& e) {
    Bytes total = 0;
    for (ComponentId id : {ComponentId::kWeights, ComponentId::kGradients, ComponentId::kMasterWeights, ComponentId::kOptimizerStates}) {
      total += e.find(id)->size_bytes;
    }
    return total;
  };
  CHECK(states(ddp) == 18 * kP8b);
  CHECK(ddp.find(ComponentId::kDdpGradBuckets) == nullptr);  // main_grad buckets are views into the buffer
  in.layout.megatron = MegatronOptimizer::kDistributed;
  CHECK(states(estimate(in)) == 6 * kP8b + 12 * kP8b / 4);
  in.layout.zero = default_zero_settings(1, 4096, true);
  CHECK(error_field(in) == field::kMegatron);
}

TEST_CASE("the megatron recipe sets Megatron's fp32 main_grad optimizer; a flag overrides its knob", "[model_parallel][megatron][recipe]") {
  const auto r = vramcalc_test::run_vramcalc("--model llama-3-8b --seq 4096 --recipe megatron --tp 2 --gpus 8 --format json");
  REQUIRE(r.code == 0);
  const auto j = nlohmann::json::parse(r.out);
  CHECK(j["layout"]["megatron_optimizer"] == "ddp");
  const auto d = vramcalc_test::run_vramcalc("--model llama-3-8b --seq 4096 --recipe megatron --megatron-optimizer distributed --tp 2 --gpus 8 --format json");
  REQUIRE(d.code == 0);
  CHECK(nlohmann::json::parse(d.out)["layout"]["megatron_optimizer"] == "distributed");
}
