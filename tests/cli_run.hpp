#pragma once
// Runs the real vramcalc binary for end-to-end tests: exit status, stdout and stderr apart.
// Scratch files go under the build tree only.
#include <array>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <sys/wait.h>
#include <unistd.h>

namespace vramcalc_test {

inline std::filesystem::path scratch(const std::string& sub) {
  const std::filesystem::path dir = std::filesystem::path(VRAMCALC_TEST_SCRATCH) / sub;
  std::filesystem::create_directories(dir);
  return dir;
}

struct RunResult {
  int code = -1;
  std::string out;
  std::string err;
};

// `env` is prepended to the command line (e.g. "NO_COLOR=1").
inline RunResult run_vramcalc(const std::string& args, const std::string& env = "NO_COLOR=") {
  const std::string err_path = (scratch("run") / ("stderr_" + std::to_string(getpid()) + ".txt")).string();
  const std::string cmd = env + " " + VRAMCALC_BINARY + " " + args + " 2>" + err_path;
  RunResult r;
  FILE* pipe = popen(cmd.c_str(), "r");
  if (pipe == nullptr) return r;
  std::array<char, 4096> buf{};
  std::size_t n = 0;
  while ((n = fread(buf.data(), 1, buf.size(), pipe)) > 0) r.out.append(buf.data(), n);
  const int status = pclose(pipe);
  r.code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  std::ifstream err(err_path);
  std::stringstream ss;
  ss << err.rdbuf();
  r.err = ss.str();
  std::remove(err_path.c_str());
  return r;
}

}  // namespace vramcalc_test
