#include <exception>
#include <iostream>

#include "cli/app.hpp"

// run() reports input errors itself (exit 2); anything else escaping it is a bug, still
// reported on one line instead of std::terminate.
int main(int argc, char** argv) {
  try {
    return vramcalc::cli::run(argc, argv, std::cout, std::cerr);
  } catch (const std::exception& e) {
    std::cerr << "vramcalc: internal error: " << vramcalc::one_line(e.what()) << "\n";
  } catch (...) {
    std::cerr << "vramcalc: internal error\n";
  }
  return 70;  // EX_SOFTWARE
}
