// The planner: exact fit boundaries (n fits, n + 1 does not), each layout's fewest GPUs and
// the changes that make a run fit, each checked against estimate() itself.
#include <catch2/catch.hpp>

#include <vramcalc/vramcalc.hpp>

using namespace vramcalc;

namespace {

bool fits_with(EstimateInputs in, const char* field_id, std::uint64_t value) {
  apply_change(in, {field_id, std::to_string(value)});
  return fits(in);
}

// Checks a FitLimit against estimate() directly.
void check_boundary(const EstimateInputs& in, const char* field_id, const FitLimit& limit) {
  INFO(field_id << " = " << limit.value);
  if (limit.value == 0) {
    CHECK_FALSE(fits_with(in, field_id, 1));
    return;
  }
  CHECK(fits_with(in, field_id, limit.value));
  EstimateInputs at = in;
  apply_change(at, {field_id, std::to_string(limit.value)});
  at.with_advice = false;
  CHECK(estimate(at).device_total == limit.device_total);
  if (limit.capped) {
    CHECK(limit.value == limit.cap);
  } else {
    CHECK_FALSE(fits_with(in, field_id, limit.value + 1));
  }
}

EstimateInputs on_budget(const std::string& model, Bytes budget) {
  EstimateInputs in;
  in.model = resolve_model(model);
  in.memory_budget = budget;
  in.with_advice = false;
  return in;
}

}  // namespace

TEST_CASE("fit boundaries are exact on every built-in model", "[plan]") {
  // Budget per model: what batch 4 at 2048 tokens takes, plus one byte; so the largest batch
  // is at least 4 and the longest sequence at least 2048, and both are real searches.
  for (const BuiltinModel& m : builtin_models()) {
    INFO(m.name);
    if (m.config.encoder_decoder()) continue;  // estimates refused (t5_test.cpp)
    EstimateInputs in = on_budget(m.name, 0);
    in.setup.seq_len = 2048;
    in.setup.micro_batch = 4;
    in.memory_budget = estimate(in).device_total + 1;
    const FitLimit batch = largest_fitting(in, field::kMicroBatch, 1ULL << 16);
    const FitLimit seq = largest_fitting(in, field::kSeqLen, 1ULL << 20);
    CHECK(batch.value >= 4);
    CHECK(seq.value >= 2048);
    check_boundary(in, field::kMicroBatch, batch);
    check_boundary(in, field::kSeqLen, seq);
  }
}

TEST_CASE("fit boundaries at one fixed budget: 80 GiB for every built-in model", "[plan]") {
  for (const BuiltinModel& m : builtin_models()) {
    INFO(m.name);
    if (m.config.encoder_decoder()) continue;  // estimates refused (t5_test.cpp)
    EstimateInputs in = on_budget(m.name, 80 * kGiB);
    in.setup.grad_ckpt = GradCkpt::kFull;
    check_boundary(in, field::kMicroBatch, largest_fitting(in, field::kMicroBatch, 1ULL << 16));
    check_boundary(in, field::kSeqLen, largest_fitting(in, field::kSeqLen, 1ULL << 20));
  }
}

TEST_CASE("a cap that fits is reported as the cap", "[plan]") {
  EstimateInputs in = on_budget("pythia-160m", 1ULL << 50);
  const FitLimit batch = largest_fitting(in, field::kMicroBatch, 100);
  CHECK(batch.value == 100);
  CHECK(batch.capped);
  const FitLimit none = largest_fitting(on_budget("llama-3-8b", kGiB), field::kMicroBatch, 100);
  CHECK(none.value == 0);
  CHECK_FALSE(none.capped);
}

TEST_CASE("each layout's fewest GPUs fits and one GPU fewer does not", "[plan]") {
  EstimateInputs in = on_budget("llama-3-8b", 80 * kGiB);
  in.setup.seq_len = 4096;
  in.layout.gpus_per_node = 8;
  for (const LayoutOption& layout : plan_layouts()) {
    INFO(layout.name);
    const LayoutFit f = fewest_gpus(in, layout, 1024);
    if (layout.name == "zero0") {
      CHECK_FALSE(f.gpus.has_value());  // DDP holds all states on every GPU: 8B needs more than 80 GiB
      continue;
    }
    REQUIRE(f.gpus.has_value());
    EstimateInputs at = with_changes(in, layout.changes);
    at.layout.gpus = *f.gpus;
    CHECK(fits(at));
    CHECK(f.nodes == (*f.gpus + 7) / 8);
    if (*f.gpus > 1) {
      at.layout.gpus = *f.gpus <= 8 ? *f.gpus - 1 : *f.gpus - 8;
      CHECK_FALSE(fits(at));
    }
  }
  CHECK(plan_layouts().size() == 10);  // ZeRO 0-3 (with and without offload), FSDP2, FSDP1, FSDP2 + CPU offload
}

