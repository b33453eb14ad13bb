#pragma once
/// The planner: what fits on the GPUs given (largest micro-batch, longest sequence), how many
/// GPUs each layout needs, and which changes, alone or combined, make the run fit. Pure
/// functions over EstimateInputs; every answer is re-estimated, never extrapolated.

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include <vramcalc/estimate.hpp>

namespace vramcalc {

/// Where the searches stop. Sequence and micro-batch caps bound the doubling; the GPU cap
/// bounds the layouts' search.
struct PlanLimits {
  std::uint64_t max_seq = 1ULL << 20;    ///< 1,048,576 tokens
  std::uint64_t max_batch = 1ULL << 16;  ///< 65,536 sequences
  std::uint64_t max_gpus = 1ULL << 16;   ///< 65,536 ranks
  std::size_t max_combined = 3;          ///< changes combined in one option
  std::size_t max_changes = 12;          ///< options kept, best first
};

/// The largest value of one input that fits, all else as given: `value` fits and value + 1
/// does not (unless `capped`). Found by doubling, then bisection over the monotone estimate.
struct FitLimit {
  std::uint64_t value = 0;   ///< 0 when even 1 does not fit
  bool capped = false;       ///< the cap itself fits: the true limit is the cap or more
  std::uint64_t cap = 0;
  Bytes device_total = 0;    ///< device bytes per GPU at `value` (0 when value is 0)
};

/// A way of laying the job out over GPUs (a ZeRO stage, with or without optimizer offload):
/// the changes that select it. New layouts (FSDP2, TP, PP) are one more entry in plan_layouts().
struct LayoutOption {
  std::string name;                          ///< e.g. "zero3+offload"
  std::string what;                          ///< in plain words
  std::vector<Advice::Change> changes;       ///< applied to the inputs
};
const std::vector<LayoutOption>& plan_layouts();

/// The fewest GPUs with which a layout fits (gpus_per_node as given; more than one node uses
/// whole nodes). `gpus` is unset when none up to the cap fits.
struct LayoutFit {
  LayoutOption layout;
  std::optional<std::uint64_t> gpus;
  std::uint64_t nodes = 0;
  Bytes device_total = 0;  ///< per GPU at `gpus`
  std::string refused_field{};    ///< when the layout does not apply to these inputs: the field the estimator refused
  std::string refused_problem{};  ///< and why (InputError::problem); gpus is unset then
};

/// One candidate change of the planner: its field changes, what it does and what it costs.
struct PlanStep {
  std::string group;                    ///< steps of one group are alternatives ("grad_ckpt", "zero", ...)
  std::vector<Advice::Change> changes;  ///< usually one; micro-batch with grad-accum is two
  std::string what;                     ///< plain words: "full activation checkpointing"
  std::string cost;                     ///< plain words: "recomputes the forward: about a third more compute"
  int cost_rank = 0;                    ///< 1 (free) .. 9 (more hardware); orders the options
};

/// Steps combined, re-estimated: its device bytes per GPU and whether it fits.
struct PlanOption {
  std::vector<PlanStep> steps;
  Bytes device_total = 0;
  bool fits = false;
  int cost() const;  ///< sum of the steps' cost ranks
};

struct Plan {
  EstimateInputs inputs;  ///< as given (with_advice off)
  PlanLimits limits;      ///< where the searches stopped
  Bytes device_total = 0; ///< per GPU as given
  Bytes capacity = 0;     ///< the GPU's capacity or budget
  bool fits = false;      ///< the run as given fits
  FitLimit max_batch;     ///< at the given sequence length
  FitLimit max_seq;       ///< at the given micro-batch
  std::vector<LayoutFit> min_gpus;   ///< one per plan_layouts() entry
  std::vector<PlanOption> changes;   ///< fitting options, cheapest first; empty when it fits as given
  std::uint64_t estimates = 0;       ///< estimates the whole plan ran
  /// False only when nothing fits: not the run, not batch or sequence 1, no layout, no change.
  bool anything_fits() const;
};

/// Whether `inputs` fit their GPU (and host RAM when a budget is given); a byte count beyond
/// 64 bits does not fit. `device_total` receives the per-GPU bytes (0 on overflow).
bool fits(const EstimateInputs& inputs, Bytes* device_total = nullptr);

/// The largest value of `field_id` (field::kSeqLen or field::kMicroBatch) that fits, up to `cap`.
/// `estimates`, when given, is increased by the estimates run.
FitLimit largest_fitting(const EstimateInputs& inputs, const char* field_id, std::uint64_t cap,
                         std::uint64_t* estimates = nullptr);
/// The fewest GPUs with which `layout` fits, up to `max_gpus`.
LayoutFit fewest_gpus(const EstimateInputs& inputs, const LayoutOption& layout, std::uint64_t max_gpus,
                      std::uint64_t* estimates = nullptr);
/// The candidate steps that apply to `inputs` (those that change something).
std::vector<PlanStep> plan_steps(const EstimateInputs& inputs);
/// Every combination of up to `max_combined` steps from different groups that fits and needs
/// all its steps (no smaller subset fits), ranked by cost, then steps, then device bytes.
std::vector<PlanOption> fitting_options(const EstimateInputs& inputs, std::size_t max_combined,
                                        std::uint64_t* estimates = nullptr);

/// The whole plan. InputError(field::kGpu) when neither a GPU nor a memory budget is given.
Plan plan(const EstimateInputs& inputs, const PlanLimits& limits = {});

}  // namespace vramcalc
