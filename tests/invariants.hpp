#pragma once
// Invariants every estimate and every error line must satisfy; shared by the property tests
// and the fuzz targets. Each returns "" when it holds, else what is wrong.

#include <string>

#include <vramcalc/estimate.hpp>

namespace vramcalc::testing {

/// One printable line: no newline, carriage return or other control character.
inline std::string one_line_problem(const std::string& text) {
  for (unsigned char c : text) {
    if (c < 0x20 || c == 0x7F) return "control character " + std::to_string(c) + " in: " + text;
  }
  return "";
}

/// Sums recomputed in 128 bits, so a wrapped 64-bit total cannot pass: every phase is the sum
/// of its entries, the peak is the largest phase, components add up to the totals, and
/// reserved/device totals are not below what they contain.
inline std::string estimate_problem(const Estimate& est) {
  __extension__ using U128 = unsigned __int128;
  if (est.phases.empty()) return "no phases";
  Bytes largest = 0;
  for (const auto& ph : est.phases) {
    U128 sum = 0;
    for (const auto& e : ph.entries) sum += e.bytes;
    if (sum != ph.allocated) return "phase " + std::string(ph.name()) + " is not the sum of its entries";
    if (ph.allocated > largest) largest = ph.allocated;
  }
  if (est.peak_allocated != largest) return "peak_allocated is not the largest phase";
  if (est.phases[est.peak_phase].allocated != largest) return "peak_phase is not the largest phase";
  U128 at_peak = 0;
  U128 all = 0;
  for (const auto& c : est.components) {
    if (c.kind == TermKind::kAllocated) at_peak += c.term.bytes;
    all += c.term.bytes;
  }
  if (at_peak != est.peak_allocated) return "allocated components do not sum to peak_allocated";
  if (all != est.device_total) return "components do not sum to device_total";
  if (est.peak_reserved < est.peak_allocated) return "reserved below allocated";
  if (static_cast<U128>(est.peak_reserved) + est.non_pytorch != est.device_total) return "device_total != reserved + non-PyTorch";
  return "";
}

}  // namespace vramcalc::testing