TEST_CASE("every planned change fits, and needs all of its steps", "[plan]") {
  EstimateInputs in = on_budget("llama-3-8b", 0);
  in.memory_budget.reset();
  in.gpu = find_gpu("h100-80gb");
  in.setup.seq_len = 8192;
  in.layout.gpus = 8;
  in.layout.gpus_per_node = 8;
  const Plan p = plan(in);
  REQUIRE_FALSE(p.fits);
  REQUIRE_FALSE(p.changes.empty());
  CHECK(p.anything_fits());
  for (std::size_t i = 0; i < p.changes.size(); ++i) {
    const PlanOption& o = p.changes[i];
    EstimateInputs changed = in;
    for (const auto& s : o.steps) changed = with_changes(changed, s.changes);
    Bytes total = 0;
    CHECK(fits(changed, &total));
    CHECK(total == o.device_total);
    for (std::size_t drop = 0; drop < o.steps.size() && o.steps.size() > 1; ++drop) {
      EstimateInputs fewer = in;
      for (std::size_t k = 0; k < o.steps.size(); ++k) {
        if (k != drop) fewer = with_changes(fewer, o.steps[k].changes);
      }
      bool subset_fits = false;
      try {
        subset_fits = fits(fewer);
      } catch (const InputError&) {
        // e.g. optimizer offload without its ZeRO stage: not a valid run, so it does not fit
      }
      CHECK_FALSE(subset_fits);
    }
    if (i > 0) CHECK(p.changes[i - 1].cost() <= o.cost());
  }
}

TEST_CASE("a change is applied by field id, and a bad one names its field", "[plan]") {
  EstimateInputs in = on_budget("llama-3.2-1b", kGiB);
  apply_change(in, {field::kZeroStage, "3"});
  apply_change(in, {field::kOffloadOptimizer, "cpu"});
  apply_change(in, {field::kGradCkpt, "full"});
  apply_change(in, {field::kMicroBatch, "8"});
  CHECK(in.layout.zero.stage == 3);
  CHECK(in.layout.zero.offload_optimizer.device == OffloadDevice::kCpu);
  CHECK(in.setup.grad_ckpt == GradCkpt::kFull);
  CHECK(in.setup.micro_batch == 8);
  try {
    apply_change(in, {field::kMicroBatch, "0"});
    FAIL("no error");
  } catch (const InputError& e) {
    CHECK(e.field() == field::kMicroBatch);
  }
  CHECK_THROWS_AS(apply_change(in, {field::kModel, "x"}), InputError);
}

TEST_CASE("the planner needs a GPU or a budget", "[plan]") {
  EstimateInputs in;
  in.model = resolve_model("llama-3.2-1b");
  CHECK_THROWS_AS(plan(in), InputError);
}

TEST_CASE("a layout the estimator refuses for the inputs says which field and why instead of none fitting", "[plan]") {
  EstimateInputs in = on_budget("t5-small", 24 * kGiB);
  in.setup.seq_len = 512;
  in.setup.target_seq = 128;
  in.setup.attention = Attention::kEager;
  for (const LayoutOption& layout : plan_layouts()) {
    INFO(layout.name);
    const LayoutFit f = fewest_gpus(in, layout, 64);
    const bool sharded = layout.name.starts_with("zero3") || layout.name.starts_with("fsdp");
    if (sharded) {  // encoder_decoder.cpp: the two stacks' per-block gathers are not modelled
      CHECK_FALSE(f.gpus.has_value());
      CHECK(f.refused_field == std::string(layout.name.starts_with("zero3") ? field::kZeroStage : field::kFsdp));
      CHECK(f.refused_problem.find("encoder-decoder") != std::string::npos);
    } else {
      CHECK(f.gpus == 1u);
      CHECK(f.refused_field.empty());
    }
  }
}
