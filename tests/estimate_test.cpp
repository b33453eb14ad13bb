// The composed estimate: phases, peak, totals and the properties that must always hold.
#include <catch2/catch.hpp>

#include <vramcalc/vramcalc.hpp>

using namespace vramcalc;

namespace {

EstimateInputs inputs_for(const std::string& model, std::uint64_t seq, std::uint64_t batch) {
  EstimateInputs in;
  in.model = resolve_model(model);
  in.setup.seq_len = seq;
  in.setup.micro_batch = batch;
  return in;
}

const Phase& phase_named(const Estimate& est, const std::string& name) {
  const Phase* p = est.phase(name);
  REQUIRE(p != nullptr);
  return *p;
}

}  // namespace

TEST_CASE("the peak is the largest phase and every total is the sum of its parts", "[estimate][property]") {
  for (auto p : {Precision::kFp32, Precision::kAmp, Precision::kMixed, Precision::kBf16}) {
    for (auto opt : {Optimizer::kAdamW, Optimizer::kAdamWFused, Optimizer::kAdamW8bit, Optimizer::kSgd, Optimizer::kAdafactor}) {
      for (auto ck : {GradCkpt::kNone, GradCkpt::kFull}) {
        EstimateInputs in = inputs_for("llama-3.2-1b", 4096, 2);
        in.setup.precision = p;
        in.setup.optimizer = opt;
        in.setup.grad_ckpt = ck;
        const Estimate est = estimate(in);
        for (const auto& ph : est.phases) {
          CHECK(est.peak_allocated >= ph.allocated);
          Bytes sum = 0;
          for (const auto& e : ph.entries) sum += e.bytes;
          CHECK(sum == ph.allocated);
        }
        Bytes at_peak = 0;
        Bytes all = 0;
        for (const auto& c : est.components) {
          if (c.kind == TermKind::kAllocated) at_peak += c.term.bytes;
          all += c.term.bytes;
        }
        CHECK(at_peak == est.peak_allocated);
        CHECK(all == est.device_total);
        CHECK(est.peak_reserved >= est.peak_allocated);
      }
    }
  }
}

TEST_CASE("gradients live from backward to the step unless gradients accumulate", "[estimate]") {
  EstimateInputs in = inputs_for("llama-3-8b", 2048, 1);
  const Estimate one = estimate(in);
  CHECK(phase_named(one, "forward").bytes_of(ComponentId::kGradients) == 0);
  CHECK(phase_named(one, "optimizer_step").bytes_of(ComponentId::kGradients) == 2 * one.params.total);
  in.setup.grad_accum = 4;
  const Estimate four = estimate(in);
  CHECK(phase_named(four, "forward").bytes_of(ComponentId::kGradients) == 2 * four.params.total);
  CHECK(phase_named(four, "forward").allocated == phase_named(one, "forward").allocated + 2 * one.params.total);
}

TEST_CASE("memory never shrinks as batch or sequence grows", "[estimate][property]") {
  for (auto att : {Attention::kEager, Attention::kSdpa}) {
    for (auto ck : {GradCkpt::kNone, GradCkpt::kFull, GradCkpt::kSelective}) {
      for (auto loss : {LossImpl::kFull, LossImpl::kChunked, LossImpl::kFused}) {
        Bytes previous = 0;
        for (std::uint64_t seq : {256, 1024, 4096, 16384}) {
          EstimateInputs in = inputs_for("mistral-7b", seq, 1);
          in.setup.attention = att;
          in.setup.grad_ckpt = ck;
          in.setup.loss = loss;
          const Bytes peak = estimate(in).peak_allocated;
          CHECK(peak >= previous);
          previous = peak;
        }
        previous = 0;
        for (std::uint64_t batch : {1, 2, 8}) {
          EstimateInputs in = inputs_for("qwen2.5-7b", 2048, batch);
          in.setup.attention = att;
          in.setup.grad_ckpt = ck;
          in.setup.loss = loss;
          const Bytes peak = estimate(in).peak_allocated;
          CHECK(peak >= previous);
          previous = peak;
        }
      }
    }
  }
}

TEST_CASE("checkpointing and lighter losses never raise the peak", "[estimate][property]") {
  EstimateInputs in = inputs_for("llama-3-8b", 8192, 2);
  in.setup.precision = Precision::kBf16;
  const Bytes none = estimate(in).peak_allocated;
  in.setup.grad_ckpt = GradCkpt::kFull;
  const Bytes full = estimate(in).peak_allocated;
  CHECK(full < none);
  in.setup.loss = LossImpl::kChunked;
  const Bytes chunked = estimate(in).peak_allocated;
  CHECK(chunked <= full);
  in.setup.loss = LossImpl::kFused;
  CHECK(estimate(in).peak_allocated <= chunked);
}

TEST_CASE("the verdict compares device memory to the GPU's PyTorch-visible capacity", "[estimate]") {
  EstimateInputs in = inputs_for("llama-3.2-1b", 2048, 1);
  in.gpu = find_gpu("h100-80gb");
  const Estimate fits = estimate(in);
  CHECK(fits.fits());
  CHECK(*fits.capacity == in.gpu->capacity);
  in.memory_budget = 4 * kGiB;
  const Estimate tight = estimate(in);
  CHECK_FALSE(tight.fits());
  CHECK(tight.capacity_label.empty());  // a budget, not a catalog GPU
}

TEST_CASE("zero sizes and overflowing sizes are input errors", "[estimate][errors]") {
  EstimateInputs in = inputs_for("llama-3-8b", 2048, 1);
  in.setup.seq_len = 0;
  CHECK_THROWS_WITH(estimate(in), "training.seq_len: '0': must be a positive integer");
  in.setup.seq_len = 1ULL << 40;
  CHECK_THROWS_WITH(estimate(in), Catch::Contains("overflow 64 bits"));
}
