// Megatron's vocab-parallel cross-entropy (--loss vocab-parallel): bytes derived by hand from
// megatron/core/tensor_parallel/cross_entropy.py (@d98e8a64) _VocabParallelCrossEntropy.
#include <catch2/catch.hpp>

#include <vramcalc/vramcalc.hpp>

using namespace vramcalc;

namespace {

EstimateInputs gpt_moe_inputs() {
  EstimateInputs in;
  in.model = resolve_model("qwen3-0.6b");
  in.model.vocab_size = 50304;
  in.setup.seq_len = 1024;
  in.setup.micro_batch = 4;
  in.setup.precision = Precision::kMixed;
  in.setup.loss = LossImpl::kVocabParallel;
  in.with_advice = false;
  return in;
}

}  // namespace

TEST_CASE("vocab-parallel loss: one fp32 copy, softmax saved, gradient in place then cast", "[loss]") {
  const EstimateInputs in = gpt_moe_inputs();
  const LogitsLoss l = logits_loss(in.model, in.setup);
  const Bytes T = 4096, N = T * 50304;
  // bf16 logits (2N) + logits.float() (4N, max/exp/div_ in place) + target mask (1) and int64 ids (8) + fp32 row maxima (4).
  CHECK(l.forward.bytes == 6 * N + 13 * T);
  // ctx.save_for_backward(exp_logits, target_mask, masked_target_1d).
  CHECK(l.saved.bytes == 4 * N + 9 * T);
  // grad written into the softmax in place (4N) + the .float()'s backward cast (2N) + ids + fp32 softmax_update.
  CHECK(l.backward.bytes == 6 * N + 13 * T);
}

TEST_CASE("vocab-parallel loss on fp32 logits: .float() is a no-op", "[loss]") {
  EstimateInputs in = gpt_moe_inputs();
  in.setup.precision = Precision::kFp32;
  const LogitsLoss l = logits_loss(in.model, in.setup);
  const Bytes T = 4096, N = T * 50304;
  CHECK(l.forward.bytes == 4 * N + 13 * T);
  CHECK(l.backward.bytes == 4 * N + 13 * T);
}

TEST_CASE("vocab-parallel loss: the megatron recipe sets it, tensor parallelism takes it, a soft-cap is refused", "[loss]") {
  EstimateInputs in = gpt_moe_inputs();
  in.setup.loss = LossImpl::kFull;
  apply_recipe(in, find_recipe("megatron"), {});
  CHECK(in.setup.loss == LossImpl::kVocabParallel);
  in.layout.tp = 2;
  in.layout.gpus = 2;
  CHECK(estimate(in).peak_allocated > 0);
  EstimateInputs capped = gpt_moe_inputs();
  capped.model.final_logit_softcapping = 30.0;
  try {
    (void)estimate(capped);
    FAIL("a soft-capped model was accepted");
  } catch (const InputError& e) {
    CHECK(e.field() == field::kLoss);
  }
}
