// Transformer Engine under Megatron (--fp8 tensorwise | delayed with --megatron, TE's cuBLAS
// workspace): hand-derived bytes from TE's code (src/core/te_fp8.cpp, tools/measure/FINDINGS.md §40).
#include <catch2/catch.hpp>

#include <vramcalc/error.hpp>
#include <vramcalc/estimate.hpp>
#include <vramcalc/gpu.hpp>
#include <vramcalc/model_io.hpp>

#include "cli_run.hpp"

namespace vramcalc {
namespace {

// Megatron's GPT shape as the CI records use it: h 512, 8 heads, ffn 2048 GELU, LayerNorm, biases; 2 layers.
ModelConfig gpt_h512() {
  return parse_model_config(
      R"({"model_type":"starcoder2","hidden_size":512,"intermediate_size":2048,"num_hidden_layers":2,"num_attention_heads":8,)"
      R"("num_key_value_heads":8,"vocab_size":50304,"use_bias":true,"tie_word_embeddings":true,"hidden_act":"gelu",)"
      R"("max_position_embeddings":1024,"norm_epsilon":1e-05,"sliding_window":null})",
      "test");
}

EstimateInputs megatron(Fp8Recipe r, const char* gpu = "h100-80gb") {
  EstimateInputs in;
  in.model = gpt_h512();
  in.setup.seq_len = 1024;
  in.setup.precision = Precision::kMixed;
  in.setup.attention = Attention::kSdpa;
  in.setup.fp8 = r;
  in.layout.megatron = MegatronOptimizer::kDdp;
  in.gpu = find_gpu(gpu);
  return in;
}

Bytes component(const Estimate& e, std::string_view name) {
  for (const Component& c : e.components) {
    if (c.term.name == name) return c.max_bytes;
  }
  return 0;
}

// The bytes at the peak phase (the load phase, before the first step, is left out).
Bytes at_peak(const Estimate& e, std::string_view name) {
  for (const Component& c : e.components) {
    if (c.term.name == name) return c.term.bytes;
  }
  return 0;
}

}  // namespace

TEST_CASE("te: Transformer Engine's cuBLAS workspace beside torch's under Megatron", "[te_fp8]") {
  EstimateInputs in = megatron(Fp8Recipe::kNone);
  const Bytes with_te = component(estimate(in), "cublas_workspace");
  in.layout.megatron = MegatronOptimizer::kNone;
  const Bytes torch_only = component(estimate(in), "cublas_workspace");
  // TE gemm.py get_cublas_workspace_size_bytes on sm90: 32 MiB + 1024 B, rounded by the caching
  // allocator to 512 B (already a multiple): 33,555,456 B; one per device.
  CHECK(with_te - torch_only == 33555456);
  EstimateInputs a100 = megatron(Fp8Recipe::kNone, "a100-80gb");
  const Bytes a100_te = component(estimate(a100), "cublas_workspace");
  a100.layout.megatron = MegatronOptimizer::kNone;
  CHECK(a100_te - component(estimate(a100), "cublas_workspace") == 4194304);  // 4 MiB below sm90
}

TEST_CASE("te: --tp-comm-overlap adds the userbuffers GEMMs' workspace, 3 × TE's", "[te_fp8]") {
  EstimateInputs in = megatron(Fp8Recipe::kNone);
  in.layout.gpus = 2;
  in.layout.gpus_per_node = 2;
  in.layout.tp = 2;
  in.layout.sp = true;
  const Bytes plain = component(estimate(in), "cublas_workspace");
  in.layout.tp_comm_overlap = true;
  CHECK(component(estimate(in), "cublas_workspace") - plain == 3 * 33555456);  // gemm.py get_cublas_workspace(ub=True)
  in.layout.sp = false;  // Megatron overlaps only with sequence parallelism
  try {
    (void)estimate(in);
    FAIL("--tp-comm-overlap without sequence parallelism was accepted");
  } catch (const InputError& e) {
    CHECK(e.field() == field::kTpCommOverlap);
  }
}

TEST_CASE("te fp8: fp8 weights and transposes cached across micro-batches, to the byte", "[te_fp8]") {
  // Per layer q, k, v, o: 512 × 512 = 262,144; c_fc, c_proj: 2048 × 512 = 1,048,576 (biases are not
  // quantized). Each: rowwise + transpose (2·n, multiples of 512) + one 512 B scale_inv.
  const Bytes per_layer = 4 * (2 * 262144 + 512) + 2 * (2 * 1048576 + 512);
  CHECK(per_layer == 6294528);
  const Estimate e = estimate(megatron(Fp8Recipe::kTensorwise));
  CHECK(component(e, "te_fp8_weight_cache") == 2 * per_layer);
  CHECK(component(e, "fp8_scale_state") == 0);  // current scaling keeps no amax or scale tensor
}

TEST_CASE("te fp8: --fp8-param-gather stores the Linear weights in fp8 and caches only their transposes", "[te_fp8]") {
  EstimateInputs in = megatron(Fp8Recipe::kTensorwise);
  in.layout.megatron = MegatronOptimizer::kDistributed;
  const Estimate bf16_params = estimate(in);
  in.setup.fp8_param_gather = true;
  const Estimate fp8_params = estimate(in);
  const Bytes n = 2 * (4 * 262144 + 2 * 1048576);  // the Linear weight elements of 2 layers
  CHECK(at_peak(bf16_params, "weights") - at_peak(fp8_params, "weights") == n);  // 2 B → 1 B
  CHECK(component(fp8_params, "te_fp8_weight_cache") == 2 * (4 * (262144 + 512) + 2 * (1048576 + 512)));
  in.layout.megatron = MegatronOptimizer::kDdp;  // Megatron allows it only with the distributed optimizer
  try {
    (void)estimate(in);
    FAIL("--fp8-param-gather without the distributed optimizer was accepted");
  } catch (const InputError& e) {
    CHECK(e.field() == field::kFp8ParamGather);
  }
}

TEST_CASE("te fp8: delayed scaling's amax history and scales, per module, 512 B-rounded", "[te_fp8]") {
  // Linear (1 GEMM): scale 3 and 2 fp32, amax_history len × 3 and len × 2 fp32; DotProductAttention 3 GEMMs: 9 and 6.
  EstimateInputs in = megatron(Fp8Recipe::kDelayed);
  CHECK(component(estimate(in), "fp8_scale_state") == 2 * (4 * 2048 + 2048));  // len 1: every buffer one 512 B block
  in.setup.fp8_amax_history = 1024;
  const Bytes linear = 512 + 4 * 1024 * 3 + 512 + 4 * 1024 * 2;  // 21,504
  const Bytes dpa = 512 + 4 * 1024 * 9 + 512 + 4 * 1024 * 6;     // 62,464
  CHECK(component(estimate(in), "fp8_scale_state") == 2 * (4 * linear + dpa));
}

TEST_CASE("te fp8: the Linears' saved inputs are fp8, the attention output gains an fp8 copy", "[te_fp8]") {
  const Estimate plain = estimate(megatron(Fp8Recipe::kNone));
  const Estimate fp8 = estimate(megatron(Fp8Recipe::kTensorwise));
  const Bytes T = 1024, h = 512, I = 2048;
  // Two norm outputs 2·T·h → T·h + 512, the GELU output (linear_fc2's input) 2·T·I → T·I + 512,
  // and linear_proj's fp8 input T·h + 512 beside the kernel's bf16 output.
  const Bytes saved = 2 * (2 * T * h - (T * h + 512)) + (2 * T * I - (T * I + 512)) - (T * h + 512);
  CHECK(saved == 2619392);
  CHECK(plain.activations.per_layer - fp8.activations.per_layer == saved);
}

TEST_CASE("te fp8: inconsistent combinations are refused", "[te_fp8]") {
  EstimateInputs torchao = megatron(Fp8Recipe::kDelayed);
  torchao.layout.megatron = MegatronOptimizer::kNone;
  CHECK_THROWS_AS(estimate(torchao), InputError);  // delayed scaling is TE's only
  CHECK_THROWS_AS(estimate(megatron(Fp8Recipe::kRowwise)), InputError);  // TE has no rowwise recipe
  CHECK_THROWS_AS(estimate(megatron(Fp8Recipe::kTensorwise, "a100-80gb")), InputError);  // no fp8 tensor cores
  EstimateInputs history = megatron(Fp8Recipe::kTensorwise);
  history.setup.fp8_amax_history = 16;
  try {
    (void)estimate(history);
    FAIL("an amax history without delayed scaling was accepted");
  } catch (const InputError& e) {
    CHECK(e.field() == field::kFp8AmaxHistory);
  }
}

TEST_CASE("te fp8: the CLI explains TE's terms and names the flags it refuses", "[te_fp8]") {
  const auto r = vramcalc_test::run_vramcalc(
      "--model llama-3.2-1b --recipe megatron --gpu h100-80gb --gpus 8 --tp 2 --sp --fp8 delayed --fp8-amax-history-len 16 --explain");
  CHECK(r.code == 0);
  for (const char* s : {"te_fp8_weight_cache", "fp8_scale_state", "te_fp8_casts", "attn.out_fp8", "DelayedScalingRecipeState",
                        "get_cublas_workspace_size_bytes"}) {
    CHECK(r.out.find(s) != std::string::npos);
  }
  const auto history = vramcalc_test::run_vramcalc("--model llama-3-8b --fp8 tensorwise --fp8-amax-history-len 16 --recipe megatron");
  CHECK(history.code == 2);
  CHECK(history.err.find("--fp8-amax-history-len") != std::string::npos);
  const auto overlap = vramcalc_test::run_vramcalc("--model llama-3-8b --recipe megatron --gpus 2 --tp 2 --tp-comm-overlap");
  CHECK(overlap.code == 2);
  CHECK(overlap.err.find("--tp-comm-overlap") != std::string::npos);
}

}  // namespace vramcalc
