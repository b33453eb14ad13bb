// torchtitan's compile form (--compile blocks-eager-loss) and op-level SAC under compile
// (--grad-ckpt op-sac): hand-derived bytes that the partitioner's saved list of the harness runs
// (hf-compile-llama-h128-L2-v4k-bf16-sdpa-ckptop-sac-...-blocks-eager-loss) confirms.
#include <catch2/catch.hpp>

#include "fixtures.hpp"

#include <vramcalc/activations.hpp>
#include <vramcalc/error.hpp>
#include <vramcalc/estimate.hpp>
#include <vramcalc/logits_loss.hpp>
#include <vramcalc/model_io.hpp>

#include "cli_run.hpp"

namespace vramcalc {
namespace {

using fixtures::llama_h128;

TrainingSetup bf16_sdpa(Compile c, GradCkpt g) {
  TrainingSetup s;
  s.seq_len = 256;
  s.precision = Precision::kBf16;
  s.attention = Attention::kSdpa;
  s.compile = c;
  s.grad_ckpt = g;
  return s;
}

}  // namespace

TEST_CASE("op-level SAC around a compiled block keeps its input, q, v, gate and SDPA's outputs, not down_proj's", "[compile]") {
  const ModelConfig m = llama_h128();
  const std::uint64_t T = 256, h = 128, qd = 128, kvd = 64, I = 320, a = 4, e = 2;
  const Activations act = activations(m, bf16_sdpa(Compile::kBlocksEagerLoss, GradCkpt::kOpSac));
  // The partitioner's list (graph inputs primals_1, mm, mm_2, getitem, getitem_1, mm_4): 397,312 B.
  CHECK(act.kept_per_layer == e * T * h + e * T * qd + e * T * kvd + e * T * qd + 4 * a * T + e * T * I);
  CHECK(act.kept_per_layer == 397312);
  REQUIRE(act.kept_parts.size() == 6);
  CHECK(act.kept_parts[1].name == "q_proj.output");
  CHECK(act.kept_parts[2].name == "v_proj.output");
  CHECK(act.kept_parts[3].name == "gate_proj.output");
  for (const auto& t : act.kept_parts) CHECK(!t.source.empty());
  // Eager op-SAC also keeps down_proj's output (the caching dispatch mode stores every MUST_SAVE output).
  const Activations eager = activations(m, bf16_sdpa(Compile::kNone, GradCkpt::kOpSac));
  CHECK(eager.kept_per_layer == act.kept_per_layer + e * T * h);
}

TEST_CASE("blocks-eager-loss compiles the blocks as blocks does and leaves the loss eager", "[compile]") {
  const ModelConfig m = llama_h128();
  const TrainingSetup titan = bf16_sdpa(Compile::kBlocksEagerLoss, GradCkpt::kNone);
  CHECK(activations(m, titan).per_layer == activations(m, bf16_sdpa(Compile::kBlocks, GradCkpt::kNone)).per_layer);
  CHECK(logits_loss(m, titan).saved.bytes == logits_loss(m, bf16_sdpa(Compile::kNone, GradCkpt::kNone)).saved.bytes);
  CHECK(logits_loss(m, titan).saved.bytes != logits_loss(m, bf16_sdpa(Compile::kBlocks, GradCkpt::kNone)).saved.bytes);
}

TEST_CASE("op-level SAC under whole-model compile or with eager attention is an input error", "[compile]") {
  EstimateInputs in;
  in.model = llama_h128();
  in.setup = bf16_sdpa(Compile::kModel, GradCkpt::kOpSac);
  CHECK_THROWS_AS(estimate(in), InputError);
  in.setup = bf16_sdpa(Compile::kBlocks, GradCkpt::kOpSac);
  in.setup.attention = Attention::kEager;
  CHECK_THROWS_AS(estimate(in), InputError);
  const auto r = vramcalc_test::run_vramcalc("--model llama-3-8b --compile model --grad-ckpt op-sac");
  CHECK(r.code == 2);
  CHECK(r.err.find("--compile") != std::string::npos);
  const auto ok = vramcalc_test::run_vramcalc("--model llama-3-8b --compile blocks-eager-loss --grad-ckpt op-sac --explain");
  CHECK(ok.code == 0);
  CHECK(ok.out.find("gate_proj.output") != std::string::npos);
}

}  // namespace vramcalc
