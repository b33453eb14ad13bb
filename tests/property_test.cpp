// Properties over random valid inputs (fixed seed, so every run checks the same cases), and
// random invalid command lines against the real binary.
#include <catch2/catch.hpp>

#include <algorithm>
#include <cctype>
#include <fcntl.h>
#include <filesystem>
#include <fstream>
#include <random>
#include <sstream>
#include <sys/wait.h>
#include <unistd.h>

#include "invariants.hpp"
#include <vramcalc/vramcalc.hpp>

using namespace vramcalc;

namespace {

template <typename T, std::size_t N>
T pick(std::mt19937_64& rng, const T (&options)[N]) {
  return options[std::uniform_int_distribution<std::size_t>(0, N - 1)(rng)];
}

std::uint64_t between(std::mt19937_64& rng, std::uint64_t lo, std::uint64_t hi) {
  return std::uniform_int_distribution<std::uint64_t>(lo, hi)(rng);
}

// A random setup the CLI would accept (ranges within its bounds, layouts DeepSpeed accepts).
EstimateInputs random_inputs(std::mt19937_64& rng) {
  // Encoder-decoders (T5) are refused by estimates until their activations are modelled (t5_test.cpp).
  static const std::vector<BuiltinModel> models = [] {
    std::vector<BuiltinModel> out;
    for (const auto& b : builtin_models()) {
      if (!b.config.encoder_decoder()) out.push_back(b);
    }
    return out;
  }();
  EstimateInputs in;
  in.model = models[between(rng, 0, models.size() - 1)].config;
  in.with_advice = false;
  in.setup.seq_len = between(rng, 1, 32768);
  in.setup.micro_batch = between(rng, 1, 16);
  in.setup.grad_accum = between(rng, 1, 8);
  const Precision precisions[] = {Precision::kFp32, Precision::kAmp, Precision::kMixed, Precision::kBf16};
  const Optimizer optimizers[] = {Optimizer::kAdamW, Optimizer::kAdamWFused, Optimizer::kAdamW8bit, Optimizer::kSgd,
                                  Optimizer::kSgdMomentum, Optimizer::kAdafactor, Optimizer::kLion};
  const Attention attentions[] = {Attention::kEager, Attention::kSdpa};
  const GradCkpt ckpts[] = {GradCkpt::kNone, GradCkpt::kFull, GradCkpt::kSelective, GradCkpt::kOpSac};
  const LossImpl losses[] = {LossImpl::kFull, LossImpl::kChunked, LossImpl::kFused};
  in.setup.precision = pick(rng, precisions);
  in.setup.optimizer = pick(rng, optimizers);
  in.setup.attention = pick(rng, attentions);
  in.setup.grad_ckpt = pick(rng, ckpts);
  if (in.model.num_experts > 0 && in.setup.grad_ckpt == GradCkpt::kOpSac) in.setup.grad_ckpt = GradCkpt::kFull;  // refused for MoE
  in.setup.loss = pick(rng, losses);
  if (in.model.head == ModelHead::kSeqCls) in.setup.loss = LossImpl::kFull;  // b × num_labels logits: one loss
  in.setup.loss_chunks = between(rng, 1, 32);
  in.setup.explicit_mask = between(rng, 0, 1) == 1;
  in.setup.fragmentation = static_cast<double>(between(rng, 0, 200)) / 1000.0;
  const std::uint64_t per_node[] = {1, 2, 4, 8};
  in.layout.gpus_per_node = pick(rng, per_node);
  in.layout.gpus = between(rng, 0, 1) ? in.layout.gpus_per_node * between(rng, 1, 16) : between(rng, 1, in.layout.gpus_per_node);
  const int stage = static_cast<int>(between(rng, 0, 3));
  in.layout.zero = default_zero_settings(stage, in.model.hidden_size, between(rng, 0, 1) == 1);
  const OffloadDevice devices[] = {OffloadDevice::kNone, OffloadDevice::kCpu, OffloadDevice::kNvme};
  if (stage > 0) in.layout.zero.offload_optimizer.device = pick(rng, devices);
  if (stage == 3) in.layout.zero.offload_param.device = pick(rng, devices);
  if (stage == 3 && between(rng, 0, 1)) in.layout.zero.zero3_init = false;
  const Interconnect fabrics[] = {Interconnect::kAuto, Interconnect::kNvlink, Interconnect::kPcie, Interconnect::kIb,
                                  Interconnect::kEfa};
  in.layout.interconnect = pick(rng, fabrics);
  if (between(rng, 0, 3) == 0) in.layout.nccl_channels = between(rng, 1, 64);
  if (between(rng, 0, 1)) in.gpu = gpu_catalog()[between(rng, 0, gpu_catalog().size() - 1)];
  if (between(rng, 0, 3) == 0) in.memory_budget = between(rng, 1, 1ULL << 50);
  if (between(rng, 0, 3) == 0) in.cpu_memory_budget = between(rng, 1, 1ULL << 50);
  return in;
}

Bytes model_states(const Estimate& est) {
  Bytes sum = 0;
  for (const auto& c : est.components) {
    if (c.id == ComponentId::kWeights || c.id == ComponentId::kMasterWeights || c.id == ComponentId::kGradients ||
        c.id == ComponentId::kOptimizerStates) {
      sum += c.max_bytes;
    }
  }
  return sum;
}

}  // namespace

