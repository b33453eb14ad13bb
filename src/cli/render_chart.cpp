// A sweep as a picture: a self-contained SVG of the peak per GPU, stacked by component (one
// series, one colour per component), one bar per combination of the swept values, with the
// GPU's capacity as a line; and a self-contained HTML page holding that chart and the table.
#include <algorithm>
#include <cmath>
#include <ostream>

#include <fmt/format.h>

#include "cli/plan_command.hpp"
#include "cli/render.hpp"
#include <vramcalc/vramcalc.hpp>

namespace vramcalc::cli {
namespace {

constexpr int kWidth = 960, kHeight = 540;
constexpr int kLeft = 80, kRight = 230, kTop = 50, kBottom = 90;
constexpr const char* kColors[] = {"#4e79a7", "#f28e2b", "#e15759", "#76b7b2", "#59a14f", "#edc948", "#b07aa1", "#ff9da7",
                                   "#9c755f", "#bab0ac", "#1f77b4", "#8c564b", "#17becf", "#bcbd22", "#7f7f7f", "#d62728"};

std::string xml(const std::string& text) {
  std::string out;
  for (char ch : text) {
    switch (ch) {
      case '&': out += "&amp;"; break;
      case '<': out += "&lt;"; break;
      case '>': out += "&gt;"; break;
      case '"': out += "&quot;"; break;
      case '\'': out += "&apos;"; break;
      default: out += ch;
    }
  }
  return out;
}

Bytes bytes_in(const SweepRow& r, const std::string& name) {
  for (const auto& [n, b] : r.components) {
    if (n == name) return b;
  }
  return 0;
}

// The components with bytes in some row, in table order (weights at the bottom of the stack,
// the reserve and the context on top): one series each.
std::vector<std::string> series_of(const Sweep& sw) {
  std::vector<std::string> names;
  for (const auto& r : sw.rows) {
    for (const auto& c : r.components) {
      if (std::find(names.begin(), names.end(), c.first) == names.end()) names.push_back(c.first);
    }
  }
  std::erase_if(names, [&](const std::string& name) {
    return std::none_of(sw.rows.begin(), sw.rows.end(), [&](const SweepRow& r) { return bytes_in(r, name) > 0; });
  });
  return names;
}

std::string row_label(const Sweep& sw, const SweepRow& r) {
  std::string out;
  for (std::size_t k = 0; k < sw.axes.size(); ++k) {
    if (k > 0) out += ' ';
    out.append(sw.axes[k].flag, 2).append("=").append(r.values[k]);
  }
  return out.empty() ? "as given" : out;
}

// A round GiB step giving about five grid lines up to `top` GiB.
double grid_step(double top) {
  const double raw = top / 5.0;
  const double mag = std::pow(10.0, std::floor(std::log10(std::max(raw, 1e-9))));
  for (double m : {1.0, 2.0, 5.0, 10.0}) {
    if (m * mag >= raw) return m * mag;
  }
  return 10.0 * mag;
}

struct Frame {
  double top_gib = 1.0;  // the y axis' top value
  double plot_w = kWidth - kLeft - kRight, plot_h = kHeight - kTop - kBottom;
  double y(double gib) const { return kTop + plot_h * (1.0 - gib / top_gib); }
};

void axes_svg(std::ostream& out, const Sweep& sw, const Frame& f) {
  const double step = grid_step(f.top_gib);
  for (double v = 0.0; v <= f.top_gib + 1e-9; v += step) {
    out << fmt::format(R"svg(<line x1="{}" y1="{:.1f}" x2="{}" y2="{:.1f}" stroke="#dddddd"/>)svg", kLeft, f.y(v), kLeft + f.plot_w, f.y(v));
    out << fmt::format(R"svg(<text x="{}" y="{:.1f}" text-anchor="end" font-size="12">{:g}</text>)svg", kLeft - 6, f.y(v) + 4, v) << "\n";
  }
  out << fmt::format(R"svg(<text x="18" y="{}" font-size="13" transform="rotate(-90 18 {})" text-anchor="middle">peak per GPU (GiB)</text>)svg",
                     kTop + f.plot_h / 2, kTop + f.plot_h / 2) << "\n";
  std::string xs;
  for (const auto& a : sw.axes) {
    if (!xs.empty()) xs += " × ";
    xs += a.flag;
  }
  out << fmt::format(R"svg(<text x="{}" y="{}" font-size="13" text-anchor="middle">{}</text>)svg", kLeft + f.plot_w / 2, kHeight - 8,
                     xml(xs.empty() ? "inputs as given" : xs)) << "\n";
}

void bars_svg(std::ostream& out, const Sweep& sw, const std::vector<std::string>& series, const Frame& f) {
  const double band = f.plot_w / static_cast<double>(sw.rows.size());
  for (std::size_t s = 0; s < series.size(); ++s) {
    out << fmt::format(R"svg(<g class="series" data-component="{}" fill="{}">)svg", xml(series[s]), kColors[s % std::size(kColors)]) << "\n";
    for (std::size_t i = 0; i < sw.rows.size(); ++i) {
      double below = 0;
      for (std::size_t t = 0; t < s; ++t) below += to_unit(bytes_in(sw.rows[i], series[t]), SizeUnits::kBinary);
      const double gib = to_unit(bytes_in(sw.rows[i], series[s]), SizeUnits::kBinary);
      out << fmt::format(R"svg(<rect x="{:.1f}" y="{:.1f}" width="{:.1f}" height="{:.1f}"><title>{}: {} {:.2f} GiB</title></rect>)svg",
                         kLeft + band * (static_cast<double>(i) + 0.15), f.y(below + gib), band * 0.7, f.y(below) - f.y(below + gib),
                         xml(row_label(sw, sw.rows[i])), xml(series[s]), gib) << "\n";
    }
    out << "</g>\n";
  }
  for (std::size_t i = 0; i < sw.rows.size(); ++i) {
    const double x = kLeft + band * (static_cast<double>(i) + 0.5);
    out << fmt::format(R"svg(<text x="{:.1f}" y="{}" font-size="11" text-anchor="end" transform="rotate(-30 {:.1f} {})">{}</text>)svg", x,
                       kTop + f.plot_h + 16, x, kTop + f.plot_h + 16, xml(row_label(sw, sw.rows[i]))) << "\n";
  }
}

void capacity_svg(std::ostream& out, const Sweep& sw, const Frame& f) {
  if (sw.rows.empty() || !sw.rows.front().capacity) return;
  const double band = f.plot_w / static_cast<double>(sw.rows.size());
  std::string points;
  for (std::size_t i = 0; i < sw.rows.size(); ++i) {
    const double y = f.y(to_unit(sw.rows[i].capacity.value_or(0), SizeUnits::kBinary));
    points += fmt::format("{:.1f},{:.1f} {:.1f},{:.1f} ", kLeft + band * static_cast<double>(i), y, kLeft + band * static_cast<double>(i + 1), y);
  }
  out << fmt::format(R"svg(<polyline class="capacity" points="{}" fill="none" stroke="#d00000" stroke-width="2" stroke-dasharray="6 4"/>)svg", points) << "\n";
  out << fmt::format(R"svg(<text x="{}" y="{:.1f}" font-size="12" fill="#d00000">{} {:.2f} GiB</text>)svg", kLeft + 4,
                     f.y(to_unit(*sw.rows.front().capacity, SizeUnits::kBinary)) - 6, xml(sw.capacity_label),
                     to_unit(*sw.rows.front().capacity, SizeUnits::kBinary)) << "\n";
}

void legend_svg(std::ostream& out, const std::vector<std::string>& series) {
  const int x = kWidth - kRight + 20;
  for (std::size_t s = series.size(); s-- > 0;) {  // top of the stack first
    const int y = kTop + 18 * static_cast<int>(series.size() - 1 - s);
    out << fmt::format(R"svg(<rect x="{}" y="{}" width="12" height="12" fill="{}"/><text x="{}" y="{}" font-size="12">{}</text>)svg", x, y,
                       kColors[s % std::size(kColors)], x + 18, y + 10, xml(series[s])) << "\n";
  }
}

}  // namespace

void render_sweep_svg(std::ostream& out, const Sweep& sw) {
  const std::vector<std::string> series = series_of(sw);
  Frame f;
  double top = 0;
  for (const auto& r : sw.rows) top = std::max({top, to_unit(r.device_total, SizeUnits::kBinary), to_unit(r.capacity.value_or(0), SizeUnits::kBinary)});
  f.top_gib = std::max(1.0, std::ceil(top * 1.1 / grid_step(top * 1.1)) * grid_step(top * 1.1));
  out << fmt::format(R"svg(<svg xmlns="http://www.w3.org/2000/svg" width="{}" height="{}" viewBox="0 0 {} {}" font-family="sans-serif">)svg",
                     kWidth, kHeight, kWidth, kHeight) << "\n";
  out << fmt::format(R"svg(<rect width="{}" height="{}" fill="#ffffff"/>)svg", kWidth, kHeight) << "\n";
  out << fmt::format(R"svg(<text x="{}" y="28" font-size="16" font-weight="bold">{}: peak device memory per GPU by component</text>)svg", kLeft,
                     xml(sw.model)) << "\n";
  axes_svg(out, sw, f);
  bars_svg(out, sw, series, f);
  capacity_svg(out, sw, f);
  legend_svg(out, series);
  out << "</svg>\n";
}

void render_sweep_html(std::ostream& out, const Sweep& sw) {
  const std::vector<std::string> series = series_of(sw);
  out << "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n";
  out << "<title>" << xml(sw.model) << ": vramcalc sweep</title>\n";
  out << "<style>body{font-family:sans-serif;margin:24px;background:#fff;color:#111}table{border-collapse:collapse;font-size:13px}"
         "th,td{border:1px solid #ccc;padding:3px 8px;text-align:right}th{background:#f0f0f0}.no{color:#b00000}</style>\n</head>\n<body>\n";
  out << "<h1>" << xml(sw.model) << ": peak memory per GPU</h1>\n";
  render_sweep_svg(out, sw);
  out << "<div style=\"overflow-x:auto\"><table>\n<tr>";
  for (const auto& a : sw.axes) out << "<th>" << xml(a.flag) << "</th>";
  for (const auto& s : series) out << "<th>" << xml(s) << " GiB</th>";
  out << "<th>allocated GiB</th><th>device GiB</th><th>fits</th></tr>\n";
  for (const auto& r : sw.rows) {
    out << "<tr>";
    for (const auto& v : r.values) out << "<td>" << xml(v) << "</td>";
    for (const auto& s : series) out << fmt::format("<td>{:.2f}</td>", to_unit(bytes_in(r, s), SizeUnits::kBinary));
    out << fmt::format("<td>{:.2f}</td><td>{:.2f}</td>", to_unit(r.peak_allocated, SizeUnits::kBinary), to_unit(r.device_total, SizeUnits::kBinary));
    out << (r.capacity ? (r.fits ? "<td>yes</td>" : "<td class=\"no\">no</td>") : "<td>-</td>") << "</tr>\n";
  }
  out << "</table></div>\n</body>\n</html>\n";
}

}  // namespace vramcalc::cli
