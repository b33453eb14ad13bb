// CSV: one row per component (RFC 4180), then the totals, all in integer bytes.
#include <ostream>

#include <fmt/format.h>

#include "cli/render.hpp"

namespace vramcalc::cli {

void render_csv(std::ostream& out, const Estimate& est) {
  out << "component,kind,bytes_at_peak";
  for (const auto& ph : est.phases) out << "," << ph.name() << "_bytes";
  out << ",estimated,formula,source\n";
  for (const auto& r : component_rows(est)) {
    out << csv_field(r.name) << "," << r.kind << "," << r.at_peak;
    for (std::size_t i = 0; i < est.phases.size(); ++i) {
      out << "," << (r.per_phase.empty() ? std::string() : std::to_string(r.per_phase[i]));
    }
    out << "," << (r.estimated ? "true" : "false") << "," << csv_field(r.formula) << "," << csv_field(r.source) << "\n";
  }
  auto total_row = [&](const char* name, Bytes bytes, bool per_phase) {
    out << name << ",total," << bytes;
    for (const auto& ph : est.phases) out << "," << (per_phase ? std::to_string(ph.allocated) : std::string());
    out << ",,,\n";
  };
  total_row("peak_allocated", est.peak_allocated, true);
  total_row("peak_reserved", est.peak_reserved, false);
  total_row("device_total", est.device_total, false);
}

}  // namespace vramcalc::cli
