// `vramcalc fit`: the planner's answer for the inputs given, as table or JSON. Exit 0 when
// something fits (the run, a smaller batch or sequence, a layout or a change), 1 when nothing does.
#include <ostream>

#include <fmt/format.h>

#include "cli/exit_codes.hpp"
#include "cli/plan_command.hpp"
#include "cli/render.hpp"

namespace vramcalc::cli {

std::string change_flags(const std::vector<Advice::Change>& changes) {
  std::string out;
  for (const auto& c : changes) {
    if (!out.empty()) out += ' ';
    out += flag_for(c.field);
    // A switch takes "true" as its bare flag and "false" as --flag=false (CLI11 accepts both forms).
    if (c.value == "false") out += "=false";
    else if (c.value != "true") out += " " + c.value;
  }
  return out;
}

int run_fit(const CliOptions& o, const OutputOptions& view, std::ostream& out, std::ostream& err) {
  std::vector<std::string> warnings;
  const EstimateInputs inputs = to_inputs(o, warnings);
  for (const auto& w : warnings) err << "vramcalc: warning: " << one_line(w) << "\n";
  EstimateInputs plain = inputs;
  plain.with_advice = false;
  (void)estimate_naming_inputs(plain, o);  // the run as given must be computable; overflow names its input
  const Plan p = plan(inputs);
  if (view.format == Format::kJson) {
    render_plan_json(out, p);
  } else {
    render_plan_table(out, p, view);
  }
  return p.anything_fits() ? kExitOk : kExitDoesNotFit;
}

}  // namespace vramcalc::cli
