// Errors of the core library name field ids and JSON key paths, never a command-line flag.
#include <catch2/catch.hpp>

#include <functional>

#include "cli/app.hpp"
#include <vramcalc/deepspeed.hpp>
#include <vramcalc/vramcalc.hpp>

using namespace vramcalc;

namespace {

InputError caught(const std::function<void()>& f) {
  try {
    f();
  } catch (const InputError& e) {
    return e;
  }
  FAIL("no InputError thrown");
  return InputError("", "", "");
}

EstimateInputs small() {
  EstimateInputs in;
  in.model = resolve_model("llama-3.2-1b");
  return in;
}

}  // namespace

TEST_CASE("core errors carry field ids and no command-line wording", "[errors]") {
  struct Case {
    const char* id;
    std::function<void()> f;
  };
  const std::vector<Case> cases{
      {field::kPrecision, [] { parse_precision("fp16"); }},
      {field::kOptimizer, [] { parse_optimizer("adam"); }},
      {field::kAttention, [] { parse_attention("flash"); }},
      {field::kGradCkpt, [] { parse_grad_ckpt("yes"); }},
      {field::kLoss, [] { parse_loss("ce"); }},
      {field::kGpu, [] { find_gpu("a100"); }},
      {field::kInterconnect, [] { parse_interconnect("ethernet"); }},
      {field::kModel, [] { resolve_model("llama-8"); }},
      {field::kModel, [] { resolve_model("/nonexistent/config.json"); }},
      {field::kModel, [] { resolve_model(""); }},
      {field::kZeroStage, [] { default_zero_settings(4, 4096, false); }},
      {field::kSeqLen, [] { auto in = small(); in.setup.seq_len = 0; estimate(in); }},
      {field::kMicroBatch, [] { auto in = small(); in.setup.micro_batch = 0; estimate(in); }},
      {field::kGradAccum, [] { auto in = small(); in.setup.grad_accum = 0; estimate(in); }},
      {field::kLossChunks, [] { auto in = small(); in.setup.loss_chunks = 0; estimate(in); }},
      {field::kFragmentation, [] { auto in = small(); in.setup.fragmentation = 2.0; estimate(in); }},
      {field::kGpus, [] { auto in = small(); in.layout.gpus = 0; estimate(in); }},
      {field::kGpusPerNode, [] { auto in = small(); in.layout.gpus_per_node = 0; estimate(in); }},
      {field::kOffloadParam,
       [] { auto in = small(); in.layout.zero.offload_param.device = OffloadDevice::kCpu; estimate(in); }},
      {field::kOffloadOptimizer,
       [] { auto in = small(); in.layout.zero.offload_optimizer.device = OffloadDevice::kCpu; estimate(in); }},
      {field::kDsConfig, [] { load_deepspeed_config("/nonexistent/ds.json", 4096); }},
      {field::kDsConfig, [] { parse_deepspeed_config("[]", "ds.json", 4096); }},
      {"ds_config.zero_optimization.stage",
       [] { parse_deepspeed_config(R"({"zero_optimization": {"stage": 7}})", "ds.json", 4096); }},
      {"config.num_hidden_layers", [] { parse_model_config(R"({"model_type": "llama", "hidden_size": 8})", "c.json"); }},
  };
  for (const auto& c : cases) {
    const InputError e = caught(c.f);
    INFO(e.what());
    CHECK(e.field() == c.id);
    CHECK(std::string(e.what()).find("--") == std::string::npos);
    CHECK(std::string(e.what()).find("`vramcalc") == std::string::npos);
  }
}

TEST_CASE("config and ds_config errors name the key path written in the file", "[errors]") {
  const InputError ds = caught([] { parse_deepspeed_config(R"({"zero_optimization": {"stage": 7}})", "ds.json", 4096); });
  CHECK(ds.field() == "ds_config.zero_optimization.stage");
  CHECK(ds.value() == "7");
  CHECK(std::string(ds.what()) == "zero_optimization.stage: '7': expected an integer 0-3 in ds.json");
  const InputError cfg = caught([] { parse_model_config(R"({"model_type": "llama", "hidden_size": 8})", "c.json"); });
  CHECK(cfg.field() == "config.num_hidden_layers");
  CHECK(std::string(cfg.what()) == "num_hidden_layers: '(missing)': required field missing in c.json");
}

TEST_CASE("the CLI maps field ids to its flags", "[errors][cli]") {
  using vramcalc::cli::flag_for;
  CHECK(flag_for(field::kSeqLen) == "--seq");
  CHECK(flag_for(field::kMicroBatch) == "--batch");
  CHECK(flag_for(field::kOffloadParam) == "--offload-params");
  CHECK(flag_for(field::kNcclChannels) == "--nccl-channels");
  CHECK(flag_for(field::kDsConfig) == "--deepspeed");
  CHECK(flag_for("ds_config.zero_optimization.stage") == "zero_optimization.stage");
  CHECK(flag_for("config.num_hidden_layers") == "num_hidden_layers");
  const InputError e = caught([] { find_gpu("a100"); });
  CHECK_THAT(vramcalc::cli::error_line(e), Catch::StartsWith("--gpu: 'a100': unknown GPU") &&
                                               Catch::EndsWith("See `vramcalc gpus`, or give --gpu-mem SIZE."));
}
