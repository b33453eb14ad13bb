// End to end: the real binary, its exit codes, streams and error lines.
#include <catch2/catch.hpp>

#include <fstream>

#include <nlohmann/json.hpp>

#include "cli_run.hpp"

namespace {

// Tests write only under the build tree.
std::filesystem::path scratch_dir() { return vramcalc_test::scratch("cli"); }

using Result = vramcalc_test::RunResult;

// Runs the vramcalc binary with `args` (shell words), capturing stdout and stderr apart.
Result vramcalc_run(const std::string& args) { return vramcalc_test::run_vramcalc(args); }

// One line on stderr, prefixed, naming the field; nothing on stdout; exit 2.
void expect_input_error(const std::string& args, const std::string& expected) {
  INFO(args);
  const Result r = vramcalc_run(args);
  CHECK(r.code == 2);
  CHECK(r.out.empty());
  CHECK(r.err.rfind("vramcalc: error: ", 0) == 0);
  CHECK(std::count(r.err.begin(), r.err.end(), '\n') == 1);
  CHECK_THAT(r.err, Catch::Contains(expected));
}

// A config file under the build tree, named per process (tests run in parallel), removed
// when the object goes out of scope.
struct TempFile {
  std::string path;
  TempFile(const std::string& name, const std::string& text)
      : path((scratch_dir() / (std::to_string(getpid()) + "_" + name)).string()) {
    std::ofstream(path) << text;
  }
  ~TempFile() { std::remove(path.c_str()); }
  TempFile(const TempFile&) = delete;
  TempFile& operator=(const TempFile&) = delete;
};

}  // namespace

TEST_CASE("the README's first command prints a breakdown and exits 0", "[cli]") {
  const Result r = vramcalc_run("--model llama-8b --seq 8192");
  CHECK(r.code == 0);
  CHECK(r.err.empty());
  CHECK_THAT(r.out, Catch::Contains("8,030,261,248 parameters"));
  CHECK_THAT(r.out, Catch::Contains("weights") && Catch::Contains("optimizer_states") && Catch::Contains("GiB"));
  CHECK(r.out.find("\033[") == std::string::npos);  // no colour when stdout is not a terminal
}

TEST_CASE("JSON carries the documented fields in integer bytes", "[cli][json]") {
  const Result r = vramcalc_run("estimate --model llama-8b --seq 8192 --gpu a100-40gb --format json");
  CHECK(r.code == 1);  // 8B full fine-tuning does not fit in 40 GB
  const auto j = nlohmann::json::parse(r.out);
  CHECK(j["schema_version"] == 1);
  CHECK(j["model"]["name"] == "llama-3-8b");
  CHECK(j["model"]["parameters"] == 8030261248ULL);
  CHECK(j["inputs"]["seq_len"] == 8192);
  CHECK(j["inputs"]["precision"] == "mixed");
  std::vector<std::string> names;
  for (const auto& c : j["components"]) {
    names.push_back(c["name"]);
    CHECK(c["bytes"].is_number_unsigned());
    CHECK(c["formula"].is_string());
    CHECK(c["source"].is_string());
  }
  for (const char* required : {"weights", "gradients", "optimizer_states", "master_weights", "activations", "logits_loss"}) {
    CHECK(std::find(names.begin(), names.end(), required) != names.end());
  }
  for (const auto& c : j["components"]) {
    if (c["name"] == "activations") CHECK(c["per_layer_bytes"] == 200840ULL * 8192);
  }
  CHECK(j["phases"].size() == 4);
  CHECK(j["phases"][0]["name"] == "load");
  CHECK(j["layout"]["zero"] == 0);
  CHECK(j["cpu"]["load_bytes_per_rank"] == 2 * 8030261248ULL);  // whole bf16 checkpoint in host RAM
  CHECK(j["advice"].is_array());
  CHECK(j["peak"]["allocated_bytes"].is_number_unsigned());
  CHECK(j["peak"]["reserved_bytes"] >= j["peak"]["allocated_bytes"]);
  CHECK(j["gpu"]["name"] == "a100-40gb");
  CHECK(j["gpu"]["capacity_bytes"] == 42405855232ULL);
  CHECK(j["gpu"]["fits"] == false);
}