TEST_CASE("properties hold over 10,000 random valid setups", "[property]") {
  std::mt19937_64 rng(20261203);
  std::size_t checked = 0;
  for (int i = 0; i < 10000; ++i) {
    const EstimateInputs in = random_inputs(rng);
    Estimate est;
    try {
      est = estimate(in);
    } catch (const InputError& e) {
      FAIL("in-range setup " << i << " threw: " << e.what());
    }
    INFO("setup " << i << ": " << in.model.name << " seq " << in.setup.seq_len << " batch " << in.setup.micro_batch
                  << " zero " << in.layout.zero.stage << " gpus " << in.layout.gpus);
    const std::string problem = testing::estimate_problem(est);
    if (!problem.empty()) FAIL(problem);

    // Monotonic: one more sequence in the batch, or more tokens per sequence, never lowers a total.
    EstimateInputs more = in;
    if (i % 2 == 0) {
      more.setup.micro_batch += 1;
    } else {
      more.setup.seq_len += between(rng, 1, 1024);
    }
    const Estimate bigger = estimate(more);
    if (bigger.peak_allocated < est.peak_allocated || bigger.device_total < est.device_total) {
      FAIL("more tokens lowered the peak: " << est.device_total << " -> " << bigger.device_total << " ("
                                            << (i % 2 == 0 ? "batch" : "seq") << ")");
    }

    // Sharding: twice the ZeRO ranks never grows a rank's model states.
    if (in.layout.zero.stage > 0) {
      EstimateInputs wider = in;
      wider.layout.gpus *= 2;
      wider.layout.gpus_per_node = std::min<std::uint64_t>(wider.layout.gpus, 8);
      if (wider.layout.gpus % wider.layout.gpus_per_node != 0) wider.layout.gpus_per_node = 1;
      const Bytes before = model_states(est);
      const Bytes after = model_states(estimate(wider));
      if (after > before) FAIL("more ranks grew model states: " << before << " -> " << after);
    }
    ++checked;
  }
  CHECK(checked == 10000);
}

namespace {

struct Run {
  int code = -1;
  std::string err;
};

// Runs the binary with exactly these argv words (no shell), stdout discarded.
Run run_binary(const std::vector<std::string>& args) {
  const std::filesystem::path dir = std::filesystem::path(VRAMCALC_TEST_SCRATCH) / "property";
  std::filesystem::create_directories(dir);
  const std::string err_path = (dir / ("stderr_" + std::to_string(getpid()))).string();
  const pid_t pid = fork();
  if (pid == 0) {
    const int null = open("/dev/null", O_RDWR);
    const int err = open(err_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    dup2(null, 0);
    dup2(null, 1);
    dup2(err, 2);
    std::vector<char*> argv;
    std::string binary = VRAMCALC_BINARY;
    argv.push_back(binary.data());
    std::vector<std::string> copy = args;
    for (auto& a : copy) argv.push_back(a.data());
    argv.push_back(nullptr);
    execv(binary.c_str(), argv.data());
    _exit(127);
  }
  int status = 0;
  waitpid(pid, &status, 0);
  Run r;
  r.code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  std::ifstream in(err_path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  r.err = ss.str();
  std::filesystem::remove(err_path);
  return r;
}

}  // namespace

TEST_CASE("random invalid command lines exit 2 with one clean stderr line", "[property][cli]") {
  std::mt19937_64 rng(7);
  const char* flags[] = {"--seq", "--batch", "--grad-accum", "--precision", "--optimizer", "--attention",
                         "--grad-ckpt", "--loss", "--mask", "--loss-chunks", "--gpu", "--gpu-mem", "--cuda-context",
                         "--fragmentation", "--zero", "--gpus", "--gpus-per-node", "--offload-optimizer",
                         "--offload-params", "--load-dtype", "--interconnect", "--nccl-channels", "--cpu-mem",
                         "--deepspeed", "--format", "--units", "--color"};
  const char* bad_values[] = {"", "-1", "0", "0x10", "1e400", "nan", "inf", "99999999999999999999999", "1.5.5",
                              "abc", " 5", "5 ", "40", "0.1B", "\n", "\x1b[31m", "\xff\xfe", "../../etc",
                              "/dev/zero", "/", "4611686018427387904", "1e3GB", "-0", "+5", "５"};
  int valid = 0;
  for (int i = 0; i < 300; ++i) {
    std::vector<std::string> args{"--model", "llama-3.2-1b"};
    const std::string flag = pick(rng, flags);
    std::string value = pick(rng, bad_values);
    // Some values are valid for some flags ("40" for --seq, "/" ...): append junk to make them invalid.
    if (between(rng, 0, 1)) value += std::string(1, static_cast<char>(between(rng, 1, 255)));
    args.push_back(flag);
    args.push_back(value);
    const Run r = run_binary(args);
    INFO(flag << " [" << value << "] -> " << r.code << ": " << r.err);
    if (r.code == 0 || r.code == 1) {
      ++valid;  // a value that happens to be valid for this flag ("40" for --seq)
      continue;
    }
    CHECK(r.code == 2);
    CHECK(std::count(r.err.begin(), r.err.end(), '\n') == 1);
    CHECK(testing::one_line_problem(r.err.substr(0, r.err.size() - 1)).empty());
  }
  CHECK(valid < 30);  // nearly all are invalid
}
