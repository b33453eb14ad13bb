// The planner's changes: candidate steps (each a field change with its cost in plain words),
// combined up to N at a time, each combination re-estimated; the fitting ones ranked.
#include <vramcalc/plan.hpp>

#include <algorithm>
#include <cstdint>

#include <vramcalc/change.hpp>
#include <vramcalc/error.hpp>

namespace vramcalc {

int PlanOption::cost() const {
  int total = 0;
  for (const auto& s : steps) total += s.cost_rank;
  return total;
}

namespace {

void add_setup_steps(const TrainingSetup& s, std::vector<PlanStep>& out) {
  if (s.loss == LossImpl::kFull) {
    out.push_back({"loss", {{field::kLoss, "chunked"}}, "chunked cross-entropy", "no extra compute; logits made a chunk at a time", 1});
  }
  if (s.loss != LossImpl::kFused) {
    out.push_back({"loss", {{field::kLoss, "fused"}}, "fused linear cross-entropy", "needs a fused kernel (e.g. Liger); no extra compute", 1});
  }
  if (s.optimizer == Optimizer::kAdamW) {
    out.push_back({"optimizer", {{field::kOptimizer, "adamw-fused"}}, "fused AdamW", "same update in one fused kernel; no cost", 1});
  }
  if (s.optimizer == Optimizer::kAdamW || s.optimizer == Optimizer::kAdamWFused) {
    out.push_back({"optimizer", {{field::kOptimizer, "adamw-8bit"}}, "8-bit AdamW (bitsandbytes)",
                   "8-bit optimizer states: quantised moments, usually the same quality", 3});
  }
  if (s.grad_ckpt == GradCkpt::kNone) {
    out.push_back({"grad_ckpt", {{field::kGradCkpt, "selective"}}, "selective activation checkpointing",
                   "recomputes the attention core in backward: a few percent more compute", 2});
  }
  if (s.grad_ckpt != GradCkpt::kFull) {
    out.push_back({"grad_ckpt", {{field::kGradCkpt, "full"}}, "full activation checkpointing",
                   "recomputes each layer's forward in backward: about a third more compute", 4});
  }
  if (s.precision == Precision::kFp32 || s.precision == Precision::kAmp) {
    out.push_back({"precision", {{field::kPrecision, "mixed"}}, "mixed precision (bf16 params, fp32 master)",
                   "bf16 compute with an fp32 master copy: the usual recipe", 2});
  }
  if (s.precision != Precision::kBf16) {
    out.push_back({"precision", {{field::kPrecision, "bf16"}}, "pure bf16 (no fp32 master copy)",
                   "updates rounded to bf16: may need stochastic rounding or Kahan summation", 5});
  }
  if (s.micro_batch > 1) {
    const std::uint64_t b = s.micro_batch;
    if (b % 2 == 0) {
      out.push_back({"batch", {{field::kMicroBatch, std::to_string(b / 2)}, {field::kGradAccum, std::to_string(s.grad_accum * 2)}},
                     "half the micro-batch, twice the gradient accumulation", "same global batch in twice the steps: lower throughput", 3});
    }
    out.push_back({"batch", {{field::kMicroBatch, "1"}, {field::kGradAccum, std::to_string(s.grad_accum * b)}},
                   "micro-batch 1, gradient accumulation keeps the global batch",
                   std::to_string(b) + "× the steps for the same global batch: lower throughput", 4});
  }
}

void add_layout_steps(const ParallelLayout& l, std::vector<PlanStep>& out) {
  static const char* kStageCost[] = {"", "shards optimizer states across ranks: no extra communication",
                                     "shards gradients too: reduce-scatter in place of all-reduce",
                                     "shards parameters: all-gathers each layer in forward and backward, about 1.5× the communication"};
  for (int stage = l.zero.stage + 1; stage <= 3; ++stage) {
    out.push_back({"zero", {{field::kZeroStage, std::to_string(stage)}}, "ZeRO stage " + std::to_string(stage),
                   kStageCost[stage], stage + 1});
  }
  if (l.zero.offload_optimizer.device == OffloadDevice::kNone) {
    out.push_back({"offload", {{field::kOffloadOptimizer, "cpu"}}, "optimizer offload to host RAM (ZeRO-Offload)",
                   "the optimizer step runs on the CPU: bound by host memory bandwidth and PCIe", 6});
  }
  for (std::uint64_t k : {2, 4, 8}) {
    std::uint64_t n = l.gpus * k;
    if (n > l.gpus_per_node && n % l.gpus_per_node != 0) n += l.gpus_per_node - n % l.gpus_per_node;
    out.push_back({"gpus", {{field::kGpus, std::to_string(n)}}, std::to_string(n) + " GPUs",
                   std::to_string(k) + "× the GPUs: more hardware", k == 2 ? 7 : k == 4 ? 8 : 9});
  }
}

}  // namespace

std::vector<PlanStep> plan_steps(const EstimateInputs& inputs) {
  std::vector<PlanStep> out;
  add_setup_steps(inputs.setup, out);
  add_layout_steps(inputs.layout, out);
  return out;
}

namespace {

// Every subset of the steps' indexes of size k whose steps come from different groups.
void combinations(const std::vector<PlanStep>& steps, std::size_t k, std::size_t from, std::vector<std::size_t>& pick,
                  std::vector<std::vector<std::size_t>>& out) {
  if (pick.size() == k) {
    out.push_back(pick);
    return;
  }
  for (std::size_t i = from; i < steps.size(); ++i) {
    const bool clash = std::any_of(pick.begin(), pick.end(), [&](std::size_t j) { return steps[j].group == steps[i].group; });
    if (clash) continue;
    pick.push_back(i);
    combinations(steps, k, i + 1, pick, out);
    pick.pop_back();
  }
}

std::uint64_t mask_of(const std::vector<std::size_t>& pick) {
  std::uint64_t m = 0;
  for (std::size_t i : pick) m |= 1ULL << i;
  return m;
}

// The option of `pick`, re-estimated; nullopt when the combination is not valid input.
std::optional<PlanOption> evaluate(const EstimateInputs& inputs, const std::vector<PlanStep>& steps,
                                   const std::vector<std::size_t>& pick) {
  PlanOption option;
  EstimateInputs in = inputs;
  try {
    for (std::size_t i : pick) {
      option.steps.push_back(steps[i]);
      for (const auto& c : steps[i].changes) apply_change(in, c);
    }
    option.fits = fits(in, &option.device_total);
  } catch (const InputError&) {
    return std::nullopt;  // e.g. optimizer offload without a ZeRO stage
  }
  return option;
}

}  // namespace

std::vector<PlanOption> fitting_options(const EstimateInputs& inputs, std::size_t max_combined, std::uint64_t* estimates) {
  std::vector<PlanStep> steps = plan_steps(inputs);
  if (steps.size() > 64) steps.resize(64);  // subsets are kept as 64-bit masks
  std::vector<PlanOption> out;
  std::vector<std::uint64_t> fitting;  // masks of the options that fit
  for (std::size_t k = 1; k <= max_combined; ++k) {
    std::vector<std::vector<std::size_t>> picks;
    std::vector<std::size_t> pick;
    combinations(steps, k, 0, pick, picks);
    for (const auto& p : picks) {
      const std::uint64_t m = mask_of(p);
      if (std::any_of(fitting.begin(), fitting.end(), [&](std::uint64_t f) { return (f & m) == f; })) continue;
      if (estimates != nullptr) ++*estimates;
      auto option = evaluate(inputs, steps, p);
      if (!option || !option->fits) continue;
      fitting.push_back(m);
      out.push_back(std::move(*option));
    }
  }
  std::stable_sort(out.begin(), out.end(), [](const PlanOption& a, const PlanOption& b) {
    if (a.cost() != b.cost()) return a.cost() < b.cost();
    if (a.steps.size() != b.steps.size()) return a.steps.size() < b.steps.size();
    return a.device_total < b.device_total;
  });
  return out;
}

}  // namespace vramcalc