TEST_CASE("exit status: 0 fits, 1 does not fit, 2 bad input", "[cli]") {
  CHECK(vramcalc_run("--model llama-3.2-1b --seq 512 --gpu h100-80gb").code == 0);
  CHECK(vramcalc_run("--model llama-3.2-1b --seq 512 --gpu-mem 2GiB").code == 1);
  CHECK(vramcalc_run("--model llama-3.2-1b --seq 512 --gpu-mem 2GiB --format json").code == 1);
  CHECK(vramcalc_run("--model llama-3.2-1b").code == 0);  // no GPU given: never 1
  CHECK(vramcalc_run("--help").code == 0);
  CHECK(vramcalc_run("--version").code == 0);
  CHECK(vramcalc_run("models").code == 0);
  CHECK(vramcalc_run("gpus --format json").code == 0);
}

TEST_CASE("every output format renders the same estimate", "[cli]") {
  const Result csv = vramcalc_run("--model mistral-7b --format csv");
  CHECK(csv.code == 0);
  CHECK(csv.out.rfind("component,kind,bytes_at_peak,load_bytes,forward_bytes,backward_bytes,optimizer_step_bytes", 0) == 0);
  const Result md = vramcalc_run("--model mistral-7b --format markdown --units gb");
  CHECK(md.code == 0);
  CHECK_THAT(md.out, Catch::Contains("| weights |") && Catch::Contains("(GB)"));
  const auto j = nlohmann::json::parse(vramcalc_run("--model mistral-7b --format json").out);
  // The CSV's peak_allocated row carries the JSON's integer.
  CHECK_THAT(csv.out, Catch::Contains("peak_allocated,total," + std::to_string(j["peak"]["allocated_bytes"].get<std::uint64_t>())));
}

TEST_CASE("each bad input gets its one-line error", "[cli][errors]") {
  expect_input_error("--model llama-8", "did you mean 'llama-8b'?");
  expect_input_error("", "--model");
  expect_input_error("--model llama-8b --seq 0", "--seq: '0'");
  expect_input_error("--model llama-8b --seq -4", "--seq: '-4'");
  expect_input_error("--model llama-8b --batch 1.5", "--batch: '1.5'");
  expect_input_error("--model llama-8b --precision fp16", "--precision: 'fp16'");
  expect_input_error("--model llama-8b --optimizer adam", "did you mean 'adamw'?");
  expect_input_error("--model llama-8b --gpu a100", "--gpu: 'a100'");
  expect_input_error("--model llama-8b --gpu-mem 40", "give a unit");
  expect_input_error("--model llama-8b --format yaml", "--format: 'yaml'");
  expect_input_error("--model llama-8b --bogus", "--bogus");
  expect_input_error("--model llama-8b --seq 1099511627776", "--seq: '1099511627776': larger than the largest supported value 16,777,216");
  const TempFile syntax("bad_syntax.json", "{\n  \"hidden_size\": 4096,\n  oops\n}");
  expect_input_error("--model " + syntax.path, "malformed JSON at line 3, column");
  const TempFile missing("bad_missing.json", R"({"model_type": "llama", "hidden_size": 4096})");
  expect_input_error("--model " + missing.path, "num_hidden_layers: '(missing)'");
  const TempFile heads("bad_heads.json", R"({"model_type": "llama", "hidden_size": 4096, "num_hidden_layers": 2,
                       "num_attention_heads": 30, "intermediate_size": 8, "vocab_size": 8})");
  expect_input_error("--model " + heads.path, "num_attention_heads: '30': does not divide hidden_size 4096");
  const TempFile kv("bad_kv.json", R"({"model_type": "llama", "hidden_size": 4096, "num_hidden_layers": 2,
                       "num_attention_heads": 32, "num_key_value_heads": 6, "intermediate_size": 8, "vocab_size": 8})");
  expect_input_error("--model " + kv.path, "num_key_value_heads: '6'");
  const TempFile type("bad_type.json", R"({"model_type": "mamba", "hidden_size": 8})");
  expect_input_error("--model " + type.path, "model_type: 'mamba': unsupported");
}

TEST_CASE("a config.json path works like a built-in name", "[cli]") {
  const std::string path = std::string(VRAMCALC_SOURCE_DIR) + "/configs/models/qwen2.5-7b.json";
  const auto j = nlohmann::json::parse(vramcalc_run("--model " + path + " --format json").out);
  CHECK(j["model"]["parameters"] == 7615616512ULL);
}

