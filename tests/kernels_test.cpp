// Kernel sets (Liger) and frequency checkpointing (--ac-every): hand-derived bytes.
#include <catch2/catch.hpp>

#include "fixtures.hpp"

#include <vramcalc/activations.hpp>
#include <vramcalc/error.hpp>
#include <vramcalc/estimate.hpp>
#include <vramcalc/model_io.hpp>

#include "cli_run.hpp"

namespace vramcalc {
namespace {

using fixtures::bf16_setup;

}  // namespace

TEST_CASE("Liger's kernels save 139,400 B per token per Llama-3-8B layer, eager 200,840", "[kernels][liger]") {
  const ModelConfig m = resolve_model("llama-3-8b");
  const std::uint64_t T = 8192, h = 4096, kv = 1024, I = 14336, a = 32;
  TrainingSetup s = bf16_setup(T);
  // eager: norms 4Th fp32 copy + 2Th normalised + 2Th output (×2), q/out 2Th each, k/v 2T·kv,
  // MLP 4 × 2TI, rstd 4T ×2, logsumexp 4aT.
  CHECK(activations(m, s).per_layer == T * (20 * h + 4 * kv + 8 * I + 8 + 4 * a));
  s.kernels = kernel_set_of(KernelPreset::kLiger);
  // Liger: each norm saves its input (2Th) + rstd (4T) + output (2Th); SiLU·mul saves gate and
  // up and the product is down_proj's input: 3 × 2TI.
  const Activations liger = activations(m, s);
  CHECK(liger.per_layer == T * (12 * h + 4 * kv + 6 * I + 8 + 4 * a));
  CHECK(liger.per_layer / T == 139400);
  // The MLP backward holds only dc: da, db are written into a's and b's storage.
  CHECK(liger.mlp_backward_transient == 2 * T * I);
  s.kernels = {};
  s.kernels.fused_rope = true;  // same saved set as HF (cos/sin only)
  CHECK(activations(m, s).per_layer == T * (20 * h + 4 * kv + 8 * I + 8 + 4 * a));
}

TEST_CASE("A GLU kernel on a plain MLP is an input error", "[kernels]") {
  EstimateInputs in;
  in.model = resolve_model("pythia-1.4b");
  in.setup.kernels.fused_swiglu = true;
  try {
    (void)estimate(in);
    FAIL("expected an InputError");
  } catch (const InputError& e) {
    CHECK(std::string(e.field()) == field::kFusedSwiglu);
  }
}

TEST_CASE("The liger kernel set turns on the fused loss unless --loss is given", "[kernels][cli]") {
  const auto liger = vramcalc_test::run_vramcalc("--model llama-3-8b --kernels liger --format json");
  CHECK(liger.code == 0);
  CHECK(liger.out.find("\"loss\": \"fused\"") != std::string::npos);
  const auto full = vramcalc_test::run_vramcalc("--model llama-3-8b --kernels liger --loss full --format json");
  CHECK(full.out.find("\"loss\": \"full\"") != std::string::npos);
  CHECK(vramcalc_test::run_vramcalc("--model llama-3-8b --kernels triton").code == 2);
}

TEST_CASE("Checkpointing every K-th layer keeps floor(L/K) layers", "[kernels][ckpt]") {
  const ModelConfig m = resolve_model("llama-3-8b");
  TrainingSetup s = bf16_setup(8192);
  const Activations none = activations(m, s);
  s.grad_ckpt = GradCkpt::kFull;
  const Activations full = activations(m, s);
  s.ac_every = 3;  // layers 3, 6, ..., 30: 10 checkpointed, 22 keep everything; the top one (32) is not checkpointed
  const Activations every3 = activations(m, s);
  const std::uint64_t input = 2ULL * 8192 * 4096;
  CHECK(every3.stack.bytes == 10 * input + 22 * none.per_layer + none.outside);
  CHECK(every3.recompute == 0);
  s.ac_every = 2;  // 16 checkpointed, including the top layer: it recomputes beside every other layer's stack
  const Activations every2 = activations(m, s);
  CHECK(every2.stack.bytes == 16 * input + 16 * none.per_layer + none.outside);
  CHECK(every2.kept_per_layer == input);
  CHECK(every2.recompute == full.recompute);
  EstimateInputs in;
  in.model = m;
  in.setup = s;
  in.setup.grad_ckpt = GradCkpt::kNone;
  CHECK_THROWS_AS(estimate(in), InputError);
  in.setup.grad_ckpt = GradCkpt::kFull;
  in.setup.ac_every = 33;
  CHECK_THROWS_AS(estimate(in), InputError);
}

}  // namespace vramcalc

namespace vramcalc {

TEST_CASE("flash-attn 2 and 3 save q, k, v, out and the fp32 lse; their backward workspaces differ under GQA", "[kernels][attention]") {
  const ModelConfig m = resolve_model("llama-3-8b");  // a 32, k 8, d 128
  const std::uint64_t T = 8192, qd = 4096, kvd = 1024, a = 32;
  TrainingSetup s = bf16_setup(T);
  const Activations sdpa = activations(m, s);
  s.attention = Attention::kFlash2;
  const Activations fa2 = activations(m, s);
  CHECK(fa2.per_layer == sdpa.per_layer + 16);  // + int64[2] rng_state; lse (b, a, s) as SDPA's flash
  // dq, dout, dk, dv; dk, dv expanded to 32 heads in bf16; dq_accum fp32 (b, s₁₂₈, a, 128); softmax_d fp32 (b, a, s₁₂₈)
  const std::uint64_t grads = 2 * 2 * T * qd + 2 * 2 * T * kvd;
  CHECK(fa2.attn_backward_transient == grads + 2 * 2 * T * qd + 4 * T * a * 128 + 4 * a * T);
  s.attention = Attention::kFlash3;
  const Activations fa3 = activations(m, s);
  CHECK(fa3.per_layer == sdpa.per_layer);  // no rng state
  // fp32 dk_accum, dv_accum at the 8 KV heads; softmax_d and lse_log2 fp32
  CHECK(fa3.attn_backward_transient == grads + 2 * 4 * T * kvd + 4 * a * T * 128 + 8 * a * T);
  CHECK(fa3.attn_backward_transient < fa2.attn_backward_transient);
  s.explicit_mask = true;  // padding: no materialised mask, but the scattered varlen output
  const Activations padded = activations(m, s);
  CHECK(padded.masked_layers == 0);
  CHECK(padded.per_layer == fa3.per_layer + 2 * T * qd);
}

}  // namespace vramcalc
