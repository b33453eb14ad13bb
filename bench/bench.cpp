// vramcalc_bench: how fast an estimate and a fit search are (README "Speed"). Not a test:
// timings depend on the machine; it prints its figures and the budgets they are held to.
//
//   build/bench/vramcalc_bench [path/to/vramcalc]
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <vector>

#include <fmt/format.h>

#include <vramcalc/vramcalc.hpp>

using namespace vramcalc;
using Clock = std::chrono::steady_clock;

namespace {

double ms_since(Clock::time_point start) { return std::chrono::duration<double, std::milli>(Clock::now() - start).count(); }

// CPU time of this thread in ms: what the work costs on one core, whatever else the machine runs.
double cpu_ms() {
  timespec t{};
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t);
  return static_cast<double>(t.tv_sec) * 1e3 + static_cast<double>(t.tv_nsec) / 1e6;
}

struct Timing {
  double wall = 0, cpu = 0;
};

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v[v.size() / 2];
}

// One run of the binary as a whole process, its output discarded: wall time, and the child's
// CPU time (user + system).
Timing process_ms(const std::string& binary, const std::vector<std::string>& args) {
  const auto start = Clock::now();
  const pid_t pid = fork();
  if (pid == 0) {
    std::vector<char*> argv{const_cast<char*>(binary.c_str())};
    for (const auto& a : args) argv.push_back(const_cast<char*>(a.c_str()));
    argv.push_back(nullptr);
    if (std::freopen("/dev/null", "w", stdout) == nullptr) _exit(127);
    execv(binary.c_str(), argv.data());
    _exit(127);
  }
  int status = 0;
  rusage usage{};
  wait4(pid, &status, 0, &usage);
  const auto ms = [](const timeval& t) { return static_cast<double>(t.tv_sec) * 1e3 + static_cast<double>(t.tv_usec) / 1e3; };
  return {ms_since(start), ms(usage.ru_utime) + ms(usage.ru_stime)};
}

EstimateInputs llama8b_on_h100() {
  EstimateInputs in;
  in.model = resolve_model("llama-3-8b");
  in.gpu = find_gpu("h100-80gb");
  in.setup.seq_len = 8192;
  in.layout.gpus = 8;
  in.layout.gpus_per_node = 8;
  return in;
}

void bench_process(const std::string& binary) {
  const std::vector<std::string> args{"--model", "llama-8b", "--seq", "8192", "--format", "json"};
  std::vector<double> wall, cpu;
  for (int i = 0; i < 31; ++i) {
    const Timing t = process_ms(binary, args);
    wall.push_back(t.wall);
    cpu.push_back(t.cpu);
  }
  fmt::print("estimate as a whole process (vramcalc --model llama-8b --seq 8192 --format json), median of 31: "
             "{:.2f} ms CPU, {:.2f} ms wall (fastest wall {:.2f} ms)  [budget 5 ms]\n",
             median(cpu), median(wall), *std::min_element(wall.begin(), wall.end()));
}

void bench_in_process() {
  EstimateInputs in = llama8b_on_h100();
  for (bool advice : {true, false}) {
    in.with_advice = advice;
    const int n = 2000;
    Bytes sink = 0;
    const auto start = Clock::now();
    const double cpu0 = cpu_ms();
    for (int i = 0; i < n; ++i) sink += estimate(in).device_total;
    fmt::print("estimate() in process, {} advice: {:.1f} µs CPU, {:.1f} µs wall each ({} calls){}\n", advice ? "with" : "without",
               (cpu_ms() - cpu0) * 1000.0 / n, ms_since(start) * 1000.0 / n, n, sink == 0 ? "!" : "");
  }
}

void bench_fit() {
  const EstimateInputs in = llama8b_on_h100();
  auto start = Clock::now();
  double cpu0 = cpu_ms();
  const Plan p = plan(in);
  fmt::print("fit search (vramcalc fit --model llama-8b --gpu h100-80gb --seq 8192 --gpus 8 --gpus-per-node 8): {:.1f} ms CPU, "
             "{:.1f} ms wall, {} estimates: batch ≤ 65,536 and seq ≤ 1,048,576 searched, 7 layouts × GPUs ≤ 65,536, "
             "{} options of ≤ 3 changes\n", cpu_ms() - cpu0, ms_since(start), p.estimates, p.changes.size());
  std::uint64_t estimates = 0, configurations = 0;
  start = Clock::now();
  cpu0 = cpu_ms();
  for (const BuiltinModel& m : builtin_models()) {
    EstimateInputs one = in;
    one.model = m.config;
    (void)largest_fitting(one, field::kMicroBatch, 1ULL << 16, &estimates);
    (void)largest_fitting(one, field::kSeqLen, 1ULL << 20, &estimates);
    configurations += (1ULL << 16) + (1ULL << 20);
  }
  fmt::print("fit boundaries of all {} built-in models: {} configurations searched with {} estimates in {:.1f} ms CPU, "
             "{:.1f} ms wall  [budget 100 ms]\n", builtin_models().size(), group_digits(configurations), estimates, cpu_ms() - cpu0,
             ms_since(start));
  EstimateInputs flat = in;
  flat.with_advice = false;
  start = Clock::now();
  cpu0 = cpu_ms();
  std::uint64_t fitting = 0;
  for (std::uint64_t seq = 1; seq <= 10000; ++seq) {
    flat.setup.seq_len = seq;
    fitting += fits(flat) ? 1 : 0;
  }
  fmt::print("10,000 configurations estimated one by one, no search (seq 1..10,000, no advice): {:.1f} ms CPU, {:.1f} ms wall, "
             "{} fit\n", cpu_ms() - cpu0, ms_since(start), fitting);
}

}  // namespace

int main(int argc, char** argv) {
  const std::string binary = argc > 1 ? argv[1] : VRAMCALC_BINARY;
  bench_process(binary);
  bench_in_process();
  bench_fit();
  return 0;
}