TEST_CASE("the memo's ZeRO-3 command: per-GPU breakdown, layout and host RAM in JSON", "[cli][zero]") {
  const Result r = vramcalc_run("--model llama-8b --seq 8192 --zero 3 --gpus 4 --gpu a100-40gb --format json");
  CHECK(r.code == 1);  // activations alone exceed 40 GB without checkpointing
  const auto j = nlohmann::json::parse(r.out);
  CHECK(j["layout"]["zero"] == 3);
  CHECK(j["layout"]["gpus"] == 4);
  CHECK(j["layout"]["nodes"] == 4);
  CHECK(j["layout"]["zero_init"] == true);
  CHECK(j["phases"][0]["name"] == "load");
  CHECK(j["cpu"]["peak_ram_bytes_per_node"] ==
        std::max(j["cpu"]["load_bytes_per_node"].get<std::uint64_t>(),
                 j["cpu"]["training_ram_bytes_per_node"].get<std::uint64_t>()));
  CHECK(j["cpu"]["training_ram_bytes_per_rank"].is_number_unsigned());
  CHECK_FALSE(j["cpu"].contains("ram_bytes_per_node"));
  bool suggests_checkpointing = false;
  for (const auto& a : j["advice"]) {
    if (a["action"].get<std::string>().find("--grad-ckpt full") != std::string::npos) suggests_checkpointing = true;
    CHECK(a["saving_bytes"].get<std::uint64_t>() > 0);
  }
  CHECK(suggests_checkpointing);
  // Over 8 ranks: Liger's fused loss adds a 6·V·h chunk weight-grad temporary (mm + .float()) on 4.
  const Result fits = vramcalc_run("--model llama-8b --seq 8192 --zero 3 --gpus 8 --gpu a100-40gb --grad-ckpt full --loss fused --optimizer adamw-fused");
  CHECK(fits.code == 0);
}

TEST_CASE("a ds_config.json sets the layout, flags override it, unknown keys warn", "[cli][zero]") {
  const std::string dir = std::string(VRAMCALC_SOURCE_DIR) + "/tests/data/ds_configs/";
  const auto j = nlohmann::json::parse(
      vramcalc_run("--model llama-8b --gpus 8 --deepspeed " + dir + "hf_zero3_offload_cpu.json --format json").out);
  CHECK(j["layout"]["zero"] == 3);
  CHECK(j["layout"]["offload_optimizer"] == "cpu");
  CHECK(j["layout"]["reduce_bucket_size"] == 4096 * 4096);  // "auto" = h²
  const auto k = nlohmann::json::parse(
      vramcalc_run("--model llama-8b --gpus 8 --deepspeed " + dir + "hf_zero3_offload_cpu.json --offload-optimizer none --format json").out);
  CHECK(k["layout"]["offload_optimizer"] == "none");
  const Result warned = vramcalc_run("--model llama-8b --gpus 2 --deepspeed " + dir + "unknown_keys.json --format json");
  CHECK(warned.code == 0);
  CHECK_THAT(warned.err, Catch::StartsWith("vramcalc: warning: "));
  expect_input_error("--model llama-8b --deepspeed " + dir + "bad/stage_three.json", "zero_optimization.stage");
  expect_input_error("--model llama-8b --zero 2 --offload-params cpu --gpus 2", "--offload-params: 'cpu'");
  // The file's offload_param goes with its stage 3; --zero 2 conflicts with the file, not with a flag never typed.
  const Result zero2 = vramcalc_run("--model llama-8b --gpus 8 --deepspeed " + dir + "hf_zero3_offload_cpu.json --zero 2");
  CHECK(zero2.code == 2);
  CHECK_THAT(zero2.err, Catch::StartsWith("vramcalc: error: --zero: '2': ") &&
                            Catch::Contains("zero_optimization.offload_param.device = cpu") &&
                            !Catch::Contains("--offload-params"));
  CHECK(vramcalc_run("--model llama-8b --gpus 8 --deepspeed " + dir +
                     "hf_zero3_offload_cpu.json --zero 2 --offload-params none --format json").code == 0);
  expect_input_error("--model llama-8b --zero 4", "--zero: '4'");
  expect_input_error("--model llama-8b --gpus 0", "--gpus: '0'");
  expect_input_error("--model llama-8b --cpu-mem lots", "--cpu-mem: 'lots'");
}

