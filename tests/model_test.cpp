// Parameter counts against published totals, and config validation.
#include <catch2/catch.hpp>

#include <vramcalc/error.hpp>
#include <vramcalc/model_io.hpp>

using namespace vramcalc;

namespace {

std::uint64_t params_of(const std::string& name) { return count_parameters(resolve_model(name)).total; }

// A minimal valid Llama config with one field replaced (or removed when value is empty).
std::string llama_with(const std::string& key, const std::string& value) {
  std::string fields[][2] = {{"model_type", "\"llama\""},         {"hidden_size", "4096"},
                             {"num_hidden_layers", "32"},         {"num_attention_heads", "32"},
                             {"num_key_value_heads", "8"},        {"intermediate_size", "14336"},
                             {"vocab_size", "128256"}};
  std::string out = "{";
  bool first = true;
  for (auto& f : fields) {
    std::string v = f[0] == key ? value : f[1];
    if (v.empty()) continue;
    out += (first ? "" : ", ") + ("\"" + f[0] + "\": " + v);
    first = false;
  }
  if (key == "head_dim") out += ", \"head_dim\": " + value;
  return out + "}";
}

}  // namespace

TEST_CASE("parameter counts match the published totals exactly", "[model]") {
  // Hugging Face model cards / safetensors metadata (see configs/models/README.md).
  CHECK(params_of("llama-3-8b") == 8'030'261'248);
  CHECK(params_of("llama-8b") == 8'030'261'248);
  CHECK(params_of("llama-2-7b") == 6'738'415'616);
  CHECK(params_of("mistral-7b") == 7'241'732'096);
  CHECK(params_of("llama-3.2-1b") == 1'235'814'400);
  CHECK(params_of("qwen2.5-7b") == 7'615'616'512);
  CHECK(params_of("llama-3-70b") == 70'553'706'496);
}

TEST_CASE("every built-in model reproduces its own published parameter count", "[model]") {
  REQUIRE(builtin_models().size() >= 6);
  for (const auto& b : builtin_models()) {
    INFO(b.name);
    if (b.published_parameters != 0) CHECK(count_parameters(b.config).total == b.published_parameters);
  }
}

TEST_CASE("Llama-3-8B's inventory splits into embedding, layers and head", "[model]") {
  const ParameterCounts pc = count_parameters(resolve_model("llama-3-8b"));
  CHECK(pc.embedding == 525'336'576);
  CHECK(pc.lm_head == 525'336'576);
  CHECK(pc.per_layer == 218'112'000);
  CHECK(pc.largest_tensor == 525'336'576);
  CHECK(pc.largest_module == 525'336'576);
  // Linear weights autocast casts: 32 layers of q,k,v,o,gate,up,down plus lm_head.
  CHECK(pc.matmul_weights == 32ULL * (218'112'000 - 2 * 4096) + 525'336'576);
}

TEST_CASE("architecture details change the count where HF's modules do", "[model]") {
  SECTION("tied embeddings count once") {
    const ParameterCounts pc = count_parameters(resolve_model("llama-3.2-1b"));
    CHECK(pc.lm_head == 0);
    CHECK(pc.total == 1'235'814'400);
  }
  SECTION("qwen2 has q/k/v biases but no o_proj bias") {
    const ModelConfig m = resolve_model("qwen2.5-7b");
    CHECK(m.qkv_bias);
    CHECK_FALSE(m.attention_bias);
  }
  SECTION("explicit head_dim is honoured when it is not hidden/heads") {
    const ModelConfig m = parse_model_config(llama_with("head_dim", "256"), "test");
    CHECK(m.head_dim == 256);
    CHECK(m.q_dim() == 8192);
  }
  SECTION("attention_bias adds q/k/v/o biases, mlp_bias gate/up/down biases") {
    const ModelConfig plain = parse_model_config(llama_with("", ""), "t");
    std::string with_bias = llama_with("", "");
    with_bias.insert(with_bias.size() - 1, ", \"attention_bias\": true, \"mlp_bias\": true");
    const ModelConfig biased = parse_model_config(with_bias, "t");
    const std::uint64_t extra = 32ULL * ((4096 + 1024 + 1024 + 4096) + (14336 * 2 + 4096));
    CHECK(count_parameters(biased).total - count_parameters(plain).total == extra);
  }
}

TEST_CASE("bad configs get one-line errors naming the field and value", "[model][errors]") {
  CHECK_THROWS_WITH(parse_model_config(llama_with("hidden_size", ""), "cfg.json"),
                    "hidden_size: '(missing)': required field missing in cfg.json");
  CHECK_THROWS_WITH(parse_model_config(llama_with("hidden_size", "-4096"), "cfg.json"),
                    "hidden_size: '-4096': expected a positive integer in cfg.json");
  CHECK_THROWS_WITH(parse_model_config(llama_with("hidden_size", "4096.5"), "cfg.json"),
                    "hidden_size: '4096.5': expected a positive integer in cfg.json");
  CHECK_THROWS_WITH(parse_model_config(llama_with("vocab_size", "0"), "cfg.json"),
                    "vocab_size: '0': expected a positive integer in cfg.json");
  CHECK_THROWS_WITH(parse_model_config(llama_with("num_hidden_layers", "\"32\""), "cfg.json"),
                    "num_hidden_layers: '32': expected a positive integer in cfg.json");
  CHECK_THROWS_WITH(parse_model_config(llama_with("num_attention_heads", "30"), "cfg.json"),
                    Catch::StartsWith("num_attention_heads: '30': does not divide hidden_size 4096"));
  CHECK_THROWS_WITH(parse_model_config(llama_with("num_key_value_heads", "5"), "cfg.json"),
                    Catch::StartsWith("num_key_value_heads: '5': must divide num_attention_heads 32"));
  CHECK_THROWS_WITH(parse_model_config(llama_with("model_type", "\"xlnet\""), "cfg.json"),
                    Catch::StartsWith("model_type: 'xlnet': unsupported") && Catch::Contains("llama, mistral, qwen2"));
  CHECK_THROWS_WITH(parse_model_config("{\"hidden_size\": 4096,\n \"x\": }", "cfg.json"),
                    Catch::StartsWith("model: 'cfg.json': malformed JSON at line 2, column"));
  CHECK_THROWS_WITH(parse_model_config(llama_with("hidden_size", "4000000000000"), "cfg.json"),
                    "hidden_size: '4000000000000': larger than the largest supported value 1,048,576 in cfg.json");
}

TEST_CASE("sizes within each field's limit that overflow together name the config, not a product", "[model][errors]") {
  // 65536 layers × 3 × 2^20 × 2^22 MLP weights ≈ 8.6e17 parameters: × 16 bytes overflows.
  const std::string big = R"({"model_type": "llama", "hidden_size": 1048576, "num_hidden_layers": 65536,
      "num_attention_heads": 8192, "intermediate_size": 4194304, "vocab_size": 8})";
  CHECK_THROWS_WITH(parse_model_config(big, "big.json"),
                    Catch::StartsWith("model: 'big.json': the model's byte counts overflow 64 bits (hidden_size 1048576"));
}

TEST_CASE("unknown model names suggest the closest built-in", "[model][errors]") {
  CHECK_THROWS_WITH(resolve_model("llama-8"), Catch::StartsWith("model: 'llama-8': unknown model") &&
                                                  Catch::Contains("did you mean 'llama-8b'?"));
  CHECK_THROWS_WITH(resolve_model("/nonexistent/config.json"), Catch::StartsWith("model: '/nonexistent/config.json': cannot open"));
  CHECK(find_builtin_model("LLAMA-8B") != nullptr);
}

TEST_CASE("GPT-2, Phi, StarCoder2 and Gemma 3 match their published parameter counts", "[model][families]") {
  // configs/models/README.md: keras-hub presets and HF safetensors metadata.
  CHECK(params_of("gpt2") == 124'439'808);
  CHECK(params_of("gpt2-medium") == 354'823'168);
  CHECK(params_of("phi-2") == 2'779'683'840);
  CHECK(params_of("phi-1.5") == 1'418'270'720);
  CHECK(params_of("gemma-3-1b") == 999'885'952);
  CHECK(params_of("gemma-3-270m") == 268'098'176);
  // StarCoder2-3B: the model card says 3.03B; no exact figure is published.
  CHECK(params_of("starcoder2-3b") == 3'030'371'328);
  // GPT-2 reads its own key names (GPT2Config.attribute_map) and has a learned position table.
  const ModelConfig g = resolve_model("gpt2");
  CHECK(g.hidden_size == 768);
  CHECK(g.num_layers == 12);
  CHECK(g.intermediate_size == 3072);
  CHECK(g.max_position_embeddings == 1024);
  CHECK(g.tie_word_embeddings);
  // Gemma 3 1B: 26 layers, every sixth global.
  CHECK(resolve_model("gemma-3-1b").sliding_layers == 22);
}

TEST_CASE("BLOOM matches its published parameter counts", "[model][families]") {
  CHECK(params_of("bloom-560m") == 559'214'592);
  CHECK(params_of("bloom-1b1") == 1'065'314'304);
}
