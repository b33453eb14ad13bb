// DeepSpeed: ds_config.json parsing (DeepSpeed defaults, HF/Accelerate "auto"), and
// DeepSpeed's own model-states estimators against the tables printed in its docs.
#include <catch2/catch.hpp>

#include <fmt/format.h>

#include <vramcalc/deepspeed.hpp>
#include <vramcalc/error.hpp>

using namespace vramcalc;

namespace {

const std::string kDir = std::string(VRAMCALC_SOURCE_DIR) + "/tests/data/ds_configs/";
constexpr std::uint64_t kHidden = 4096;  // Llama-3-8B / Mistral-7B hidden_size

// DeepSpeed prints f"{bytes/2**30:.2f}GB" (and MB tables as bytes >> 20).
std::string gb(Bytes bytes) { return fmt::format("{:.2f}GB", static_cast<double>(bytes) / (1ULL << 30)); }

DeepSpeedConfig load(const std::string& name) { return load_deepspeed_config(kDir + name, kHidden); }

std::string error_of(const std::string& name) {
  try {
    load_deepspeed_config(kDir + name, kHidden);
  } catch (const InputError& e) {
    return e.what();
  }
  return "(no error)";
}

bool has_warning(const DeepSpeedConfig& c, const std::string& fragment) {
  for (const auto& w : c.warnings) {
    if (w.find(fragment) != std::string::npos) return true;
  }
  return false;
}

}  // namespace

// ---------------------------------------------------------------------------------------------
// Estimators: the tables in DeepSpeed docs/code-docs/source/memory.rst.

