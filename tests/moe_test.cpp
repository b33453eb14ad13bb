// Mixtures of experts: exact parameter counts (total and active per token) against published
// figures, the MoE block's saved tensors derived by hand, and config validation.
#include <map>

#include <catch2/catch.hpp>

#include <vramcalc/activations.hpp>
#include <vramcalc/estimate.hpp>
#include <vramcalc/error.hpp>
#include <vramcalc/model_io.hpp>

using namespace vramcalc;

namespace {

const ParameterCounts& counts(const std::string& name) {
  static std::map<std::string, ParameterCounts> cache;
  auto it = cache.find(name);
  if (it == cache.end()) it = cache.emplace(name, count_parameters(resolve_model(name))).first;
  return it->second;
}

// The tiny Mixtral the harness measures (tools/measure/hf_measure.py model_cfg): 8 experts of
// width 96, top-2, hidden 128, 4 heads / 2 KV heads × 32, 3 layers.
const char* kTinyMixtral = R"({"model_type": "mixtral", "hidden_size": 128, "num_attention_heads": 4, "num_key_value_heads": 2,
  "head_dim": 32, "num_hidden_layers": 3, "vocab_size": 4096, "intermediate_size": 96, "num_local_experts": 8,
  "num_experts_per_tok": 2, "tie_word_embeddings": false})";

Bytes part(const Activations& a, const std::string& name) {
  for (const auto& t : a.layer_parts) {
    if (t.name == name) return t.bytes;
  }
  return 0;
}

}  // namespace

