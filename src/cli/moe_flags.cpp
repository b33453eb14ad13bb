// The flags of expert parallelism and expert routing (--ep, --moe-imbalance,
// --moe-capacity-factor, --moe-pad-to-capacity), set through the core's field setter (change.cpp).
#include <CLI/CLI.hpp>

#include <vramcalc/change.hpp>
#include <vramcalc/error.hpp>

#include "cli/app.hpp"

namespace vramcalc::cli {

void add_moe_flags(CLI::App& app, CliOptions& o) {
  app.add_option("--ep", o.ep, "Expert-parallel ranks: the routed experts split over ep ranks of the data-parallel group (default 1)");
  app.add_option("--moe-imbalance", o.moe_imbalance,
                 "Max/mean routed tokens per expert-parallel rank (default 1.68, estimated from published routing statistics)");
  app.add_option("--moe-capacity-factor", o.moe_capacity_factor,
                 "Megatron capacity factor C: each expert takes at most ceil(T*k/E*C) tokens per rank, the rest are dropped");
  app.add_flag("--moe-pad-to-capacity", o.moe_pad_to_capacity, "Pad every expert's tokens to its capacity (Megatron moe_pad_expert_input_to_capacity)");
}

void apply_moe_flags(const CliOptions& o, EstimateInputs& in) {
  const std::pair<const char*, const std::string*> flags[] = {
      {field::kEp, &o.ep}, {field::kMoeImbalance, &o.moe_imbalance}, {field::kMoeCapacityFactor, &o.moe_capacity_factor}};
  for (const auto& [id, value] : flags) {
    if (!value->empty()) apply_change(in, {id, *value});
  }
  if (o.moe_pad_to_capacity) apply_change(in, {field::kMoePadToCapacity, "true"});
}

}  // namespace vramcalc::cli
