// Prints docs/accuracy.md to stdout (scripts/gen_accuracy.sh).
#include <iostream>

#include "accuracy.hpp"

int main(int argc, char** argv) {
  const std::string dir = argc > 1 ? argv[1] : std::string(VRAMCALC_SOURCE_DIR) + "/tests/data/measured";
  std::cout << vramcalc::accuracy::markdown_report(vramcalc::accuracy::evaluate_directory(dir), dir);
  return 0;
}
