// What each layer keeps when checkpointing keeps an itemised list (op-level SAC under
// torch.compile): the --explain list with formula and source per tensor.
#include <ostream>

#include <fmt/format.h>

#include "cli/render.hpp"
#include "cli/terminal.hpp"

namespace vramcalc::cli {

void render_kept_explain(std::ostream& out, const Estimate& est, bool color) {
  const Activations& a = est.activations;
  if (a.kept_parts.empty()) return;
  out << style_bold(fmt::format("each decoder layer keeps ({} checkpointing, torch.compile {})", to_string(est.inputs.setup.grad_ckpt),
                                to_string(est.inputs.setup.compile)),
                    color)
      << "\n";
  for (const auto& t : a.kept_parts) {
    out << fmt::format("  {:<32} {:>14} B  {}\n", t.name, group_digits(t.bytes), t.formula);
    out << style_dim(fmt::format("  {:<49} source: {}", "", t.source), color) << "\n";
  }
}

}  // namespace vramcalc::cli
