// A sweep's rows as a terminal table (with bars), CSV and JSON: one row per combination of
// the swept values with its peak allocated, device total, capacity and verdict.
#include <algorithm>
#include <ostream>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "cli/plan_command.hpp"
#include "cli/render.hpp"
#include "cli/terminal.hpp"
#include <vramcalc/vramcalc.hpp>

namespace vramcalc::cli {
namespace {

// "--gpu-mem" -> "gpu_mem": the key of a swept flag in CSV and JSON.
std::string key_of(const std::string& flag) {
  std::string key = flag.substr(2);
  std::replace(key.begin(), key.end(), '-', '_');
  return key;
}

}  // namespace

void render_sweep_table(std::ostream& out, const Sweep& sw, const OutputOptions& view) {
  const SizeUnits u = view.units;
  const bool c = view.color;
  Bytes largest = 0;  // bars are relative to the row's capacity, or to the largest row without one
  for (const auto& r : sw.rows) largest = std::max(largest, r.device_total);
  std::string title = fmt::format("{}: peak per GPU", sw.model);
  if (!sw.capacity_label.empty()) title += fmt::format(" against {}", sw.capacity_label);
  out << style_bold(title, c) << "\n";
  std::string header;
  for (const auto& a : sw.axes) header += fmt::format("{:>14} ", a.flag);
  header += fmt::format("{:>14} {:>14} {:>5}", fmt::format("allocated {}", unit_label(u)), fmt::format("device {}", unit_label(u)), "fits");
  out << style_bold(header, c) << "\n";
  for (const auto& r : sw.rows) {
    std::string line;
    for (const auto& v : r.values) line += fmt::format("{:>14} ", v);
    const std::string verdict = r.capacity ? (r.fits ? "yes" : "no") : "-";
    const Bytes scale = r.capacity ? *r.capacity : largest;
    const double share = scale > 0 ? std::min(1.0, static_cast<double>(r.device_total) / static_cast<double>(scale)) : 0.0;
    line += fmt::format("{:>14.2f} {:>14.2f} {:>5}  {}", to_unit(r.peak_allocated, u), to_unit(r.device_total, u), verdict,
                        bar(share, 20, view.unicode));
    out << (r.capacity && !r.fits ? style_red(line, c) : line) << "\n";
  }
}

void render_sweep_csv(std::ostream& out, const Sweep& sw) {
  for (const auto& a : sw.axes) out << key_of(a.flag) << ",";
  out << "peak_allocated_bytes,device_bytes,capacity_bytes,fits\n";
  for (const auto& r : sw.rows) {
    for (const auto& v : r.values) out << csv_field(v) << ",";
    out << r.peak_allocated << "," << r.device_total << "," << (r.capacity ? std::to_string(*r.capacity) : "") << ","
        << (r.fits ? "true" : "false") << "\n";
  }
}

void render_sweep_json(std::ostream& out, const Sweep& sw) {
  using ojson = nlohmann::ordered_json;
  ojson j;
  j["schema_version"] = 1;
  j["vramcalc_version"] = version();
  j["command"] = "sweep";
  j["model"] = sw.model;
  ojson axes = ojson::array();
  for (const auto& a : sw.axes) axes.push_back(key_of(a.flag));
  j["axes"] = axes;
  ojson rows = ojson::array();
  for (const auto& r : sw.rows) {
    ojson row;
    for (std::size_t k = 0; k < sw.axes.size(); ++k) {
      const std::string& v = r.values[k];
      const bool whole = !v.empty() && v.size() < 19 && v.find_first_not_of("0123456789") == std::string::npos;
      row[key_of(sw.axes[k].flag)] = whole ? ojson(std::stoull(v)) : ojson(v);
    }
    row["peak_allocated_bytes"] = r.peak_allocated;
    row["device_bytes"] = r.device_total;
    row["capacity_bytes"] = r.capacity ? ojson(*r.capacity) : ojson(nullptr);
    row["fits"] = r.fits;
    ojson comps = ojson::object();
    for (const auto& [name, bytes] : r.components) comps[name] = bytes;
    row["components"] = comps;
    rows.push_back(row);
  }
  j["rows"] = rows;
  out << j.dump(2) << "\n";
}

}  // namespace vramcalc::cli
