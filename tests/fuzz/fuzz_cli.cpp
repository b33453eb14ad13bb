// libFuzzer: the whole command line, in process. The input is split at newlines into argv;
// run() must return 0, 1 or 2, and exit 2 must come with exactly one stderr line without
// control characters. run() never calls exit(): help and version return 0.
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <sstream>
#include <string>
#include <vector>

#include "cli/app.hpp"
#include "invariants.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size > 4096) return 0;
  std::vector<std::string> args{"vramcalc"};
  std::string current;
  for (std::size_t i = 0; i < size; ++i) {
    const char c = static_cast<char>(data[i]);
    if (c == '\n') {
      args.push_back(current);
      current.clear();
    } else {
      current += c;
    }
  }
  args.push_back(current);
  std::vector<char*> argv;
  for (auto& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);
  std::ostringstream out;
  std::ostringstream err;
  const int rc = vramcalc::cli::run(static_cast<int>(args.size()), argv.data(), out, err);
  const std::string e = err.str();
  bool ok = rc == 0 || rc == 1 || rc == 2;
  if (rc == 2) {
    std::size_t lines = 0;
    for (char c : e) lines += c == '\n';
    ok = ok && lines == 1 && !e.empty() && e.back() == '\n' &&
         vramcalc::testing::one_line_problem(e.substr(0, e.size() - 1)).empty() && e.rfind("vramcalc: error: ", 0) == 0;
  } else {
    ok = ok && e.find("vramcalc: error:") == std::string::npos;
  }
  if (!ok) {
    std::fprintf(stderr, "rc=%d stderr=[%s]\n", rc, e.c_str());
    std::abort();
  }
  return 0;
}
