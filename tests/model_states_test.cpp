// Model states per regime and optimizer, against hand-derived byte counts.
#include <catch2/catch.hpp>

#include <vramcalc/model_io.hpp>
#include <vramcalc/model_states.hpp>

using namespace vramcalc;

namespace {

constexpr std::uint64_t kLlama8bParams = 8'030'261'248;

ModelStates states_for(const std::string& model, Precision precision, Optimizer optimizer) {
  const ModelConfig m = resolve_model(model);
  TrainingSetup s;
  s.precision = precision;
  s.optimizer = optimizer;
  return model_states(count_parameters(m), s);
}

// h=64, L=2, a=4, k=2, I=128, V=100, untied: small enough to derive every tensor by hand.
ModelConfig tiny() {
  return parse_model_config(R"({"model_type": "llama", "hidden_size": 64, "num_hidden_layers": 2,
    "num_attention_heads": 4, "num_key_value_heads": 2, "intermediate_size": 128, "vocab_size": 100})", "tiny");
}

}  // namespace

TEST_CASE("the memo's mixed-precision structure: 2 + 2 + 12 bytes per parameter", "[states]") {
  const ModelStates s = states_for("llama-8b", Precision::kMixed, Optimizer::kAdamW);
  CHECK(s.weights.bytes == 16'060'522'496);    // 16.06 GB
  CHECK(s.gradients.bytes == 16'060'522'496);  // 16.06 GB
  CHECK(s.master_weights.bytes + s.optimizer_states.bytes == 96'363'134'976);  // 96.36 GB
  CHECK(s.grad_fp32_copy.bytes == 4 * kLlama8bParams);
  CHECK(s.optimizer_step_temp.bytes == 4 * kLlama8bParams);  // foreach on the fp32 master
  CHECK(s.autocast_cache.bytes == 0);
}

TEST_CASE("each precision regime stores its documented bytes per parameter", "[states]") {
  SECTION("fp32: 4 + 4 + 8") {
    const ModelStates s = states_for("llama-8b", Precision::kFp32, Optimizer::kAdamW);
    CHECK(s.weights.bytes == 4 * kLlama8bParams);
    CHECK(s.gradients.bytes == 4 * kLlama8bParams);
    CHECK(s.optimizer_states.bytes == 8 * kLlama8bParams);
    CHECK(s.master_weights.bytes == 0);
  }
  SECTION("amp: fp32 states plus bf16 casts of every Linear weight, lm_head included") {
    const ModelStates s = states_for("llama-8b", Precision::kAmp, Optimizer::kAdamW);
    CHECK(s.weights.bytes == 4 * kLlama8bParams);
    CHECK(s.autocast_cache.bytes == 2 * (32ULL * (218'112'000 - 8192) + 525'336'576));
  }
  SECTION("pure bf16: 2 + 2 + 4, and the foreach temporary is bf16") {
    const ModelStates s = states_for("llama-8b", Precision::kBf16, Optimizer::kAdamW);
    CHECK(s.optimizer_states.bytes == 4 * kLlama8bParams);
    CHECK(s.optimizer_step_temp.bytes == 2 * kLlama8bParams);
    CHECK(s.grad_fp32_copy.bytes == 0);
  }
}

TEST_CASE("optimizer states follow each optimizer's state layout", "[states]") {
  SECTION("fused AdamW has the same states and no step temporary") {
    const ModelStates s = states_for("llama-8b", Precision::kBf16, Optimizer::kAdamWFused);
    CHECK(s.optimizer_states.bytes == 4 * kLlama8bParams);
    CHECK(s.optimizer_step_temp.bytes == 0);
  }
  SECTION("bitsandbytes 8-bit AdamW: 2.03125 B/param plus two 1 KiB quantile maps") {
    // Every Llama-3-8B tensor has >= 4096 elements and a multiple of 256: 2·(n + 4·n/256).
    const ModelStates s = states_for("llama-8b", Precision::kBf16, Optimizer::kAdamW8bit);
    CHECK(s.optimizer_states.bytes == 2 * kLlama8bParams + kLlama8bParams / 32 + 2048);
  }
  SECTION("8-bit keeps fp32 states for tensors under 4096 elements") {
    const ModelConfig m = tiny();
    TrainingSetup setup;
    setup.optimizer = Optimizer::kAdamW8bit;
    const ModelStates s = model_states(count_parameters(m), setup);
    // 8-bit: embed 6400, lm_head 6400, gate/up/down 8192 each (per layer), q/o 4096 each.
    // fp32 (8 B): k/v 2048 each, norms 64 each.
    const std::uint64_t eight_bit = 2 * (6400 + 4 * 25) * 2 + 2 * 2 * (3 * (8192 + 4 * 32) + 2 * (4096 + 4 * 16));
    const std::uint64_t fp32 = 8 * (2 * (2 * 2048 + 2 * 64) + 64);
    CHECK(s.optimizer_states.bytes == eight_bit + fp32 + 2048);
  }
  SECTION("Adafactor keeps fp32 row and column factors per matrix") {
    const ModelConfig m = tiny();
    TrainingSetup setup;
    setup.optimizer = Optimizer::kAdafactor;
    const ModelStates s = model_states(count_parameters(m), setup);
    // embed 4·(100+64) + lm_head 4·164 + 2 layers × (q 512 + k 384 + v 384 + o 512 + 3 × 768 + 2 norms × 256)
    // + final norm 256.
    CHECK(s.optimizer_states.bytes == 656 + 656 + 2 * 4608 + 256);
    // mixed (default) steps the fp32 master: `update` and the row×col outer product, fp32, of
    // the largest tensor (a 128×64 MLP matrix).
    CHECK(s.optimizer_step_temp.bytes == 2 * 4 * 8192);
    setup.precision = Precision::kBf16;  // bf16 params add grad.float() and p.float()
    CHECK(model_states(count_parameters(m), setup).optimizer_step_temp.bytes == 4 * 4 * 8192);
  }
  SECTION("SGD keeps nothing, momentum one buffer, Lion one state") {
    CHECK(states_for("llama-8b", Precision::kFp32, Optimizer::kSgd).optimizer_states.bytes == 0);
    CHECK(states_for("llama-8b", Precision::kFp32, Optimizer::kSgdMomentum).optimizer_states.bytes == 4 * kLlama8bParams);
    CHECK(states_for("llama-8b", Precision::kBf16, Optimizer::kLion).optimizer_states.bytes == 2 * kLlama8bParams);
  }
}
