// Fine-tuning optimizers: bitsandbytes paged AdamW (32/8-bit), torchao AdamW 8/4-bit and
// optimizer-in-backward, against byte counts derived by hand from the libraries' allocations.
#include <catch2/catch.hpp>

#include <vramcalc/error.hpp>
#include <vramcalc/estimate.hpp>
#include <vramcalc/model_io.hpp>
#include <vramcalc/model_states.hpp>

using namespace vramcalc;

namespace {

constexpr std::uint64_t kLlama2Params = 6'738'415'616;  // Llama-2-7B: 291 tensors, 65 of them 4096-element norms
constexpr std::uint64_t kNormElems = 65 * 4096;

ModelStates states_for(const ModelConfig& m, Precision precision, Optimizer optimizer) {
  TrainingSetup s;
  s.precision = precision;
  s.optimizer = optimizer;
  return model_states(count_parameters(m), s);
}

// h=64, L=2, a=4, k=2, I=128, untied. Per layer: q, o 4096; k, v 2048 (< 4096: unquantized);
// gate, up, down 8192; two norms of 64. Embedding and lm_head V·64.
ModelConfig tiny(int vocab) {
  return parse_model_config(R"({"model_type": "llama", "hidden_size": 64, "num_hidden_layers": 2,
    "num_attention_heads": 4, "num_key_value_heads": 2, "intermediate_size": 128, "vocab_size": )" +
                                std::to_string(vocab) + "}",
                            "tiny");
}

EstimateInputs inputs(const std::string& model, Precision precision, Optimizer optimizer) {
  EstimateInputs in;
  in.model = resolve_model(model);
  in.setup.precision = precision;
  in.setup.optimizer = optimizer;
  in.setup.seq_len = 1024;
  in.with_advice = false;
  return in;
}

}  // namespace

