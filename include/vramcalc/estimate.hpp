#pragma once
/// The estimate: every memory term, what is alive in each phase of a training step, the
/// peak, and the verdict against a GPU. A pure function of its inputs.

#include <optional>
#include <string>
#include <vector>

#include <vramcalc/activations.hpp>
#include <vramcalc/gpu.hpp>
#include <vramcalc/layout.hpp>
#include <vramcalc/model.hpp>
#include <vramcalc/component.hpp>
#include <vramcalc/layout_policy.hpp>
#include <vramcalc/rank_role.hpp>
#include <vramcalc/recipe.hpp>
#include <vramcalc/term.hpp>
#include <vramcalc/timeline.hpp>
#include <vramcalc/training.hpp>

namespace vramcalc {

/// A memory term as reported: its formula and source, its bytes at the peak phase, and the
/// largest bytes it reaches in any phase.
struct Component {
  ComponentId id = ComponentId::kWeights;
  Term term;               ///< term.bytes = bytes at the peak phase
  Bytes max_bytes = 0;     ///< largest over the phases' peak moments
  Bytes size_bytes = 0;    ///< the term's own size while it is alive (its formula's value)
  TermKind kind = TermKind::kAllocated;
};

/// A change to the inputs that lowers the peak, with its saving computed by re-estimating.
struct Advice {
  /// One input to change: a field id (vramcalc/error.hpp, namespace field) and its new value.
  struct Change {
    std::string field;
    std::string value;
  };
  Change change;            ///< e.g. {field::kGradCkpt, "full"}
  std::string what;         ///< the change in plain words, e.g. "gradient checkpointing"
  std::string why;          ///< which component dominates
  Bytes peak_before = 0;    ///< device bytes per GPU now
  Bytes peak_after = 0;     ///< device bytes per GPU with the change
};

struct EstimateInputs {
  ModelConfig model;
  TrainingSetup setup;
  ParallelLayout layout;
  LoadSetup load;
  std::optional<Bytes> cpu_memory_budget;  ///< --cpu-mem: host RAM per node
  bool with_advice = true;                 ///< compute Advice (re-estimates the variants)
  std::optional<GpuSpec> gpu;              ///< from the catalog (--gpu)
  std::optional<Bytes> memory_budget;      ///< --gpu-mem: overrides the GPU's capacity
  std::optional<Bytes> cuda_context_bytes; ///< --cuda-context override
  std::optional<AppliedRecipe> recipe;     ///< the recipe that set some of these inputs (recipe.hpp)
};

struct Estimate {
  EstimateInputs inputs;
  ParameterCounts params;
  Activations activations;
  std::vector<Component> components;  ///< every term, in report order
  std::vector<Moment> timeline;       ///< every moment of the step, in time order
  std::vector<Phase> phases;          ///< each phase at its largest moment (derived from timeline)
  std::size_t peak_phase = 0;         ///< index into phases
  Bytes peak_allocated = 0;           ///< what torch.cuda.max_memory_allocated would show
  Bytes peak_reserved = 0;            ///< + allocator reserve: max_memory_reserved
  Bytes non_pytorch = 0;              ///< CUDA context and other non-PyTorch memory
  Bytes device_total = 0;             ///< reserved + non-PyTorch: what nvidia-smi shows
  std::optional<Bytes> capacity;      ///< GPU capacity or budget, when one was given
  std::string capacity_label;         ///< the GPU's catalog name; "" for a memory budget
  LoadPhase load;                     ///< model loading (also the "load" phase)
  HostMemory host;                    ///< host RAM / NVMe of offload during training
  Bytes cpu_peak_per_node = 0;        ///< max(load, training) host RAM per node
  std::optional<Bytes> cpu_capacity;  ///< --cpu-mem
  std::vector<Advice> advice;
  std::vector<RoleResult> roles;      ///< with tp/cp/pp: every distinct rank role (the estimate above is the most loaded)
  std::size_t peak_role = 0;          ///< index into roles of the most loaded role

  bool gpu_fits() const { return !capacity || device_total <= *capacity; }
  bool cpu_fits() const { return !cpu_capacity || cpu_peak_per_node <= *cpu_capacity; }
  bool fits() const { return gpu_fits() && cpu_fits(); }
  /// True when loading the model, not training, sets the GPU peak.
  bool load_sets_peak() const { return !phases.empty() && phases[peak_phase].id == PhaseId::kLoad; }
  const Component* find(ComponentId id) const;
  const Phase* phase(PhaseId id) const;
  /// The phase called `name` ("load", "forward", "backward", "optimizer_step"), or nullptr.
  const Phase* phase(std::string_view name) const;
};

/// Validates the inputs (InputError on zero sizes, overflow) and computes the estimate.
Estimate estimate(const EstimateInputs& inputs);

}  // namespace vramcalc
