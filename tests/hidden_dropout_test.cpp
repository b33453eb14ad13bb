// Hidden dropout (Megatron's hidden_dropout, set by the megatron recipe): bool keep masks, bytes
// derived by hand from Megatron core/fusions/fused_bias_dropout.py and aten native_dropout.
#include <catch2/catch.hpp>

#include "fixtures.hpp"

#include <vramcalc/vramcalc.hpp>

using namespace vramcalc;

namespace {

using fixtures::bf16_setup;

const ModelConfig& llama8b() {
  static const ModelConfig m = resolve_model("llama-3-8b");
  return m;
}

}  // namespace

TEST_CASE("hidden dropout saves a bool mask of T·h per residual branch and after the embedding", "[activations][megatron]") {
  TrainingSetup s = bf16_setup(4096);
  const Activations none = activations(llama8b(), s);
  s.hidden_dropout = 0.1;
  const Activations drop = activations(llama8b(), s);
  constexpr std::uint64_t Th = 4096ULL * 4096;
  CHECK(drop.per_layer - none.per_layer == 2 * Th);
  CHECK(drop.outside - none.outside == Th);
  CHECK(drop.stack.bytes - none.stack.bytes == 32 * 2 * Th + Th);
  // Full checkpointing keeps the layer inputs only: the masks are made again in the recompute.
  s.grad_ckpt = GradCkpt::kFull;
  const Activations ckpt = activations(llama8b(), s);
  s.hidden_dropout = 0.0;
  CHECK(ckpt.kept_per_layer == activations(llama8b(), s).kept_per_layer);
}

TEST_CASE("hidden dropout below 0 or at 1 and above is an input error naming it", "[megatron][hardening]") {
  EstimateInputs in;
  in.model = llama8b();
  in.setup.hidden_dropout = 1.0;
  CHECK_THROWS_MATCHES(estimate(in), InputError, Catch::Matchers::Predicate<InputError>([](const InputError& e) {
                         return e.field() == field::kHiddenDropout;
                       }));
  CHECK_THROWS_AS(apply_change(in, {field::kHiddenDropout, "-0.1"}), InputError);
}

TEST_CASE("the megatron recipe sets Megatron's hidden dropout unless the user set it", "[recipe][megatron]") {
  EstimateInputs in;
  in.model = llama8b();
  apply_recipe(in, find_recipe("megatron"), {});
  CHECK(in.setup.hidden_dropout == 0.1);
  EstimateInputs mine;
  mine.model = llama8b();
  mine.setup.hidden_dropout = 0.0;
  apply_recipe(mine, find_recipe("megatron"), {field::kHiddenDropout});
  CHECK(mine.setup.hidden_dropout == 0.0);
}

TEST_CASE("under pipeline parallelism only the first stage keeps the embedding's dropout mask", "[model_parallel][megatron]") {
  EstimateInputs in;
  in.model = llama8b();
  in.with_advice = false;
  in.setup = bf16_setup(8192);
  in.layout.pp = 2;
  in.layout.gpus = 2;
  in.layout.microbatches = 4;  // 1F1B: the first stage then holds pp = 2 micro-batches in flight
  const Estimate without = estimate(in);
  in.setup.hidden_dropout = 0.1;
  const Estimate with = estimate(in);
  REQUIRE(with.roles.size() == 2);
  // A role's components are those at its own peak: both peaks must be in backward for the masks to show.
  REQUIRE(with.roles[0].peak_phase == "backward");
  REQUIRE(with.roles[1].peak_phase == "backward");
  constexpr std::uint64_t Th = 8192ULL * 4096;
  const auto activations_of = [](const RoleResult& r) {
    for (const auto& [id, bytes] : r.components) {
      if (id == ComponentId::kActivations) return bytes;
    }
    return Bytes{0};
  };
  // The first stage holds 2 micro-batches in flight of 16 layers (2 masks each) + the embedding's mask;
  // its peak is the last layer's MLP backward, where that layer's MLP mask has already been consumed
  // (bias-dropout-add's backward runs first). The last stage peaks at the loss backward: all 16 layers'.
  CHECK(with.roles[0].peak_allocated - without.roles[0].peak_allocated == 2 * (16 * 2 * Th + Th) - Th);
  CHECK(activations_of(with.roles[1]) - activations_of(without.roles[1]) == 16 * 2 * Th);
}

// The loss window's hole (logits_loss.cpp loss_window_hole): the bf16 logits (2·N) and their fp32
// copy (4·N) are freed before backward; the nll gradient (4·N) takes that block by best fit, the
// log-softmax gradient (4·N) does not fit the 2·N left, so 2·N stay reserved and free.
TEST_CASE("the loss window leaves the freed logits' 2·T·V reserved when the loss backward is the peak", "[loss][reserve]") {
  EstimateInputs in;
  in.model = llama8b();
  in.with_advice = false;
  in.setup = bf16_setup(8192);
  const Estimate est = estimate(in);
  constexpr std::uint64_t N = 8192ULL * 128256;
  const Moment* at_loss = nullptr;
  for (const Moment& m : est.timeline) {
    if (m.instant == Instant::kBackwardLoss) at_loss = &m;
  }
  REQUIRE(at_loss != nullptr);
  const Component* hole = est.find(ComponentId::kLossWindowHole);
  REQUIRE(hole != nullptr);
  // Only what the pool's high-water mark at the loss backward adds beyond the allocated peak.
  const std::uint64_t high_water = at_loss->total() + 2 * N;
  CHECK(hole->size_bytes == (high_water > est.peak_allocated ? high_water - est.peak_allocated : 0));
  CHECK(hole->size_bytes > 0);
  // fp32 logits need no copy: the nll gradient fits the freed logits exactly, no hole.
  in.setup.precision = Precision::kFp32;
  CHECK(estimate(in).find(ComponentId::kLossWindowHole) == nullptr);
  // Megatron's in-place loss and the chunked loss free no such block.
  in.setup.precision = Precision::kBf16;
  in.setup.loss = LossImpl::kVocabParallel;
  CHECK(estimate(in).find(ComponentId::kLossWindowHole) == nullptr);
  in.setup.loss = LossImpl::kChunked;
  CHECK(estimate(in).find(ComponentId::kLossWindowHole) == nullptr);
}
