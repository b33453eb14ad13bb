// Markdown: the table for pasting into issues and docs, with formulas and sources.
#include <ostream>

#include <fmt/format.h>

#include "cli/render.hpp"

namespace vramcalc::cli {

void render_markdown(std::ostream& out, const Estimate& est, const OutputOptions& view) {
  const SizeUnits u = view.units;
  const char* unit = unit_label(u);
  const ModelConfig& m = est.inputs.model;
  out << fmt::format("**{}** ({} parameters): {}\n\n", m.name, group_digits(est.params.total), describe_setup(est));
  if (const std::string recipe = describe_recipe(est); !recipe.empty()) out << "Recipe: " << recipe << "\n\n";
  out << "| component |";
  for (const auto& ph : est.phases) out << fmt::format(" {} ({}) |", ph.name(), unit);
  out << fmt::format(" at peak ({}) | formula | source |\n|---|", unit);
  for (std::size_t i = 0; i < est.phases.size(); ++i) out << "---:|";
  out << "---:|---|---|\n";
  auto cell = [](std::string text) {
    std::string escaped;
    for (char ch : text) {
      if (ch == '|') escaped += '\\';
      escaped += ch;
    }
    return escaped;
  };
  for (const auto& r : component_rows(est)) {
    out << "| " << r.name << (r.estimated ? "*" : "") << " |";
    for (std::size_t i = 0; i < est.phases.size(); ++i) {
      out << (r.per_phase.empty() ? std::string(" |") : fmt::format(" {:.2f} |", to_unit(r.per_phase[i], u)));
    }
    out << fmt::format(" {:.2f} | {} | {} |\n", to_unit(r.at_peak, u), cell(r.formula), cell(r.source));
  }
  out << "| **allocated** |";
  for (const auto& ph : est.phases) out << fmt::format(" **{:.2f}** |", to_unit(ph.allocated, u));
  out << fmt::format(" **{:.2f}** | | |\n", to_unit(est.peak_allocated, u));
  const Phase& p = est.phases[est.peak_phase];
  out << fmt::format("\nPeak: **{}** ({}): allocated {}, reserved {}, on the device {}.", p.name(), p.point,
                     format_size(est.peak_allocated, u), format_size(est.peak_reserved, u), format_size(est.device_total, u));
  // GPU and host RAM are separate verdicts: a host-RAM miss must not mark the GPU as failing.
  const std::string v = verdict(est, u);
  if (!v.empty()) out << " " << (est.gpu_fits() ? "✅ " : "❌ ") << v << ".";
  const std::string cv = cpu_verdict(est, u);
  if (!cv.empty()) out << " " << (est.cpu_fits() ? "✅ " : "❌ ") << cv << ".";
  out << "\n\n\\* estimated (derived from code or empirical); other terms are exact arithmetic.\n";
}

}  // namespace vramcalc::cli
