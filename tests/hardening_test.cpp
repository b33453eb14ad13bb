// Issue 12: inputs that used to crash, wrap or print several lines, each pinned by a test.
#include <catch2/catch.hpp>

#include <filesystem>
#include <functional>
#include <fstream>
#include <string>

#include <vramcalc/deepspeed.hpp>
#include <vramcalc/vramcalc.hpp>

using namespace vramcalc;

namespace {

std::string error_of(const std::function<void()>& f) {
  try {
    f();
  } catch (const InputError& e) {
    return e.what();
  }
  return "(no error)";
}

const std::string kLlama = R"("model_type": "llama", "hidden_size": 64, "num_hidden_layers": 2,
    "num_attention_heads": 4, "intermediate_size": 128, "vocab_size": 100)";

// A scratch file under the build tree (tests write nowhere else).
std::string scratch(const std::string& name, const std::string& text) {
  const std::filesystem::path dir = std::filesystem::path(VRAMCALC_TEST_SCRATCH) / "hardening";
  std::filesystem::create_directories(dir);
  const std::string path = (dir / name).string();
  std::ofstream(path, std::ios::binary) << text;
  return path;
}

}  // namespace

TEST_CASE("error values are escaped and shortened on one line", "[errors][hardening]") {
  CHECK(InputError("f", "a\nb\x1b[31m\tc\\'", "bad\nproblem").what() ==
        std::string(R"(f: 'a\nb\x1b[31m\tc\\\'': bad\nproblem)"));
  CHECK(InputError("f", std::string("\xff\xc3(ok \xc3\xa9", 8), "p").what() == std::string("f: '\\xff\\xc3(ok é': p"));
  CHECK(InputError("f", "\xe2\x80\xa8\xe2\x80\xae", "p").what() == std::string(R"(f: '\u2028\u202e': p)"));
  const std::string what = InputError("f", std::string(100000, 'x'), "too long").what();
  CHECK(what == "f: '" + std::string(100, 'x') + "…(100000 bytes)': too long");
  CHECK(describe_input_error("--seq", "", "empty") == "--seq: '': empty");
}

TEST_CASE("a JSON number beyond double's range is an input error, even under an ignored key", "[hardening]") {
  CHECK(error_of([] { parse_model_config("{" + kLlama + R"(, "rope_theta": 1e400})", "c.json"); }) ==
        "model: 'c.json': a JSON number is too large to represent (beyond about 1.8e308)");
  CHECK(error_of([] { parse_deepspeed_config(R"({"gradient_clipping": -1e999})", "ds.json", 64); }) ==
        "ds_config: 'ds.json': a JSON number is too large to represent (beyond about 1.8e308)");
}

TEST_CASE("deep nesting is refused before it is parsed or printed", "[hardening]") {
  const std::string deep = std::string(100000, '[') + std::string(100000, ']');
  CHECK(error_of([&] { parse_deepspeed_config(R"({"zero_optimization": {"stage": )" + deep + "}}", "ds.json", 64); }) ==
        "ds_config: 'ds.json': JSON nested deeper than 64 levels at line 1, column 95");
  CHECK(error_of([&] { parse_model_config("{" + kLlama + R"(, "x": )" + deep + "}", "c.json"); })
            .starts_with("model: 'c.json': JSON nested deeper than 64 levels at line 2"));
  // Brackets inside strings do not count.
  CHECK_NOTHROW(parse_model_config("{" + kLlama + R"(, "x": ")" + std::string(1000, '[') + "\"}", "c.json"));
}

TEST_CASE("layer_types must list one known type per layer, as transformers validates", "[hardening][model]") {
  const std::string base = R"("model_type": "mistral", "hidden_size": 64, "num_hidden_layers": 2, "sliding_window": 16,
      "num_attention_heads": 4, "intermediate_size": 128, "vocab_size": 100)";
  const ModelConfig ok = parse_model_config("{" + base + R"(, "layer_types": ["sliding_attention", "full_attention"]})", "c.json");
  CHECK(ok.sliding_layers == 1);
  CHECK(error_of([&] {
          parse_model_config("{" + base + R"(, "layer_types": ["sliding_attention", "full_attention", "full_attention"]})",
                             "c.json");
        }) == R"(layer_types: '["sliding_attention","full_attention","full_attention"]': has 3 entries but )"
              "num_hidden_layers is 2; transformers requires one per layer (c.json)");
  CHECK(error_of([&] { parse_model_config("{" + base + R"(, "layer_types": ["sliding_attention"]})", "c.json"); })
            .find("has 1 entries but num_hidden_layers is 2") != std::string::npos);
  CHECK(error_of([&] { parse_model_config("{" + base + R"(, "layer_types": ["full_attention", "mamba"]})", "c.json"); }) ==
        "layer_types: 'mamba': unknown layer type in c.json; vramcalc models full_attention and sliding_attention layers");
  CHECK(error_of([&] { parse_model_config("{" + base + R"(, "layer_types": "full_attention"})", "c.json"); }) ==
        "layer_types: 'full_attention': expected a list of layer types in c.json");
}

TEST_CASE("config files that are not regular files, or too large, say what they are", "[hardening]") {
  const std::string dir = std::filesystem::path(scratch("probe.json", "{}")).parent_path().string();
  CHECK(error_of([&] { load_model_config(dir); }) == "model: '" + dir + "': is a directory");
  CHECK(error_of([] { load_deepspeed_config("/dev/zero", 64); }) ==
        "ds_config: '/dev/zero': is a character device, not a regular file");
  const std::string big = scratch("big.json", std::string((16u << 20) + 1, ' '));
  CHECK(error_of([&] { load_model_config(big); }) ==
        "model: '" + big + "': file of 16777217 bytes is larger than the 16 MiB a config file may have");
  std::filesystem::remove(big);
}

TEST_CASE("the allocator reserve is checked, not wrapped by llround", "[hardening]") {
  CHECK(allocator_reserve(1000, 0.05).bytes == 50);
  CHECK(allocator_reserve(1ULL << 63, 1.0).bytes == 1ULL << 63);  // llround would overflow long long here
  CHECK_THROWS_AS(allocator_reserve(~0ULL, 1.0), InputError);
}
