// Activation offloading in the output: the --explain list of host copies and what stays on the
// GPU, and the JSON "activation_offload" object (integer bytes).
#include <ostream>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "cli/render.hpp"
#include "cli/terminal.hpp"

namespace vramcalc::cli {

void render_offload_explain(std::ostream& out, const Estimate& est, bool color) {
  const ActivationOffload& o = est.activations.offload;
  if (!o.enabled) return;
  out << style_bold("activation offloading (host copies, per rank)", color) << "\n";
  for (const auto& t : o.parts) {
    out << fmt::format("  host {:<27} {:>14} B  {}\n", t.name, group_digits(t.bytes), t.formula);
    out << style_dim(fmt::format("  {:<47} source: {}", "", t.source), color) << "\n";
  }
  out << fmt::format("  GPU  {:<27} {:>14} B  {}\n", "moved off the GPU", group_digits(o.moved),
                     "saved storages ≥ 1024 B of the layers (each once) and the RoPE tables they alone saved");
  out << fmt::format("  GPU  {:<27} {:>14} B  {}\n", "kept per layer (< 1 KiB)", group_digits(o.small_per_layer),
                     "saved tensors under min_offload_size stay (e.g. per-row rstd at T < 256)");
  out << fmt::format("  GPU  {:<27} {:>14} B  {}\n", o.in_flight.name, group_digits(o.in_flight.bytes), o.in_flight.formula);
  out << style_dim(fmt::format("  {:<47} source: {}", "", o.in_flight.source), color) << "\n";
}

nlohmann::ordered_json offload_json(const Estimate& est) {
  const ActivationOffload& o = est.activations.offload;
  if (!o.enabled) return nullptr;
  nlohmann::ordered_json parts = nlohmann::ordered_json::array();
  for (const auto& t : o.parts) parts.push_back({{"name", t.name}, {"bytes", t.bytes}, {"formula", t.formula}, {"source", t.source}});
  return {{"moved_bytes", o.moved},
          {"host_bytes", o.host_bytes},
          {"host_pinned_bytes", o.pinned_bytes},
          {"host_copies", o.host_copies},
          {"kept_small_bytes_per_layer", o.small_per_layer},
          {"forward_in_flight_bytes", o.forward_in_flight},
          {"backward_in_flight_bytes", o.backward_in_flight},
          {"host_parts", parts},
          {"estimated", true}};
}

}  // namespace vramcalc::cli
