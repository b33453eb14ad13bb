#pragma once
// Rendering one Estimate as table, JSON, CSV or markdown. Table, CSV and markdown walk the
// same rows (component_rows); JSON serialises the Estimate itself.

#include <iosfwd>
#include <string>
#include <vector>

#include <nlohmann/json_fwd.hpp>

#include "cli/app.hpp"
#include <vramcalc/estimate.hpp>
#include <vramcalc/model_io.hpp>

namespace vramcalc::cli {

/// One component as every text format shows it.
struct ComponentRow {
  std::string name;
  std::string kind;                 // allocated | reserve | non_pytorch
  Bytes at_peak = 0;                // bytes in the peak phase (reserve/context: their value)
  std::vector<Bytes> per_phase;     // bytes in each phase, in Estimate::phases order (allocated only)
  std::string formula;
  std::string source;
  bool estimated = false;
};

std::vector<ComponentRow> component_rows(const Estimate& est);
/// A bar of `width` cells filled to `share` (0..1): block characters, or "#" and "." in ASCII.
std::string bar(double share, int width, bool unicode);
/// What the capacity is: the catalog GPU's name, or "--gpu-mem" for a memory budget.
std::string capacity_name(const Estimate& est);
/// An advice's change as command-line flags, with its plain-words description:
/// "--grad-ckpt full (gradient checkpointing)".
std::string advice_action(const Advice& advice);
/// RFC 4180 field: quoted when it holds a comma, quote or newline.
std::string csv_field(const std::string& text);
/// "mixed (bf16 params and grads, fp32 master and optimizer states)" and friends.
std::string describe_precision(Precision precision);
/// One line describing the training inputs.
std::string describe_setup(const Estimate& est);
/// "ZeRO-3 over 4 ranks (4 nodes × 1 GPU), ..." or "" for one GPU without ZeRO.
std::string describe_layout(const Estimate& est);
/// "LoRA r … on …, … trainable parameters", or "" without LoRA.
std::string describe_lora(const Estimate& est);
/// Host-RAM verdict against --cpu-mem, or "".
std::string cpu_verdict(const Estimate& est, SizeUnits units);
/// Verdict sentence ("fits on a100-80gb: 12.34 GiB free") or "" when no GPU/budget was given.
std::string verdict(const Estimate& est, SizeUnits units);

void render_estimate(std::ostream& out, const Estimate& est, const OutputOptions& view);
void render_table(std::ostream& out, const Estimate& est, const OutputOptions& view);
void render_json(std::ostream& out, const Estimate& est);
void render_csv(std::ostream& out, const Estimate& est);
void render_markdown(std::ostream& out, const Estimate& est, const OutputOptions& view);

/// DeepSpeed's own model-states estimator tables, labelled as such.
void render_deepspeed_estimate(std::ostream& out, const ModelConfig& model, const ParameterCounts& params,
                               std::uint64_t gpus_per_node, std::uint64_t nodes, const OutputOptions& view);

/// "tp 8 with sequence parallelism × cp 1 × pp 4 (1f1b, 8 micro-batches) × dp 2", or "" without model parallelism.
std::string describe_model_parallel(const ParallelLayout& layout, const TrainingSetup& setup);
/// The rank roles (pipeline stages) with each one's parameters and peak; nothing without model parallelism.
void render_roles(std::ostream& out, const Estimate& est, const OutputOptions& view);
/// The rank roles as JSON text (an array), for render_json.
std::string roles_json(const Estimate& est);

void render_models(std::ostream& out, const std::vector<BuiltinModel>& models, const OutputOptions& view);
void render_gpus(std::ostream& out, const std::vector<GpuSpec>& gpus, const OutputOptions& view);

/// "peft [PEFT 0.21.2 + ...] set --optimizer adamw, ..." or "" when no recipe was applied.
std::string describe_recipe(const Estimate& est);
/// --explain: each knob the recipe set, why, and its source.
void render_recipe_explain(std::ostream& out, const Estimate& est, bool color);
/// The JSON "recipe" object (null when no recipe was applied).
nlohmann::ordered_json recipe_json(const Estimate& est);
/// `vramcalc recipes`: every built-in recipe with its knobs.
void render_recipes(std::ostream& out, const std::vector<Recipe>& recipes, const OutputOptions& view);
/// --explain: activation offloading's host copies and what stays on the GPU (nothing when off).
void render_offload_explain(std::ostream& out, const Estimate& est, bool color);
/// The JSON "activation_offload" object (null when off).
nlohmann::ordered_json offload_json(const Estimate& est);
/// --explain: what each layer keeps when checkpointing keeps a list (op-level SAC under compile).
void render_kept_explain(std::ostream& out, const Estimate& est, bool color);

}  // namespace vramcalc::cli
