// Prints docs/accuracy.md to stdout (scripts/gen_accuracy.sh); with --tsv, one line per predicted record
// (id, split, predicted bytes, measured bytes, error %, tolerance %, ok) for tools/measure/mark_gaps.py.
#include <cstring>
#include <iostream>

#include <fmt/format.h>

#include "accuracy.hpp"

int main(int argc, char** argv) {
  std::string dir = std::string(VRAMCALC_SOURCE_DIR) + "/tests/data/measured";
  bool tsv = false;
  for (int i = 1; i < argc; ++i) {
    if (std::strcmp(argv[i], "--tsv") == 0) {
      tsv = true;
    } else {
      dir = argv[i];
    }
  }
  const auto rows = vramcalc::accuracy::evaluate_directory(dir);
  if (!tsv) {
    std::cout << vramcalc::accuracy::markdown_report(rows, dir);
    return 0;
  }
  for (const auto& r : rows) {
    if (!r.predicted) continue;
    std::cout << fmt::format("{}\t{}\t{:.0f}\t{:.0f}\t{:.4f}\t{}\t{}\n", r.id, r.split, *r.predicted, r.measured, *r.error_pct,
                             r.tolerance_pct ? fmt::format("{}", *r.tolerance_pct) : "", r.predicted_ok ? "ok" : "miss");
  }
  return 0;
}