TEST_CASE("torchao AdamW4bit on Llama-2-7B: n/2 packed codes + fp32 scale per 128 + a 16-entry qmap per state", "[finetune]") {
  const ModelStates s = states_for(resolve_model("llama-2-7b"), Precision::kBf16, Optimizer::kAoAdamW4bit);
  // every tensor has n ≥ 4096 and 128 | n: 2 states × (n/2 + 4·n/128) + 291 tensors × 2 × 64 B
  CHECK(s.optimizer_states.bytes == kLlama2Params + kLlama2Params / 16 + 291 * 128);
  CHECK(s.optimizer_states.bytes == 7'159'603'840);
  CHECK(s.paged_states.bytes == 0);
}

TEST_CASE("torchao AdamW8bit on Llama-2-7B: uint8 codes + fp32 scale per 256 + a 256-entry qmap per state", "[finetune]") {
  const ModelStates s = states_for(resolve_model("llama-2-7b"), Precision::kBf16, Optimizer::kAoAdamW8bit);
  CHECK(s.optimizer_states.bytes == 2 * kLlama2Params + 8 * kLlama2Params / 256 + 291 * 2048);
}

TEST_CASE("bitsandbytes paged AdamW keeps tensors with n >= 1e5 in unified memory", "[finetune]") {
  const ModelConfig m = resolve_model("llama-2-7b");
  SECTION("32-bit: fp32 states for bf16 parameters; only the 4096-element norms are allocated") {
    const ModelStates s = states_for(m, Precision::kBf16, Optimizer::kPagedAdamW32bit);
    CHECK(s.optimizer_states.bytes == 8 * kNormElems);
    CHECK(s.paged_states.bytes == 8 * (kLlama2Params - kNormElems));
  }
  SECTION("8-bit: uint8 codes of the large tensors paged; absmax, the norms' codes and the maps allocated") {
    const ModelStates s = states_for(m, Precision::kBf16, Optimizer::kPagedAdamW8bit);
    CHECK(s.paged_states.bytes == 2 * (kLlama2Params - kNormElems));
    CHECK(s.optimizer_states.bytes == 2048 + 8 * kLlama2Params / 256 + 2 * kNormElems);
  }
  SECTION("the paged part is in the device total (nvidia-smi), not in allocated or reserved") {
    const Estimate e = estimate(inputs("llama-2-7b", Precision::kBf16, Optimizer::kPagedAdamW8bit));
    const Component* paged = e.find(ComponentId::kPagedOptimizerStates);
    REQUIRE(paged != nullptr);
    CHECK(paged->kind == TermKind::kNonPytorch);
    CHECK(paged->size_bytes == 2 * (kLlama2Params - kNormElems));
    const Component* context = e.find(ComponentId::kCudaContext);
    REQUIRE(context != nullptr);
    CHECK(e.device_total == e.peak_reserved + context->size_bytes + paged->size_bytes);
    for (const auto& ph : e.phases) CHECK(ph.bytes_of(ComponentId::kPagedOptimizerStates) == 0);
  }
}

TEST_CASE("which tensors keep unquantized states: bnb n < 4096 in fp32; torchao also n % block, in the dtype stepped", "[finetune]") {
  // vocab 101: embedding and lm_head have 6464 elements, ≥ 4096 but 6464 % 128 = 64.
  const ModelConfig m = tiny(101);
  const Bytes layer_bnb = 2 * 2 * (4096 + 4 * 16) + 2 * 2 * 2048 * 4 + 3 * 2 * (8192 + 4 * 32) + 2 * 2 * 64 * 4;
  const Bytes head_bnb = 2 * (6464 + 4 * 26);  // ⌈6464/256⌉ = 26 blocks
  CHECK(states_for(m, Precision::kBf16, Optimizer::kAdamW8bit).optimizer_states.bytes ==
        2048 + 2 * layer_bnb + 2 * head_bnb + 2 * 64 * 4);
  // torchao 4-bit, bf16: q, o, gate, up, down quantized; k, v, norms, embedding, lm_head: zeros_like(p) in bf16
  const Bytes layer_ao = 2 * 2 * (2048 + 4 * 32 + 64) + 2 * 2 * 2048 * 2 + 3 * 2 * (4096 + 4 * 64 + 64) + 2 * 2 * 64 * 2;
  CHECK(states_for(m, Precision::kBf16, Optimizer::kAoAdamW4bit).optimizer_states.bytes ==
        2 * layer_ao + 2 * (2 * 6464 * 2) + 2 * 64 * 2);
  // the same model in fp32: the unquantized states are fp32
  const Bytes layer_ao32 = 2 * 2 * (2048 + 4 * 32 + 64) + 2 * 2 * 2048 * 4 + 3 * 2 * (4096 + 4 * 64 + 64) + 2 * 2 * 64 * 4;
  CHECK(states_for(m, Precision::kFp32, Optimizer::kAoAdamW4bit).optimizer_states.bytes ==
        2 * layer_ao32 + 2 * (2 * 6464 * 4) + 2 * 64 * 4);
}

TEST_CASE("optimizer-in-backward: no step() phase, at most one gradient alive", "[finetune]") {
  EstimateInputs in = inputs("llama-2-7b", Precision::kBf16, Optimizer::kAdamWFused);
  const Estimate base = estimate(in);
  in.setup.optimizer_in_backward = true;
  const Estimate e = estimate(in);
  CHECK(e.phase(PhaseId::kOptimizerStep) == nullptr);
  const Bytes head_grad = 2ULL * 32000 * 4096;  // lm_head, the largest tensor, stepped at its backward
  for (const auto& ph : e.phases) CHECK(ph.bytes_of(ComponentId::kGradients) <= head_grad);
  const Phase* bwd = e.phase(PhaseId::kBackward);
  REQUIRE(bwd != nullptr);
  CHECK(e.peak_allocated < base.peak_allocated);
  // the states exist through the whole step, as without it
  CHECK(bwd->bytes_of(ComponentId::kOptimizerStates) == base.find(ComponentId::kOptimizerStates)->size_bytes);
}

TEST_CASE("optimizer options that contradict the rest are input errors", "[finetune][errors]") {
  EstimateInputs in = inputs("llama-2-7b", Precision::kBf16, Optimizer::kAdamW);
  in.setup.optimizer_in_backward = true;
  SECTION("gradient accumulation") {
    in.setup.grad_accum = 2;
    CHECK_THROWS_AS(estimate(in), InputError);
  }
  SECTION("a DeepSpeed fp32 master copy") {
    in.setup.precision = Precision::kMixed;
    CHECK_THROWS_AS(estimate(in), InputError);
  }
  SECTION("ZeRO") {
    in.layout.zero.stage = 2;
    in.layout.gpus = 2;
    CHECK_THROWS_AS(estimate(in), InputError);
  }
  SECTION("torchao and paged bnb states under ZeRO") {
    in.setup.optimizer_in_backward = false;
    in.setup.optimizer = Optimizer::kAoAdamW4bit;
    in.layout.zero.stage = 1;
    in.layout.gpus = 2;
    CHECK_THROWS_AS(estimate(in), InputError);
  }
}

TEST_CASE("inference mode: weights + KV cache 2·L·k·d·seq·batch·b + prefill workspace; no gradients or states", "[infer]") {
  EstimateInputs in = inputs("llama-8b", Precision::kBf16, Optimizer::kAdamW);
  in.setup.infer = true;
  in.setup.seq_len = 8192;
  in.setup.micro_batch = 4;
  const Estimate e = estimate(in);
  const Component* kv = e.find(ComponentId::kKvCache);
  REQUIRE(kv != nullptr);
  CHECK(kv->size_bytes == 2ULL * 32 * 8 * 128 * 8192 * 4 * 2);  // 4 GiB
  CHECK(e.find(ComponentId::kGradients) == nullptr);
  CHECK(e.find(ComponentId::kOptimizerStates) == nullptr);
  REQUIRE(e.phase(PhaseId::kPrefill) != nullptr);
  REQUIRE(e.phase(PhaseId::kDecode) != nullptr);
  CHECK(e.phase(PhaseId::kDecode)->bytes_of(ComponentId::kKvCacheGrowth) == 8ULL * 128 * 8192 * 4 * 2);  // one layer's K
  SECTION("--kv-dtype fp8 halves the cache") {
    in.setup.kv_bytes = 1;
    CHECK(estimate(in).find(ComponentId::kKvCache)->size_bytes == kv->size_bytes / 2);
  }
  SECTION("a GPU verdict") {
    in.memory_budget = 16ULL << 30;
    CHECK_FALSE(estimate(in).gpu_fits());
  }
  SECTION("training options are errors") {
    in.setup.grad_ckpt = GradCkpt::kFull;
    CHECK_THROWS_AS(estimate(in), InputError);
  }
  SECTION("--kv-dtype without --infer is an error") {
    in.setup.infer = false;
    in.setup.kv_bytes = 1;
    CHECK_THROWS_AS(estimate(in), InputError);
  }
}