TEST_CASE("MoE totals equal the published counts", "[moe][model]") {
  // keras-hub mixtral_presets.py 'mixtral_8_7b_en' params=46702792704; GGUF general.parameter_count of
  // Qwen3-30B-A3B 30532122624; keras-hub qwen_moe_presets.py 'qwen1.5_moe_2.7b_en' params=14315784192.
  CHECK(counts("mixtral-8x7b").total == 46'702'792'704);
  CHECK(counts("qwen3-30b-a3b").total == 30'532'122'624);
  CHECK(counts("qwen1.5-moe-a2.7b").total == 14'315'784'192);
  // keras-hub qwen3_moe_presets.py 'qwen3_moe_235b_a22b_en' params=235093634560.
  CHECK(counts("qwen3-235b-a22b").total == 235'093'634'560);
}

TEST_CASE("MoE active parameters per token match the published figures", "[moe][model]") {
  // Published: Mixtral 12.9B per token (Mistral AI, "Mixtral of experts"), Qwen3-30B-A3B 3.3B
  // activated (model card), Qwen1.5-MoE-A2.7B 2.7B activated, 2.0B without embeddings (Qwen blog).
  // Exact: all non-expert parameters + k/E of the routed experts.
  const auto& mixtral = counts("mixtral-8x7b");
  CHECK(mixtral.active_per_token == 12'879'925'248);
  CHECK(mixtral.routed_experts == 32ULL * 8 * 3 * 4096 * 14336);
  CHECK(mixtral.active_per_token == mixtral.total - mixtral.routed_experts / 8 * 6);
  CHECK(counts("qwen3-30b-a3b").active_per_token == 3'353'032'704);
  CHECK(counts("qwen3-235b-a22b").active_per_token == 22'190'763'520);  // "22B activated" (model card)
  const auto& qwen15 = counts("qwen1.5-moe-a2.7b");
  CHECK(qwen15.active_per_token == 2'689'173'504);
  CHECK(qwen15.active_per_token - qwen15.embedding - qwen15.lm_head - qwen15.final_norm == 2'066'841'600);
}

TEST_CASE("dense models have every parameter active and no routed experts", "[moe][model]") {
  const auto& llama = counts("llama-3-8b");
  CHECK(llama.active_per_token == llama.total);
  CHECK(llama.routed_experts == 0);
}

TEST_CASE("`vramcalc models` lists the MoE built-ins", "[moe][model]") {
  for (const char* name : {"mixtral-8x7b", "qwen3-30b-a3b", "qwen1.5-moe-a2.7b"}) {
    INFO(name);
    const BuiltinModel* b = find_builtin_model(name);
    REQUIRE(b != nullptr);
    CHECK(b->published_parameters == count_parameters(b->config).total);
  }
  CHECK(resolve_model("mistralai/Mixtral-8x7B-v0.1").family == Family::kMixtral);
  CHECK(resolve_model("Qwen/Qwen3-30B-A3B").family == Family::kQwen3Moe);
  CHECK(resolve_model("Qwen/Qwen1.5-MoE-A2.7B").family == Family::kQwen2Moe);
}

TEST_CASE("the MoE block saves S = T·k rows per routed tensor (hand-derived)", "[moe][activations]") {
  const ModelConfig m = parse_model_config(kTinyMixtral, "tiny-mixtral");
  TrainingSetup s;
  s.seq_len = 256;
  s.micro_batch = 1;
  s.precision = Precision::kBf16;
  s.attention = Attention::kSdpa;
  const Activations a = activations(m, s);
  const Bytes T = 256, S = 512, h = 128, I = 96, E = 8, k = 2;
  CHECK(part(a, "moe.router_probs") == 4 * T * E);                // fp32 softmax
  CHECK(part(a, "moe.topk_indices") == 8 * T * k);                 // int64 indices
  CHECK(part(a, "moe.renorm") == 4 * T * k + 4 * T);               // Mixtral always renormalises
  CHECK(part(a, "moe.sort_indices") == 24 * S);
  CHECK(part(a, "moe.gathered_input") == 2 * S * h);
  CHECK(part(a, "moe.gate_up") == 2 * S * 2 * I);
  CHECK(part(a, "moe.act") == 2 * S * I);
  CHECK(part(a, "moe.product") == 2 * S * I);
  CHECK(part(a, "moe.down_out") == 2 * S * h);
  CHECK(part(a, "moe.routing_weights") == 4 * S);                  // Mixtral keeps them fp32
  // Measured on transformers 5.24 / torch 2.15 (tests/data/measured/hf_cpu.json,
  // hf-step-mixtral-h128-L3-v4k-bf16-sdpa-ckptnone-adamw-s256-b1-masknone-layer).
  CHECK(a.per_layer == 1'412'128);
}

TEST_CASE("MoE configs are validated", "[moe][model]") {
  std::string bad = kTinyMixtral;
  bad.replace(bad.find("\"num_experts_per_tok\": 2"), 24, "\"num_experts_per_tok\": 9");
  CHECK_THROWS_AS(parse_model_config(bad, "bad"), InputError);
  const std::string mixed = R"({"model_type": "qwen3_moe", "hidden_size": 128, "num_attention_heads": 4, "num_hidden_layers": 3,
    "vocab_size": 4096, "intermediate_size": 320, "moe_intermediate_size": 96, "num_experts": 8, "num_experts_per_tok": 2,
    "mlp_only_layers": [0]})";
  try {
    parse_model_config(mixed, "mixed.json");
    FAIL("expected an InputError");
  } catch (const InputError& e) {
    CHECK(std::string(e.what()).find("mlp_only_layers") != std::string::npos);
  }
  std::string missing = kTinyMixtral;
  missing.replace(missing.find("\"num_local_experts\": 8,"), 23, "");
  CHECK_THROWS_AS(parse_model_config(missing, "missing"), InputError);
}

TEST_CASE("output_router_logits adds the aux loss's saved softmax and top-k indices", "[moe][activations]") {
  std::string cfg = kTinyMixtral;
  cfg.insert(cfg.rfind('}'), ", \"output_router_logits\": true");
  const ModelConfig with = parse_model_config(cfg, "tiny-mixtral-aux");
  const ModelConfig without = parse_model_config(kTinyMixtral, "tiny-mixtral");
  TrainingSetup s;
  s.seq_len = 256;
  s.precision = Precision::kBf16;
  // L × (2·T·E + 8·T·k) + 4·E = 3 × (4,096 + 4,096) + 32, the loss window's difference measured on
  // transformers 5.24 (hf-step-mixtral-h128-L3-v4k-bf16-sdpa-ckptnone-adamw-s256-b1-masknone{,-auxloss}-head).
  CHECK(activations(with, s).outside - activations(without, s).outside == 24'608);
  s.precision = Precision::kAmp;  // CUDA autocast runs the softmax in fp32
  CHECK(activations(with, s).outside - activations(without, s).outside == 3 * (4 * 256 * 8 + 8 * 256 * 2) + 32);
}

TEST_CASE("op-level selective checkpointing is refused for mixtures of experts", "[moe][model]") {
  EstimateInputs in;
  in.model = resolve_model("mixtral-8x7b");
  in.setup.grad_ckpt = GradCkpt::kOpSac;
  CHECK_THROWS_AS(estimate(in), InputError);
  in.setup.grad_ckpt = GradCkpt::kFull;
  CHECK(estimate(in).peak_allocated > 0);
}

TEST_CASE("Qwen2-MoE slides the even layers below max_window_layers (transformers 5.24)", "[moe][model]") {
  const ModelConfig m = parse_model_config(
      R"({"model_type": "qwen2_moe", "hidden_size": 128, "num_attention_heads": 4, "num_hidden_layers": 7, "vocab_size": 4096,
          "intermediate_size": 320, "moe_intermediate_size": 96, "num_experts": 8, "num_experts_per_tok": 2,
          "shared_expert_intermediate_size": 192, "use_sliding_window": true, "sliding_window": 64, "max_window_layers": 5})",
      "q2moe.json");
  CHECK(m.sliding_window == 64);
  CHECK(m.sliding_layers == 3);  // layers 0, 2, 4
}
