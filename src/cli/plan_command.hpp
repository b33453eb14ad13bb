#pragma once
// The planning commands: `fit` (what fits, what to change) and `sweep` (estimates over lists
// of values, as table, CSV, JSON, SVG or HTML).

#include <iosfwd>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "cli/app.hpp"
#include <vramcalc/plan.hpp>

namespace vramcalc::cli {

int run_fit(const CliOptions& options, const OutputOptions& view, std::ostream& out, std::ostream& err);
int run_sweep(const CliOptions& options, const OutputOptions& view, std::ostream& out, std::ostream& err);

/// Changes as the flags that make them: "--zero 3 --offload-optimizer cpu".
std::string change_flags(const std::vector<Advice::Change>& changes);

void render_plan_table(std::ostream& out, const Plan& plan, const OutputOptions& view);
void render_plan_json(std::ostream& out, const Plan& plan);

/// A swept flag and its values as typed ("--seq", {"1024", "2048"}).
struct SweepAxis {
  std::string flag;
  std::vector<std::string> values;
};

/// One combination of the swept values, estimated.
struct SweepRow {
  std::vector<std::string> values;  ///< one per axis
  Bytes peak_allocated = 0;
  Bytes device_total = 0;
  std::optional<Bytes> capacity;
  bool fits = true;
  std::vector<std::pair<std::string, Bytes>> components;  ///< each component's bytes at the peak
};

struct Sweep {
  std::string model;
  std::string capacity_label;  ///< GPU name or "--gpu-mem"; "" when none
  std::vector<SweepAxis> axes;
  std::vector<SweepRow> rows;
};

/// The values of a list ("1024,2048") or doubling range ("1024..32768") given to `flag`.
std::vector<std::string> sweep_values(const std::string& flag, const std::string& text);
/// Every combination of the options' lists (the last axis varies fastest), each estimated
/// exactly as `vramcalc estimate` would with those values.
Sweep run_sweep_rows(const CliOptions& options, std::vector<std::string>& warnings);

void render_sweep_table(std::ostream& out, const Sweep& sweep, const OutputOptions& view);
void render_sweep_csv(std::ostream& out, const Sweep& sweep);
void render_sweep_json(std::ostream& out, const Sweep& sweep);
/// A self-contained SVG: the peak per GPU stacked by component (one series per component)
/// against the swept values, with the GPU capacity as a line.
void render_sweep_svg(std::ostream& out, const Sweep& sweep);
/// A self-contained HTML page: the SVG chart and the breakdown table.
void render_sweep_html(std::ostream& out, const Sweep& sweep);

}  // namespace vramcalc::cli