TEST_CASE("ZeRO-3 cold estimate reproduces DeepSpeed's t5-3b table to the printed digit", "[deepspeed]") {
  // estimate_zero3_model_states_mem_needs_all_cold(total_params=2851e6, largest_layer_params=32e6,
  //                                                num_gpus_per_node=8, num_nodes=1)
  const auto rows = deepspeed_zero3_model_states_estimate(2'851'000'000, 32'000'000, 8, 1);
  REQUIRE(rows.size() == 6);
  const char* expected[6][3] = {
      {"71.69GB", "0.12GB", "offload_param=cpu , offload_optimizer=cpu , zero_init=1"},
      {"127.45GB", "0.12GB", "offload_param=cpu , offload_optimizer=cpu , zero_init=0"},
      {"63.72GB", "0.78GB", "offload_param=none, offload_optimizer=cpu , zero_init=1"},
      {"127.45GB", "0.78GB", "offload_param=none, offload_optimizer=cpu , zero_init=0"},
      {"1.43GB", "6.09GB", "offload_param=none, offload_optimizer=none, zero_init=1"},
      {"127.45GB", "6.09GB", "offload_param=none, offload_optimizer=none, zero_init=0"},
  };
  for (std::size_t i = 0; i < 6; ++i) {
    INFO("row " << i);
    CHECK(gb(rows[i].cpu_bytes) == expected[i][0]);
    CHECK(gb(rows[i].gpu_bytes) == expected[i][1]);
    CHECK(rows[i].options == expected[i][2]);
  }
  // Exact bytes, including the int() truncation of 18 * P / N and 2 * P / N.
  CHECK(rows[0].cpu_bytes == 76'977'000'000);  // 2851e6 * 18 * 1 * 1.5
  CHECK(rows[0].gpu_bytes == 128'000'000);     // 4 * 32e6
  CHECK(rows[2].gpu_bytes == 128'000'000 + 712'750'000);
  CHECK(rows[4].cpu_bytes == 1'536'000'000);   // 32e6 * 4 * 8 * 1.5
  CHECK(rows[4].gpu_bytes == 128'000'000 + 6'414'750'000);
}

TEST_CASE("ZeRO-3 GPU cases reproduce the t5-large example in MB", "[deepspeed]") {
  // memory.rst: t5-large (737.67M params, largest layer = shared embedding 32128 x 1024),
  // 4 GPUs: "largest layer memory: 125MB, case1 3291MB, case2 125MB, case3 477MB" (bytes >> 20).
  const auto rows = deepspeed_zero3_model_states_estimate(737'668'096, 32'128ULL * 1024, 4, 1);
  CHECK((4ULL * 32'128 * 1024) >> 20 == 125);
  CHECK((rows[4].gpu_bytes >> 20) == 3291);  // case 1: no offload
  CHECK((rows[0].gpu_bytes >> 20) == 125);   // case 2: offload params + optimizer
  CHECK((rows[2].gpu_bytes >> 20) == 477);   // case 3: offload optimizer
}

TEST_CASE("ZeRO-2 cold estimate follows the current code (2P + 18P/N)", "[deepspeed]") {
  const auto rows = deepspeed_zero2_model_states_estimate(2'851'000'000, 8, 1);
  REQUIRE(rows.size() == 2);
  CHECK(gb(rows[0].cpu_bytes) == "127.45GB");
  CHECK(gb(rows[0].gpu_bytes) == "5.31GB");
  CHECK(rows[0].options == "offload_optimizer=cpu");
  CHECK(gb(rows[1].cpu_bytes) == "127.45GB");
  // The docs print 15.93GB from the old 4P + 16P/N; DeepSpeed #5099 changed the code to 2P + 18P/N.
  CHECK(gb(rows[1].gpu_bytes) == "11.28GB");
  CHECK(rows[1].gpu_bytes == 5'702'000'000 + 6'414'750'000);
  CHECK(rows[1].options == "offload_optimizer=none");
}

TEST_CASE("DeepSpeed estimators on Llama-3-8B match the derived table", "[deepspeed]") {
  const std::uint64_t P = 8'030'261'248;
  const std::uint64_t L = 128'256ULL * 4096;  // embed_tokens / lm_head
  struct Layout {
    std::uint64_t nodes, per_node;
    const char *z3_po, *z3_o, *z3_none, *z2_o, *z2_none;
  };
  const Layout layouts[] = {
      {1, 1, "1.96GB", "16.91GB", "136.57GB", "14.96GB", "149.58GB"},
      {1, 8, "1.96GB", "3.83GB", "18.78GB", "14.96GB", "31.78GB"},
      {2, 8, "1.96GB", "2.89GB", "10.37GB", "14.96GB", "23.37GB"},
  };
  for (const auto& l : layouts) {
    INFO(l.nodes << " node(s) x " << l.per_node);
    const auto z3 = deepspeed_zero3_model_states_estimate(P, L, l.per_node, l.nodes);
    const auto z2 = deepspeed_zero2_model_states_estimate(P, l.per_node, l.nodes);
    CHECK(gb(z3[0].gpu_bytes) == l.z3_po);
    CHECK(gb(z3[2].gpu_bytes) == l.z3_o);
    CHECK(gb(z3[4].gpu_bytes) == l.z3_none);
    CHECK(gb(z2[0].gpu_bytes) == l.z2_o);
    CHECK(gb(z2[1].gpu_bytes) == l.z2_none);
  }
  // CPU, offload params + optimizer with zero.Init: 18 P / num_nodes * 1.5 per node.
  CHECK(gb(deepspeed_zero3_model_states_estimate(P, L, 1, 1)[0].cpu_bytes) == "201.93GB");
  CHECK(gb(deepspeed_zero3_model_states_estimate(P, L, 8, 1)[0].cpu_bytes) == "201.93GB");
  CHECK(gb(deepspeed_zero3_model_states_estimate(P, L, 8, 2)[0].cpu_bytes) == "100.96GB");
  // ZeRO-2 offload CPU uses max(4 * total GPUs, 16), not GPUs per node.
  CHECK(gb(deepspeed_zero2_model_states_estimate(P, 8, 2)[0].cpu_bytes) == "717.96GB");
}

TEST_CASE("DeepSpeed estimators: max() of int and float, and bad layouts", "[deepspeed]") {
  // zero_init=0 with param offload: max(4 * n, 18 / nodes). 1 GPU on 1 node: 18 > 4, float wins.
  const auto one = deepspeed_zero3_model_states_estimate(1'000'000, 1000, 1, 1);
  CHECK(one[1].cpu_bytes == 27'000'000);  // 1e6 * 18.0 * 1.5
  CHECK(one[3].cpu_bytes == 24'000'000);  // 1e6 * 16.0 * 1.5
  // 8 GPUs: 32 > 18, the int wins.
  const auto eight = deepspeed_zero3_model_states_estimate(1'000'000, 1000, 8, 1);
  CHECK(eight[1].cpu_bytes == 48'000'000);
  CHECK(eight[3].cpu_bytes == 48'000'000);
  // int(18 * P / N) truncates: 18 * 1000 / 7 = 2571.43 -> 2571.
  CHECK(deepspeed_zero3_model_states_estimate(1000, 0, 7, 1)[4].gpu_bytes == 2571);
  CHECK(deepspeed_zero2_model_states_estimate(1000, 7, 1)[1].gpu_bytes == 2000 + 2571);
  CHECK_THROWS_AS(deepspeed_zero3_model_states_estimate(1000, 10, 0, 1), InputError);
  CHECK_THROWS_AS(deepspeed_zero2_model_states_estimate(1000, 8, 0), InputError);
}

// ---------------------------------------------------------------------------------------------
// Defaults and "auto".

TEST_CASE("default ZeRO settings are DeepSpeed's", "[deepspeed]") {
  const ZeroSettings z2 = default_zero_settings(2, kHidden, false);
  CHECK(z2.stage == 2);
  CHECK(z2.reduce_bucket_size == 500'000'000);
  CHECK(z2.allgather_bucket_size == 500'000'000);
  CHECK(z2.stage3_prefetch_bucket_size == 50'000'000);
  CHECK(z2.stage3_param_persistence_threshold == 100'000);
  CHECK(z2.stage3_model_persistence_threshold == 9'223'372'036'854'775'807ULL);
  CHECK(z2.stage3_max_live_parameters == 1'000'000'000);
  CHECK(z2.stage3_max_reuse_distance == 1'000'000'000);
  CHECK(z2.sub_group_size == 1'000'000'000);
  CHECK_FALSE(z2.overlap_comm);  // None -> stage == 3
  CHECK(z2.contiguous_gradients);
  CHECK(z2.reduce_scatter);
  CHECK_FALSE(z2.grad_accum_dtype_fp32);
  CHECK_FALSE(z2.zero3_init);
  CHECK(z2.offload_optimizer.device == OffloadDevice::kNone);
  CHECK(z2.offload_optimizer.buffer_count == 4);
  CHECK(z2.offload_optimizer.ratio == 1.0);
  CHECK(z2.offload_param.buffer_count == 5);
  CHECK(z2.offload_param.buffer_size == 100'000'000);
  CHECK(z2.offload_param.max_in_cpu == 1'000'000'000);

  const ZeroSettings z3 = default_zero_settings(3, kHidden, false);
  CHECK(z3.overlap_comm);
  CHECK(z3.zero3_init);
  CHECK(z3.reduce_bucket_size == 500'000'000);

  CHECK_THROWS_WITH(default_zero_settings(4, kHidden, false), "layout.zero.stage: '4': expected an integer 0-3");
  CHECK_THROWS_AS(default_zero_settings(3, 0, true), InputError);
}

TEST_CASE("HF/Accelerate auto values from hidden_size", "[deepspeed]") {
  const ZeroSettings z3 = default_zero_settings(3, kHidden, true);
  CHECK(z3.reduce_bucket_size == 16'777'216);                 // h * h
  CHECK(z3.stage3_prefetch_bucket_size == 15'099'494);        // int(0.9 * h * h) = int(15099494.4)
  CHECK(z3.stage3_param_persistence_threshold == 40'960);     // 10 * h
  // HF fills the two stage3_ keys only for ZeRO-3.
  const ZeroSettings z2 = default_zero_settings(2, kHidden, true);
  CHECK(z2.reduce_bucket_size == 16'777'216);
  CHECK(z2.stage3_prefetch_bucket_size == 50'000'000);
  CHECK(z2.stage3_param_persistence_threshold == 100'000);
  // Other sizes: Llama-3-70B (8192), Qwen2.5-7B (3584).
  CHECK(default_zero_settings(3, 8192, true).stage3_prefetch_bucket_size == 60'397'977);
  CHECK(default_zero_settings(3, 3584, true).stage3_prefetch_bucket_size == 11'560'550);
}

TEST_CASE("offload device names", "[deepspeed]") {
  CHECK(parse_offload_device("none") == OffloadDevice::kNone);
  CHECK(parse_offload_device("cpu") == OffloadDevice::kCpu);
  CHECK(parse_offload_device("NVMe") == OffloadDevice::kNvme);
  CHECK(std::string(to_string(OffloadDevice::kNvme)) == "nvme");
  CHECK_THROWS_WITH(parse_offload_device("gpu", "--offload-optimizer"),
                    "--offload-optimizer: 'gpu': expected none, cpu or nvme");
}

// ---------------------------------------------------------------------------------------------
// Config corpus.

TEST_CASE("HF ZeRO-2 config with auto values", "[deepspeed][config]") {
  const DeepSpeedConfig c = load("hf_zero2_auto.json");
  CHECK(c.zero.stage == 2);
  CHECK(c.zero.reduce_bucket_size == 16'777'216);
  CHECK(c.zero.allgather_bucket_size == 500'000'000);
  CHECK(c.zero.stage3_prefetch_bucket_size == 50'000'000);
  CHECK(c.zero.overlap_comm);
  CHECK(c.zero.reduce_scatter);
  CHECK(c.zero.contiguous_gradients);
  CHECK(c.zero.offload_optimizer.device == OffloadDevice::kNone);
  CHECK_FALSE(c.zero.zero3_init);
  CHECK_FALSE(c.bf16.has_value());
  CHECK_FALSE(c.fp16.has_value());
  CHECK_FALSE(c.micro_batch.has_value());
  CHECK_FALSE(c.grad_accum.has_value());
  CHECK(c.warnings.empty());
  CHECK(c.origin == kDir + "hf_zero2_auto.json");
}

TEST_CASE("HF ZeRO-2 config with CPU optimizer offload and 2e8 buckets", "[deepspeed][config]") {
  const DeepSpeedConfig c = load("hf_zero2_offload.json");
  CHECK(c.zero.stage == 2);
  CHECK(c.zero.reduce_bucket_size == 200'000'000);
  CHECK(c.zero.allgather_bucket_size == 200'000'000);
  CHECK(c.zero.offload_optimizer.device == OffloadDevice::kCpu);
  CHECK(c.zero.offload_optimizer.pin_memory);
  CHECK(c.zero.offload_param.device == OffloadDevice::kNone);
  CHECK(c.warnings.empty());
}

TEST_CASE("HF ZeRO-3 config with auto values", "[deepspeed][config]") {
  const DeepSpeedConfig c = load("hf_zero3_auto.json");
  CHECK(c.zero.stage == 3);
  CHECK(c.zero.reduce_bucket_size == 16'777'216);
  CHECK(c.zero.stage3_prefetch_bucket_size == 15'099'494);
  CHECK(c.zero.stage3_param_persistence_threshold == 40'960);
  CHECK(c.zero.stage3_max_live_parameters == 1'000'000'000);
  CHECK(c.zero.stage3_max_reuse_distance == 1'000'000'000);
  CHECK(c.zero.sub_group_size == 1'000'000'000);
  CHECK(c.zero.overlap_comm);
  CHECK(c.zero.zero3_init);
  CHECK(c.zero.offload_optimizer.device == OffloadDevice::kNone);
  CHECK(c.zero.offload_param.device == OffloadDevice::kNone);
  CHECK(c.warnings.empty());

  // Without a hidden size, "auto" falls back to DeepSpeed's defaults, with warnings.
  const DeepSpeedConfig unknown = load_deepspeed_config(kDir + "hf_zero3_auto.json", 0);
  CHECK(unknown.zero.reduce_bucket_size == 500'000'000);
  CHECK(unknown.zero.stage3_prefetch_bucket_size == 50'000'000);
  CHECK(unknown.zero.stage3_param_persistence_threshold == 100'000);
  CHECK(unknown.warnings.size() == 3);
  CHECK(has_warning(unknown, "zero_optimization.reduce_bucket_size: \"auto\" needs the model's hidden_size"));
}

TEST_CASE("HF ZeRO-3 config with CPU offload of optimizer and params", "[deepspeed][config]") {
  const DeepSpeedConfig c = load("hf_zero3_offload_cpu.json");
  CHECK(c.zero.stage == 3);
  CHECK(c.zero.offload_optimizer.device == OffloadDevice::kCpu);
  CHECK(c.zero.offload_optimizer.pin_memory);
  CHECK(c.zero.offload_param.device == OffloadDevice::kCpu);
  CHECK(c.zero.offload_param.pin_memory);
  CHECK(c.zero.reduce_bucket_size == 16'777'216);
  CHECK(c.zero.stage3_prefetch_bucket_size == 15'099'494);
  CHECK(c.zero.stage3_param_persistence_threshold == 40'960);
  CHECK(c.bf16 == true);
  CHECK_FALSE(c.fp16.has_value());
  CHECK(c.micro_batch == 2u);
  CHECK(c.grad_accum == 4u);
  CHECK(c.warnings.empty());
}

TEST_CASE("HF ZeRO-3 config with NVMe offload", "[deepspeed][config]") {
  const DeepSpeedConfig c = load("hf_zero3_nvme.json");
  CHECK(c.zero.offload_optimizer.device == OffloadDevice::kNvme);
  CHECK(c.zero.offload_optimizer.nvme_path == "/local_nvme");
  CHECK(c.zero.offload_optimizer.buffer_count == 4);
  CHECK(c.zero.offload_param.device == OffloadDevice::kNvme);
  CHECK(c.zero.offload_param.nvme_path == "/local_nvme");
  CHECK(c.zero.offload_param.buffer_count == 5);
  CHECK(c.zero.offload_param.buffer_size == 100'000'000);
  CHECK(c.zero.offload_param.max_in_cpu == 1'000'000'000);
  CHECK(c.warnings.empty());  // "aio" is a DeepSpeed top-level key
}

TEST_CASE("Accelerate-style minimal config", "[deepspeed][config]") {
  const DeepSpeedConfig c = load("accelerate_minimal.json");
  CHECK(c.zero.stage == 3);
  CHECK(c.zero.offload_optimizer.device == OffloadDevice::kNone);
  CHECK(c.zero.offload_param.device == OffloadDevice::kNone);
  CHECK(c.zero.offload_param.nvme_path.empty());
  // Not "auto" in the file, so DeepSpeed's defaults stand.
  CHECK(c.zero.reduce_bucket_size == 500'000'000);
  CHECK(c.zero.stage3_prefetch_bucket_size == 50'000'000);
  CHECK(c.zero.overlap_comm);
  CHECK(c.bf16 == true);
  CHECK(c.fp16 == false);
  CHECK(c.grad_accum == 1u);
  CHECK_FALSE(c.micro_batch.has_value());
  CHECK(c.warnings.empty());
}

TEST_CASE("numbers written as 5e8 floats are read as integers", "[deepspeed][config]") {
  const DeepSpeedConfig c = load("floats_5e8.json");
  CHECK(c.zero.reduce_bucket_size == 500'000'000);
  CHECK(c.zero.allgather_bucket_size == 250'000'000);
  CHECK(c.zero.stage3_prefetch_bucket_size == 50'000'000);
  CHECK(c.zero.stage3_param_persistence_threshold == 100'000);
  CHECK(c.zero.stage3_model_persistence_threshold == 10'000'000'000);
  CHECK(c.zero.stage3_max_live_parameters == 3'000'000'000);
  CHECK(c.zero.stage3_max_reuse_distance == 3'000'000'000);
  CHECK(c.zero.sub_group_size == 100'000'000);
  CHECK_FALSE(c.zero.overlap_comm);  // explicit false overrides the stage-3 default
  CHECK_FALSE(c.zero.contiguous_gradients);
  CHECK_FALSE(c.zero.reduce_scatter);
  CHECK(c.zero.grad_accum_dtype_fp32);
  CHECK(c.communication_data_type == std::string("fp32"));
  CHECK(c.micro_batch == 4u);
  CHECK(c.grad_accum == 8u);
  CHECK(c.warnings.empty());
}

TEST_CASE("legacy cpu_offload boolean", "[deepspeed][config]") {
  const DeepSpeedConfig c = load("legacy_cpu_offload.json");
  CHECK(c.zero.stage == 2);
  CHECK(c.zero.offload_optimizer.device == OffloadDevice::kCpu);
  CHECK(c.zero.offload_param.device == OffloadDevice::kNone);
  CHECK(c.zero.overlap_comm);
  CHECK(c.fp16 == true);
  CHECK(c.micro_batch == 8u);
  CHECK(has_warning(c, "zero_optimization.cpu_offload: deprecated"));
  CHECK(has_warning(c, "zero_optimization.cpu_offload_use_pin_memory: deprecated and ignored"));
}

TEST_CASE("axolotl ZeRO-3 bf16 config (zero sub-group and live-parameter limits)", "[deepspeed][config]") {
  const DeepSpeedConfig c = load("axolotl_zero3_bf16.json");
  CHECK(c.zero.stage == 3);
  CHECK(c.zero.sub_group_size == 0);
  CHECK(c.zero.stage3_max_live_parameters == 0);
  CHECK(c.zero.stage3_max_reuse_distance == 0);
  CHECK(c.zero.reduce_bucket_size == 16'777'216);
  CHECK(c.bf16 == true);
  CHECK_FALSE(c.fp16.has_value());
  CHECK(c.warnings.empty());
}

TEST_CASE("unknown keys are warnings, not errors", "[deepspeed][config]") {
  const DeepSpeedConfig c = load("unknown_keys.json");
  CHECK(c.zero.stage == 1);
  CHECK(c.zero.offload_optimizer.device == OffloadDevice::kCpu);
  CHECK_FALSE(c.zero.offload_optimizer.pin_memory);
  CHECK(c.warnings.size() == 4);
  CHECK(has_warning(c, "my_launcher_notes: unknown key, ignored (not a DeepSpeed config key)"));
  CHECK(has_warning(c, "zero_optimization.stage3_prefech_bucket_size: unknown key"));
  CHECK(has_warning(c, "did you mean 'stage3_prefetch_bucket_size'?"));
  CHECK(has_warning(c, "zero_optimization.offload_optimizer.numa_node: unknown key"));
  CHECK(has_warning(c, "zero_optimization.zero_hpz_partition_size = 8"));
}

TEST_CASE("settings DeepSpeed ignores are reset, with a warning", "[deepspeed][config]") {
  const DeepSpeedConfig c = parse_deepspeed_config(
      R"({"zero_optimization": {"stage": 2, "offload_param": {"device": "cpu"}}})", "inline.json", kHidden);
  CHECK(c.zero.offload_param.device == OffloadDevice::kNone);
  CHECK(has_warning(c, "zero_optimization.offload_param: device cpu is used only by ZeRO stage 3"));

  const DeepSpeedConfig legacy = parse_deepspeed_config(R"({"zero_optimization": true})", "inline.json", kHidden);
  CHECK(legacy.zero.stage == 1);
  CHECK(legacy.warnings.size() == 1);

  const DeepSpeedConfig none = parse_deepspeed_config("{}", "inline.json", kHidden);
  CHECK(none.zero.stage == 0);
  CHECK(none.warnings.empty());
}

TEST_CASE("malformed configs give one-line errors naming the key and value", "[deepspeed][config]") {
  CHECK(error_of("bad/syntax.json") ==
        "ds_config: '" + kDir + "bad/syntax.json': malformed JSON at line 4, column 18");
  CHECK(error_of("bad/stage_three.json") ==
        "zero_optimization.stage: 'three': expected an integer 0-3 in " + kDir + "bad/stage_three.json");
  CHECK(error_of("bad/offload_gpu.json") == "zero_optimization.offload_optimizer.device: 'gpu': expected none, cpu "
                                            "or nvme in " + kDir + "bad/offload_gpu.json");
  CHECK(error_of("bad/negative_bucket.json") ==
        "zero_optimization.reduce_bucket_size: '-1': expected a non-negative integer in " + kDir +
            "bad/negative_bucket.json");
  CHECK(error_of("bad/fractional_bucket.json") ==
        "zero_optimization.stage3_prefetch_bucket_size: '15099494.4': expected a non-negative integer in " + kDir +
            "bad/fractional_bucket.json");
  CHECK(error_of("bad/partial_offload_stage2.json") ==
        "zero_optimization.offload_optimizer.ratio: '0.3': partial offload (ratio < 1) needs ZeRO stage 3 "
        "(DeepSpeed asserts this) in " + kDir + "bad/partial_offload_stage2.json");
  CHECK(error_of("bad/legacy_and_new_offload.json") ==
        "zero_optimization.cpu_offload: 'true': cannot be given together with zero_optimization.offload_optimizer "
        "(DeepSpeed rejects this) in " + kDir + "bad/legacy_and_new_offload.json");
  CHECK(error_of("bad/bf16_and_fp16.json") ==
        "bf16.enabled: 'true': bf16 and fp16 cannot both be enabled (DeepSpeed rejects this) in " + kDir +
            "bad/bf16_and_fp16.json");
  CHECK(error_of("bad/micro_batch_zero.json") ==
        "train_micro_batch_size_per_gpu: '0': expected a positive integer or \"auto\" in " + kDir +
            "bad/micro_batch_zero.json");
  CHECK(error_of("no_such_file.json") == "ds_config: '" + kDir + "no_such_file.json': cannot open this file (No such file or directory)");
  for (const char* name : {"bad/syntax.json", "bad/stage_three.json", "bad/offload_gpu.json",
                           "bad/negative_bucket.json"}) {
    CHECK(error_of(name).find('\n') == std::string::npos);
  }
}

TEST_CASE("wrong types name the key path", "[deepspeed][config]") {
  auto error = [](const std::string& text) {
    try {
      parse_deepspeed_config(text, "ds.json", kHidden);
    } catch (const InputError& e) {
      return std::string(e.what());
    }
    return std::string("(no error)");
  };
  CHECK(error(R"({"zero_optimization": {"stage": 3, "overlap_comm": "yes"}})") ==
        "zero_optimization.overlap_comm: 'yes': expected true or false in ds.json");
  CHECK(error(R"({"zero_optimization": {"stage": 3.5}})") ==
        "zero_optimization.stage: '3.5': expected an integer 0-3 in ds.json");
  CHECK(error(R"({"zero_optimization": {"stage": 3, "offload_param": "cpu"}})") ==
        "zero_optimization.offload_param: 'cpu': expected a JSON object in ds.json");
  CHECK(error(R"({"bf16": {"enabled": 1}})") == "bf16.enabled: '1': expected true or false in ds.json");
  CHECK(error(R"({"data_types": {"grad_accum_dtype": "int8"}})") ==
        "data_types.grad_accum_dtype: 'int8': expected fp32, fp16 or bf16 in ds.json");
  CHECK(error("[1, 2]") == "ds_config: 'ds.json': expected a JSON object (a DeepSpeed ds_config.json)");
}

TEST_CASE("recognised keys vramcalc does not use are still type-checked", "[deepspeed][config][hardening]") {
  auto error = [](const std::string& text) {
    try {
      parse_deepspeed_config(text, "ds.json", kHidden);
    } catch (const InputError& e) {
      return std::string(e.what());
    }
    return std::string("(no error)");
  };
  CHECK(error(R"({"fp16": {"enabled": true, "loss_scale": "abc"}})") ==
        "fp16.loss_scale: 'abc': expected a non-negative number in ds.json");
  CHECK(error(R"({"fp16": {"loss_scale_window": 0}})") ==
        "fp16.loss_scale_window: '0': expected a positive integer or \"auto\" in ds.json");
  CHECK(error(R"({"bf16": {"enabled": true, "immediate_grad_update": "yes"}})") ==
        "bf16.immediate_grad_update: 'yes': expected true or false in ds.json");
  CHECK(error(R"({"gradient_clipping": "big"})") == "gradient_clipping: 'big': expected a non-negative number in ds.json");
  CHECK(error(R"({"train_batch_size": -8})") ==
        "train_batch_size: '-8': expected a positive integer or \"auto\" in ds.json");
  CHECK(error(R"({"optimizer": {"type": 1}})") == "optimizer.type: '1': expected a string in ds.json");
  CHECK(error(R"({"scheduler": {"type": "WarmupLR", "params": []}})") ==
        "scheduler.params: '[]': expected a JSON object in ds.json");
  CHECK(error(R"({"wandb": true})") == "wandb: 'true': expected a JSON object in ds.json");
  CHECK(error(R"({"zero_optimization": {"stage": 3, "round_robin_gradients": 1}})") ==
        "zero_optimization.round_robin_gradients: '1': expected true or false in ds.json");
  CHECK(error(R"({"zero_optimization": {"stage": 3, "offload_optimizer": {"device": "cpu", "fast_init": "no"}}})") ==
        "zero_optimization.offload_optimizer.fast_init: 'no': expected true or false in ds.json");
  // "auto" and null stay accepted, as HF fills or DeepSpeed defaults them.
  CHECK(error(R"({"gradient_clipping": "auto", "fp16": {"enabled": "auto", "loss_scale": 0}, "steps_per_print": null,
                 "zero_optimization": {"mics_shard_size": -1}})") == "(no error)");
}