TEST_CASE("deepspeed-estimate prints DeepSpeed's own model-states tables, labelled", "[cli][zero]") {
  const Result r = vramcalc_run("deepspeed-estimate --model llama-8b --gpus-per-node 8 --nodes 1");
  CHECK(r.code == 0);
  CHECK_THAT(r.out, Catch::Contains("MODEL STATES ONLY"));
  CHECK_THAT(r.out, Catch::Contains("18.78 GiB"));  // ZeRO-3, no offload, 1 node × 8 (DeepSpeed memory.rst)
  CHECK_THAT(r.out, Catch::Contains("31.78 GiB"));  // ZeRO-2, no offload
}

TEST_CASE("issue 12: CLI values are validated at the boundary", "[cli][errors][hardening]") {
  expect_input_error("--model llama-8b --batch ''", "--batch: '': empty value");
  expect_input_error("--model llama-8b --gpu ''", "--gpu: '': empty value");
  expect_input_error("--model llama-8b --fragmentation 0x10", "--fragmentation: '0x10': expected a percentage");
  expect_input_error("--model llama-8b --fragmentation 1e1", "--fragmentation: '1e1'");
  expect_input_error("--model llama-8b --fragmentation 101", "--fragmentation: '101'");
  expect_input_error("--model llama-8b --gpu-mem 0.1B", "--gpu-mem: '0.1B': not a whole number of bytes");
  expect_input_error("--model llama-8b --gpu-mem 0GiB", "--gpu-mem: '0GiB': must be larger than 0 bytes");
  expect_input_error("--model llama-8b --gpu-mem 10000000TiB", "--gpu-mem: '10000000TiB': larger than the largest");
  expect_input_error("--model llama-8b --gpus 3 --gpus-per-node 2", "--gpus: '3': must be a multiple of --gpus-per-node 2");
  expect_input_error("--model llama-8b --gpus 4 --nccl-channels 4611686018427387904",
                     "--nccl-channels: '4611686018427387904': larger than the largest supported value 64");
  expect_input_error("--model llama-8b --gpus 2000000", "--gpus: '2000000': larger than the largest supported value");
  // Overflow names the input that drives it, not an internal product.
  expect_input_error("--model llama-8b --seq 16777216 --batch 65536 --attention eager",
                     "--seq: '16777216': with batch 65536 the byte counts overflow 64 bits");
  expect_input_error("deepspeed-estimate --model llama-8b --nodes 1048576 --gpus-per-node 1024",
                     "--nodes: '1048576': with --gpus-per-node 1024 DeepSpeed's estimate overflows");
  expect_input_error("--model \"$(printf 'x\\n\\033[31m')\"", "--model: 'x\\n\\x1b[31m': unknown model");
  // Accepted: a partial node, a fractional size that is whole bytes, a decimal percentage.
  CHECK(vramcalc_run("--model llama-3.2-1b --gpus 4 --gpus-per-node 8").code == 0);
  CHECK(vramcalc_run("--model llama-3.2-1b --gpu-mem 1.5KiB --fragmentation 7.5").code == 1);
}

TEST_CASE("issue 12: the GPU margin is exact at the largest budget", "[cli][json][hardening]") {
  const Result r = vramcalc_run("--model llama-3.2-1b --gpu-mem 1024TiB --format json");
  CHECK(r.code == 0);
  const auto j = nlohmann::json::parse(r.out);
  CHECK(j["gpu"]["fits"] == true);
  CHECK(j["gpu"]["margin_bytes"].get<std::int64_t>() ==
        static_cast<std::int64_t>((1ULL << 50) - j["peak"]["device_bytes"].get<std::uint64_t>()));
}

TEST_CASE("issue 12: special files and huge numbers in configs are one-line errors", "[cli][hardening]") {
  expect_input_error("--model /dev/zero", "--model: '/dev/zero': is a character device, not a regular file");
  expect_input_error("--model " + std::string(VRAMCALC_SOURCE_DIR) + "/configs", "is a directory");
  const TempFile huge("huge_number.json", R"({"zero_optimization": {"stage": 2}, "rope_theta": 1e400})");
  expect_input_error("--model llama-8b --deepspeed " + huge.path, "a JSON number is too large to represent");
  const TempFile deep("deep.json", "{\"zero_optimization\": {\"stage\": " + std::string(100000, '[') +
                                       std::string(100000, ']') + "}}");
  expect_input_error("--model llama-8b --deepspeed " + deep.path, "JSON nested deeper than 64 levels");
}

