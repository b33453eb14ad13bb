// torch.compile (--compile): the saved set of the min-cut partitioner, hand-derived bytes that
// the partitioner's own saved list (tools/measure/alloc_measure.py _partition_probe) confirms.
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

}  // namespace

TEST_CASE("torch.compile(model) of a Llama saves what the partitioner listed, to the byte", "[compile]") {
  const ModelConfig m = llama_h128();
  TrainingSetup s;
  s.seq_len = 256;
  s.precision = Precision::kFp32;
  s.attention = Attention::kSdpa;
  s.compile = Compile::kModel;
  const std::uint64_t T = 256, h = 128, qd = 128, I = 320, e = 4, a = 4, V = 4096;
  // Per layer: two norm inputs, two norm outputs (T·h), q, k and v repeated to a heads (the
  // traced model passes a mask), the SDPA output (T·qd), gate, up, product (T·I), two rstd (4T),
  // the logsumexp (4·a·s).
  const Activations act = activations(m, s);
  CHECK(act.per_layer == e * T * (4 * h + 4 * qd + 3 * I) + 8 * T + 4 * a * T);
  CHECK(act.per_layer == 2037760);
  // Outside: ids 8T, inv_freq 4·16, the fp32 mask s², the final norm's input, rstd and output.
  CHECK(act.outside == 8 * T + 64 + e * T * T + e * T * h + 4 * T + e * T * h);
  // The loss: fp32 logits, padded labels 8·(s+1), row max and log-sum-exp 8T, a scalar.
  const LogitsLoss loss = logits_loss(m, s);
  CHECK(loss.saved.bytes == e * T * V + 8 * (T + 1) + 8 * T + 4);
  // The partitioner's saved list of the measured run (hf-compile-llama-h128-...-saved): 8,801,356 B.
  CHECK(act.stack.bytes + loss.saved.bytes == 8801356);
}

TEST_CASE("Compiling drops the fp32 norm copies and the fp32 log-probs of a bf16 Llama-3-8B", "[compile]") {
  TrainingSetup s;
  s.seq_len = 8192;
  s.precision = Precision::kBf16;
  const ModelConfig m = resolve_model("llama-3-8b");
  const std::uint64_t T = 8192, h = 4096, kv = 1024, I = 14336, a = 32, V = 128256;
  s.compile = Compile::kBlocks;  // unmasked SDPA: native GQA, k and v at the KV width
  // Two norm inputs and outputs 4 × 2Th, q and the SDPA output 2 × 2Th, k and v 2 × 2T·kv, gate,
  // up and product 3 × 2TI, two rstd 8T, logsumexp 4aT: the set Liger's kernels save (139,400 B
  // per token), against the eager 200,840.
  const Activations act = activations(m, s);
  CHECK(act.per_layer == T * (12 * h + 4 * kv + 6 * I + 8 + 4 * a));
  CHECK(act.per_layer / T == 139400);
  const LogitsLoss loss = logits_loss(m, s);
  CHECK(loss.saved.bytes == 2 * T * V + 8 * (T + 1) + 8 * T + 4);
}

TEST_CASE("torch.compile with LoRA, Liger kernels or selective checkpointing is an input error", "[compile]") {
  EstimateInputs in;
  in.model = resolve_model("llama-3-8b");
  in.setup.compile = Compile::kModel;
  in.setup.grad_ckpt = GradCkpt::kSelective;
  CHECK_THROWS_AS(estimate(in), InputError);
  const auto r = vramcalc_test::run_vramcalc("--model llama-3-8b --compile model --kernels liger");
  CHECK(r.code == 2);
  CHECK(r.err.find("--compile") != std::string::npos);
  const auto bad = vramcalc_test::run_vramcalc("--model llama-3-8b --compile modle");
  CHECK(bad.code == 2);
  CHECK(bad.err.find("did you mean 'model'") != std::string::npos);
}

}  // namespace vramcalc
