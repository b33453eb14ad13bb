// Model-parallel output: the layout in words, and every rank role (pipeline stage) with its
// parameters and peak, the most loaded one marked; as table rows and as JSON.
#include <ostream>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "cli/render.hpp"
#include "cli/terminal.hpp"

namespace vramcalc::cli {

std::string describe_model_parallel(const ParallelLayout& l, const TrainingSetup& setup) {
  std::string text = fmt::format("tp {}{} × cp {} × pp {}", l.tp, l.sp ? " with sequence parallelism" : "", l.cp, l.pp);
  if (l.pp > 1) {
    text += fmt::format(" ({}, {} micro-batches{})", to_string(l.pp_schedule), pipeline_microbatches(setup, l),
                        l.virtual_stages > 1 ? fmt::format(", {} virtual stages", l.virtual_stages) : "");
  }
  return text + fmt::format(" × dp {}", l.data_parallel());
}

void render_roles(std::ostream& out, const Estimate& est, const OutputOptions& view) {
  if (est.roles.empty()) return;
  const SizeUnits u = view.units;
  const bool c = view.color;
  out << "\n" << style_bold(fmt::format("rank roles (the most loaded, *, sets the peak and the verdict; {})", unit_label(u)), c) << "\n";
  out << fmt::format("  {:<15} {:>6} {:>7} {:>9} {:>15}  {:<15} {:>10} {:>10}  {}\n", "role", "ranks", "layers", "in flight",
                     "parameters", "peak phase", "allocated", "device", "which");
  for (std::size_t i = 0; i < est.roles.size(); ++i) {
    const RoleResult& r = est.roles[i];
    const std::string name = r.role.name + (i == est.peak_role ? " *" : "");
    out << fmt::format("  {:<15} {:>6} {:>7} {:>9} {:>15}  {:<15} {:>10.2f} {:>10.2f}  {}\n", name, r.role.ranks, r.role.layers,
                       r.role.inflight, group_digits(r.parameters), r.peak_phase, to_unit(r.peak_allocated, u),
                       to_unit(r.device_total, u), r.role.which);
  }
}

std::string roles_json(const Estimate& est) {
  using ojson = nlohmann::ordered_json;
  ojson roles = ojson::array();
  for (std::size_t i = 0; i < est.roles.size(); ++i) {
    const RoleResult& r = est.roles[i];
    ojson components = ojson::object();
    for (const auto& [id, bytes] : r.components) components[std::string(name_of(id))] = bytes;
    roles.push_back({{"role", r.role.name},
                     {"which", r.role.which},
                     {"ranks", r.role.ranks},
                     {"pipeline_rank", r.role.stage},
                     {"layers", r.role.layers},
                     {"inflight_chunk_forwards", r.role.inflight},
                     {"embedding", r.role.embedding},
                     {"head", r.role.head},
                     {"parameters", r.parameters},
                     {"most_loaded", i == est.peak_role},
                     {"peak_phase", r.peak_phase},
                     {"peak_point", r.peak_point},
                     {"allocated_bytes", r.peak_allocated},
                     {"reserved_bytes", r.peak_reserved},
                     {"device_bytes", r.device_total},
                     {"components", components}});
  }
  return roles.dump();
}

}  // namespace vramcalc::cli