TEST_CASE("issue 12: warnings and parse errors are escaped onto one line", "[cli][hardening]") {
  const TempFile keys("control_key.json", "{\"a\\nb\\u001b[31m\": 1}");
  const Result r = vramcalc_run("--model llama-8b --deepspeed " + keys.path);
  CHECK(r.code == 0);
  CHECK(std::count(r.err.begin(), r.err.end(), '\n') == 1);
  CHECK_THAT(r.err, Catch::Contains("a\\nb\\x1b[31m: unknown key"));
  expect_input_error("--model llama-8b \"$(printf 'a\\nb')\"", "not expected: a\\nb");
}

TEST_CASE("markdown shows the GPU and host-RAM verdicts apart", "[cli][markdown]") {
  // The GPU fits; only host RAM (--cpu-mem 1GiB) does not.
  const Result r = vramcalc_run("--model llama-3.2-1b --gpus 2 --zero 3 --gpu h100-80gb --cpu-mem 1GiB --format markdown");
  CHECK(r.code == 1);
  CHECK_THAT(r.out, Catch::Contains("✅ fits h100-80gb") && Catch::Contains("❌ host RAM does not fit") &&
                        !Catch::Contains("❌ fits"));
  const Result t = vramcalc_run("--model llama-3.2-1b --gpus 2 --zero 3 --gpu h100-80gb --cpu-mem 1GiB");
  CHECK_THAT(t.out, Catch::Contains("fits h100-80gb") && Catch::Contains("host RAM does not fit"));
}

TEST_CASE("deepspeed-estimate honours --format csv/markdown and --units gb", "[cli][zero]") {
  const Result csv = vramcalc_run("deepspeed-estimate --model llama-8b --gpus-per-node 8 --format csv");
  CHECK(csv.code == 0);
  CHECK_THAT(csv.out, Catch::StartsWith("stage,options,cpu_bytes,gpu_bytes\n"));
  // ZeRO-2, no offload, 8 GPUs: 2P + int(18P / 8) = 16,060,522,496 + 18,068,088,064 bytes.
  CHECK_THAT(csv.out, Catch::Contains("zero2,offload_optimizer=none,385452539904,34128610304\n"));
  const Result gb = vramcalc_run("deepspeed-estimate --model llama-8b --gpus-per-node 8 --units gb");
  CHECK_THAT(gb.out, Catch::Contains("34.13 GB ") && !Catch::Contains("31.78 GiB"));
  const Result md = vramcalc_run("deepspeed-estimate --model llama-8b --gpus-per-node 8 --format markdown");
  CHECK_THAT(md.out, Catch::Contains("| per CPU (GiB) | per GPU (GiB) | options |") && Catch::Contains("| 31.78 |"));
}

TEST_CASE("LoRA recipe, DoRA and kbit-upcast flags: valid lines run, inconsistent ones exit 2 naming the flag", "[cli][lora]") {
  CHECK(vramcalc_run("--model llama-3.1-8b --recipe torchtune --seq 2048").code == 0);
  CHECK(vramcalc_run("--model llama-3-8b --recipe peft --seq 512 --dora").code == 0);
  CHECK(vramcalc_run("--model llama-3-8b --precision bf16 --lora-rank 8 --base-quant nf4 --kbit-upcast false").code == 0);
  const auto upcast = vramcalc_run("--model llama-3-8b --precision bf16 --lora-rank 8 --kbit-upcast true");
  CHECK(upcast.code == 2);
  CHECK(upcast.err.find("--kbit-upcast") != std::string::npos);
  const auto dora = vramcalc_run("--model llama-3-8b --dora");
  CHECK(dora.code == 2);
  CHECK(dora.err.find("--lora-rank") != std::string::npos);
  CHECK(vramcalc_run("--model llama-3-8b --precision bf16 --lora-rank 8 --lora-dropout 0.1 --dora").code == 2);
}
