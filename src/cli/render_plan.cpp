// The planner's answer as a table (what fits, each layout's GPUs, the ranked changes) and as
// JSON (docs/json.md, "fit").
#include <ostream>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "cli/plan_command.hpp"
#include "cli/render.hpp"
#include "cli/terminal.hpp"
#include <vramcalc/vramcalc.hpp>

namespace vramcalc::cli {
namespace {

// The catalog GPU's name, or the budget's flag.
std::string plan_capacity_name(const Plan& p) {
  return p.inputs.memory_budget ? flag_for(field::kMemoryBudget) : p.inputs.gpu->name;
}

std::string limit_line(const FitLimit& l, const char* what, const char* unit, SizeUnits u) {
  if (l.value == 0) return fmt::format("none: even {} 1 does not fit", what);
  if (l.capped) return fmt::format("{} {} ({}) — the search's cap; more may fit", group_digits(l.value), unit, format_size(l.device_total, u));
  return fmt::format("{} {} ({}); {} does not fit", group_digits(l.value), unit, format_size(l.device_total, u), group_digits(l.value + 1));
}

std::string option_flags(const PlanOption& o) {
  std::string out;
  for (const auto& s : o.steps) {
    if (!out.empty()) out += ' ';
    out += change_flags(s.changes);
  }
  return out;
}

void render_layouts(std::ostream& out, const Plan& p, SizeUnits u, bool c) {
  out << style_bold(fmt::format("fewest GPUs per layout ({} per node)", p.inputs.layout.gpus_per_node), c) << "\n";
  for (const LayoutFit& f : p.min_gpus) {
    if (!f.gpus && !f.refused_field.empty()) {
      out << fmt::format("  {:<14} {:<22} {}: {}\n", f.layout.name, "refused", flag_for(f.refused_field), f.refused_problem);
      continue;
    }
    if (!f.gpus) {
      out << fmt::format("  {:<14} {:<22} {}\n", f.layout.name, fmt::format("none up to {}", group_digits(p.limits.max_gpus)), f.layout.what);
      continue;
    }
    const std::string n = fmt::format("{} GPU{} ({} node{})", group_digits(*f.gpus), *f.gpus == 1 ? "" : "s", f.nodes, f.nodes == 1 ? "" : "s");
    out << fmt::format("  {:<14} {:<22} {:>10} per GPU  {}\n", f.layout.name, n, format_size(f.device_total, u), f.layout.what);
  }
}

void render_changes(std::ostream& out, const Plan& p, SizeUnits u, bool c) {
  if (p.fits) return;
  if (p.changes.empty()) {
    out << style_red("no change of up to three steps makes it fit", c) << "\n";
    return;
  }
  out << style_bold("changes that make it fit, cheapest first (each re-estimated)", c) << "\n";
  for (std::size_t i = 0; i < p.changes.size(); ++i) {
    const PlanOption& o = p.changes[i];
    out << fmt::format("  {:>2}. {:<58} {:>10}\n", i + 1, option_flags(o), format_size(o.device_total, u));
    for (const auto& s : o.steps) out << style_dim(fmt::format("        {}: {}", s.what, s.cost), c) << "\n";
  }
}

}  // namespace

void render_plan_table(std::ostream& out, const Plan& p, const OutputOptions& view) {
  const SizeUnits u = view.units;
  const bool c = view.color;
  const TrainingSetup& s = p.inputs.setup;
  out << style_bold(fmt::format("{} on {} ({} per GPU), {} GPU{}", p.inputs.model.name, plan_capacity_name(p),
                                format_size(p.capacity, u), p.inputs.layout.gpus, p.inputs.layout.gpus == 1 ? "" : "s"), c) << "\n";
  const std::string state = p.fits ? "fits" : fmt::format("does not fit (exceeds by {})", format_size(p.device_total - p.capacity, u));
  const std::string line = fmt::format("as given: seq {} × batch {}, {} per GPU: {}", s.seq_len, s.micro_batch, format_size(p.device_total, u), state);
  out << (p.fits ? style_green(line, c) : style_red(line, c)) << "\n\n";
  out << fmt::format("largest micro-batch at seq {}:  {}\n", s.seq_len, limit_line(p.max_batch, "batch", "sequences", u));
  out << fmt::format("longest sequence at batch {}:  {}\n\n", s.micro_batch, limit_line(p.max_seq, "seq", "tokens", u));
  render_layouts(out, p, u, c);
  out << "\n";
  render_changes(out, p, u, c);
  if (!p.fits) out << "\n";
  out << style_dim(fmt::format("{} estimates; limits: batch ≤ {}, seq ≤ {}", p.estimates, group_digits(p.max_batch.cap),
                               group_digits(p.max_seq.cap)), c) << "\n";
}

namespace {

using ojson = nlohmann::ordered_json;

ojson limit_json(const FitLimit& l) {
  return {{"value", l.value > 0 ? ojson(l.value) : ojson(nullptr)}, {"capped", l.capped}, {"cap", l.cap},
          {"device_bytes", l.value > 0 ? ojson(l.device_total) : ojson(nullptr)}};
}

ojson changes_json(const std::vector<Advice::Change>& changes) {
  ojson out = ojson::array();
  for (const auto& c : changes) out.push_back({{"flag", flag_for(c.field)}, {"value", c.value}});
  return out;
}

}  // namespace

void render_plan_json(std::ostream& out, const Plan& p) {
  ojson j;
  j["schema_version"] = 1;
  j["vramcalc_version"] = version();
  j["command"] = "fit";
  j["model"] = p.inputs.model.name;
  j["gpu"] = {{"name", plan_capacity_name(p)}, {"capacity_bytes", p.capacity}};
  const TrainingSetup& s = p.inputs.setup;
  j["inputs"] = {{"seq_len", s.seq_len}, {"micro_batch", s.micro_batch}, {"grad_accum", s.grad_accum},
                 {"gpus", p.inputs.layout.gpus}, {"gpus_per_node", p.inputs.layout.gpus_per_node}, {"zero", p.inputs.layout.zero.stage}};
  j["device_bytes"] = p.device_total;
  j["fits"] = p.fits;
  j["max_batch"] = limit_json(p.max_batch);
  j["max_seq"] = limit_json(p.max_seq);
  ojson layouts = ojson::array();
  for (const LayoutFit& f : p.min_gpus) {
    layouts.push_back({{"layout", f.layout.name}, {"what", f.layout.what}, {"flags", change_flags(f.layout.changes)},
                       {"gpus", f.gpus ? ojson(*f.gpus) : ojson(nullptr)}, {"nodes", f.gpus ? ojson(f.nodes) : ojson(nullptr)},
                       {"device_bytes", f.gpus ? ojson(f.device_total) : ojson(nullptr)},
                       {"refused", f.refused_field.empty() ? ojson(nullptr)
                                                           : ojson({{"flag", flag_for(f.refused_field)}, {"problem", f.refused_problem}})}});
  }
  j["min_gpus"] = layouts;
  ojson changes = ojson::array();
  for (const PlanOption& o : p.changes) {
    ojson steps = ojson::array();
    for (const auto& st : o.steps) {
      steps.push_back({{"flags", change_flags(st.changes)}, {"changes", changes_json(st.changes)}, {"what", st.what}, {"cost", st.cost}});
    }
    changes.push_back({{"flags", option_flags(o)}, {"device_bytes", o.device_total}, {"cost_rank", o.cost()}, {"steps", steps}});
  }
  j["changes"] = changes;
  j["anything_fits"] = p.anything_fits();
  j["estimates"] = p.estimates;
  out << j.dump(2) << "\n";
}

}  // namespace vramcalc::cli
