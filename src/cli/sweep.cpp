// `vramcalc sweep`: any numeric option takes a list ("1,2,4") or a doubling range
// ("1024..32768"); every combination is estimated exactly as `vramcalc estimate` would.
#include <ostream>

#include <fmt/format.h>

#include "cli/exit_codes.hpp"
#include "cli/plan_command.hpp"
#include "cli/render.hpp"

namespace vramcalc::cli {
namespace {

constexpr std::size_t kMaxRows = 4096;

// The options a sweep may vary: every numeric option of an estimate.
struct Sweepable {
  const char* flag;
  std::string CliOptions::*member;
};
constexpr Sweepable kSweepable[] = {
    {"--seq", &CliOptions::seq},
    {"--batch", &CliOptions::batch},
    {"--grad-accum", &CliOptions::grad_accum},
    {"--loss-chunks", &CliOptions::loss_chunks},
    {"--fragmentation", &CliOptions::fragmentation},
    {"--zero", &CliOptions::zero},
    {"--gpus", &CliOptions::gpus},
    {"--gpus-per-node", &CliOptions::gpus_per_node},
    {"--nccl-channels", &CliOptions::nccl_channels},
    {"--gpu-mem", &CliOptions::gpu_mem},
    {"--cuda-context", &CliOptions::cuda_context},
    {"--cpu-mem", &CliOptions::cpu_mem},
};

bool is_list(const std::string& text) {
  return text.find(',') != std::string::npos || text.find("..") != std::string::npos;
}

// "a..b": a, 2a, 4a, ... up to b (whole numbers).
void add_range(const std::string& flag, const std::string& item, std::size_t dots, std::vector<std::string>& out) {
  const std::string a = item.substr(0, dots), b = item.substr(dots + 2);
  for (const std::string& end : {a, b}) {
    if (end.empty() || end.find_first_not_of("0123456789") != std::string::npos) {
      throw InputError(flag, item, "a range takes whole numbers, e.g. 1024..32768 (list sizes with commas)");
    }
  }
  const std::uint64_t lo = parse_count(a, flag.c_str()), hi = parse_count(b, flag.c_str());
  if (lo > hi) throw InputError(flag, item, "a range goes from the smaller value to the larger");
  for (std::uint64_t v = lo; v <= hi; v *= 2) {
    out.push_back(std::to_string(v));
    if (v > hi / 2) break;
  }
}

}  // namespace

std::vector<std::string> sweep_values(const std::string& flag, const std::string& text) {
  std::vector<std::string> out;
  std::size_t start = 0;
  while (start <= text.size()) {
    const std::size_t comma = std::min(text.find(',', start), text.size());
    const std::string item = text.substr(start, comma - start);
    if (item.empty()) throw InputError(flag, text, "an empty item in the list");
    const std::size_t dots = item.find("..");
    if (dots != std::string::npos) {
      add_range(flag, item, dots, out);
    } else {
      out.push_back(item);
    }
    if (out.size() > kMaxRows) throw InputError(flag, text, fmt::format("more than {} values", kMaxRows));
    start = comma + 1;
  }
  return out;
}

namespace {

void add_row(Sweep& sweep, const CliOptions& o, std::vector<std::string> values, std::vector<std::string>& warnings) {
  const Estimate est = estimate_naming_inputs(to_inputs(o, warnings), o);
  SweepRow row{std::move(values), est.peak_allocated, est.device_total, est.capacity, est.fits(), {}};
  for (const auto& r : component_rows(est)) row.components.emplace_back(r.name, r.at_peak);
  sweep.model = est.inputs.model.name;
  sweep.capacity_label = est.capacity ? capacity_name(est) : "";
  sweep.rows.push_back(std::move(row));
}

}  // namespace

Sweep run_sweep_rows(const CliOptions& options, std::vector<std::string>& warnings) {
  Sweep sweep;
  sweep.model = options.model;
  std::vector<const Sweepable*> swept;
  std::size_t total = 1;
  for (const Sweepable& s : kSweepable) {
    const std::string& text = options.*s.member;
    if (!is_list(text)) continue;
    sweep.axes.push_back({s.flag, sweep_values(s.flag, text)});
    swept.push_back(&s);
    total *= sweep.axes.back().values.size();
    if (total > kMaxRows) throw InputError(s.flag, text, fmt::format("the sweep has more than {} combinations", kMaxRows));
  }
  for (std::size_t i = 0; i < total; ++i) {
    CliOptions o = options;
    std::vector<std::string> values(swept.size());
    std::size_t rest = i;
    for (std::size_t k = swept.size(); k-- > 0;) {  // the last axis varies fastest
      const auto& axis = sweep.axes[k].values;
      values[k] = axis[rest % axis.size()];
      rest /= axis.size();
      o.*(swept[k]->member) = values[k];
    }
    std::vector<std::string> row_warnings;
    add_row(sweep, o, std::move(values), row_warnings);
    if (i == 0) warnings = row_warnings;  // a --deepspeed file's notes, once
  }
  return sweep;
}

int run_sweep(const CliOptions& o, const OutputOptions& view, std::ostream& out, std::ostream& err) {
  std::vector<std::string> warnings;
  const Sweep sweep = run_sweep_rows(o, warnings);
  for (const auto& w : warnings) err << "vramcalc: warning: " << one_line(w) << "\n";
  switch (view.format) {
    case Format::kJson: render_sweep_json(out, sweep); break;
    case Format::kCsv: render_sweep_csv(out, sweep); break;
    case Format::kSvg: render_sweep_svg(out, sweep); break;
    case Format::kHtml: render_sweep_html(out, sweep); break;
    default: render_sweep_table(out, sweep, view); break;
  }
  return kExitOk;
}

}  // namespace vramcalc::cli
