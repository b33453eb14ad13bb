// FP8 training (--fp8, torchao float8): hand-derived bytes of the casts of a Float8Linear in flight,
// checked against the harness's measured rule (tools/measure/FINDINGS.md §37, records …-fp8tensorwise /
// …-fp8rowwise in tests/data/measured/hf_cpu.json).
#include <catch2/catch.hpp>

#include "fixtures.hpp"

#include <cmath>

#include <vramcalc/activations.hpp>
#include <vramcalc/error.hpp>
#include <vramcalc/estimate.hpp>
#include <vramcalc/model_io.hpp>

#include "cli_run.hpp"
#include "core/ops_fp8.hpp"

namespace vramcalc {
namespace {

using fixtures::llama_h128;

TrainingSetup bf16_s256(Fp8Recipe r) {
  TrainingSetup s;
  s.seq_len = 256;
  s.precision = Precision::kBf16;
  s.attention = Attention::kSdpa;
  s.fp8 = r;
  return s;
}

const Phase& backward_phase(const Estimate& e) {
  for (const Phase& p : e.phases) {
    if (p.name() == "backward") return p;
  }
  FAIL("no backward phase");
  return e.phases.front();
}

}  // namespace

TEST_CASE("fp8: lm_head's backward holds the fp8 casts of the logits' gradient, to the byte", "[fp8]") {
  const std::uint64_t T = 256, h = 128, V = 4096, N = T * V;
  // At the second cast of the logits' gradient (along dim 0): its dim -1 fp8 (N + 4 B scale), the
  // weight's fp8 for grad_input (V·h + 4), grad_input (2·T·h, bf16), and the cast in flight: fp32
  // scaled copy 4N + clamp 4N + fp8 N (+ 4 B scale). Measured top storages at that op: mul 4N,
  // clamp 4N, the bf16 gradient 2N, two fp8 [256, 4096].
  const Fp8Linear head{T, h, V, 2};
  const Bytes expected = (N + 4) + (V * h + 4) + 2 * T * h + 9 * N + 4;
  CHECK(fp8_backward_peak(head, Fp8Recipe::kTensorwise, true) == expected);
  CHECK(expected == 11075596);
  // Rowwise: fp32 scales per row (4T), per column of Wᵀ (4h) and per column of the gradient (4V)
  // instead of three 0-dim scales: measured rowwise − tensorwise backward peak = 17,908 B.
  CHECK(fp8_backward_peak(head, Fp8Recipe::kRowwise, true) - expected == 4 * T + 4 * h + 4 * V - 12);
  CHECK(4 * T + 4 * h + 4 * V - 12 == 17908);
}

TEST_CASE("fp8: the saved activations are F.linear's and the step's backward peak is lm_head's", "[fp8]") {
  const ModelConfig m = llama_h128();
  TrainingSetup plain = bf16_s256(Fp8Recipe::kNone);
  // Float8Linear saves (input_hp, weight_hp_t): no fp8 tensor lives to backward (measured 1,382,400 B).
  CHECK(activations(m, bf16_s256(Fp8Recipe::kTensorwise)).per_layer == activations(m, plain).per_layer);
  CHECK(activations(m, plain).per_layer == 1382400);
  EstimateInputs in;
  in.model = m;
  in.setup = bf16_s256(Fp8Recipe::kTensorwise);
  const Estimate t = estimate(in);
  CHECK(backward_phase(t).bytes_of(ComponentId::kFp8Casts) == 11075596);
  in.setup.fp8 = Fp8Recipe::kRowwise;
  const Estimate r = estimate(in);
  CHECK(backward_phase(r).allocated - backward_phase(t).allocated == 17908);
  // The measured backward peak (tracker, CPU: no cuBLAS workspace) is 24,597,480 B; predicted 24,595,212 B.
  const Phase& b = backward_phase(t);
  const double predicted = static_cast<double>(b.allocated - b.bytes_of(ComponentId::kCublasWorkspace));
  CHECK(std::abs(predicted - 24597480.0) / 24597480.0 < 0.001);
}

TEST_CASE("fp8 under amp keeps no autocast weight cast", "[fp8]") {
  EstimateInputs in;
  in.model = llama_h128();
  in.setup = bf16_s256(Fp8Recipe::kTensorwise);
  in.setup.precision = Precision::kAmp;
  const Estimate e = estimate(in);
  for (const Phase& p : e.phases) CHECK(p.bytes_of(ComponentId::kAutocastCache) == 0);
}

TEST_CASE("fp8: delayed scaling and unmodelled combinations are input errors naming --fp8", "[fp8]") {
  // "delayed" parses (Transformer Engine's DelayedScaling under Megatron, te_fp8_test.cpp); torchao refuses it.
  CHECK(parse_fp8("delayed") == Fp8Recipe::kDelayed);
  CHECK_THROWS_AS(parse_fp8("blockwise"), InputError);
  EstimateInputs in;
  in.model = llama_h128();
  in.setup = bf16_s256(Fp8Recipe::kRowwise);
  in.setup.compile = Compile::kBlocks;
  CHECK_THROWS_AS(estimate(in), InputError);
  const auto delayed = vramcalc_test::run_vramcalc("--model llama-3-8b --fp8 delayed");
  CHECK(delayed.code == 2);
  CHECK(delayed.err.find("--fp8") != std::string::npos);
  CHECK(delayed.err.find("torchao removed it") != std::string::npos);
  const auto lora = vramcalc_test::run_vramcalc("--model llama-3-8b --precision bf16 --fp8 tensorwise --lora-rank 16");
  CHECK(lora.code == 2);
  CHECK(lora.err.find("--fp8") != std::string::npos);
}

TEST_CASE("fp8: --explain lists the float8 casts with their formula and source", "[fp8]") {
  const auto r = vramcalc_test::run_vramcalc("--model llama-3-8b --seq 4096 --precision bf16 --fp8 rowwise --explain");
  CHECK(r.code == 0);
  CHECK(r.out.find("fp8_casts") != std::string::npos);
  CHECK(r.out.find("saves the high-precision input") != std::string::npos);
  CHECK(r.out.find("float8_linear.py") != std::string::npos);
}

}  // namespace vramcalc
