// gpt-oss: exact parameter counts against OpenAI's model card (Table 1), the MXFP4 checkpoint
// size, and the layer's saved tensors derived by hand from transformers 5.24
// models/gpt_oss/modeling_gpt_oss.py and integrations/moe.py.
#include <cmath>

#include <catch2/catch.hpp>

#include <vramcalc/activations.hpp>
#include <vramcalc/error.hpp>
#include <vramcalc/model_io.hpp>
#include <vramcalc/mxfp4.hpp>

using namespace vramcalc;

namespace {

// Rounds n to `decimals` decimals of a billion, as the model card prints its counts.
double billions(std::uint64_t n, int decimals) {
  const double scale = std::pow(10.0, decimals);
  return std::round(static_cast<double>(n) / 1e9 * scale) / scale;
}

// The tiny gpt-oss the harness measures (tools/measure/hf_measure.py model_cfg): 8 experts of
// width 96, top-2, hidden 128, 4 heads / 2 KV heads × 32, 4 layers (sliding, full, sliding, full).
const char* kTiny = R"({"model_type": "gpt_oss", "hidden_size": 128, "num_attention_heads": 4, "num_key_value_heads": 2,
  "head_dim": 32, "num_hidden_layers": 4, "vocab_size": 4096, "intermediate_size": 96, "num_local_experts": 8,
  "num_experts_per_tok": 2, "sliding_window": 384, "attention_bias": true, "tie_word_embeddings": false})";

Bytes part(const Activations& a, const std::string& name) {
  for (const auto& t : a.layer_parts) {
    if (t.name == name) return t.bytes;
  }
  return 0;
}

}  // namespace

TEST_CASE("gpt-oss totals and active counts equal the model card's Table 1", "[gpt_oss][model]") {
  // OpenAI, "gpt-oss-120b & gpt-oss-20b Model Card" (arXiv:2508.10925), Table 1: gpt-oss-120b
  // 116.83B total, 5.13B active, MLP 114.71B, attention 0.96B; gpt-oss-20b 20.91B, 3.61B, 19.12B,
  // 0.64B; embedding + unembedding 1.16B. The card's active count leaves out the input embedding.
  const ParameterCounts big = count_parameters(resolve_model("gpt-oss-120b"));
  const ParameterCounts small = count_parameters(resolve_model("gpt-oss-20b"));
  // By hand: per layer q/k/v/o with biases 26,550,080 + sinks 64, router 2880·E + E, experts
  // E·(2880·5760 + 5760 + 2880·2880 + 2880), norms 2·2880; embedding and lm_head 201088·2880 each.
  CHECK(big.total == 116'829'156'672);
  CHECK(small.total == 20'914'757'184);
  CHECK(billions(big.total, 2) == 116.83);
  CHECK(billions(small.total, 2) == 20.91);
  CHECK(big.active_per_token - big.embedding == 5'132'849'472);
  CHECK(small.active_per_token - small.embedding == 3'608'307'264);
  CHECK(billions(big.active_per_token - big.embedding, 2) == 5.13);
  CHECK(billions(small.active_per_token - small.embedding, 2) == 3.61);
  CHECK(billions(big.routed_experts + 36ULL * (2880 * 128 + 128), 2) == 114.71);
  CHECK(billions(small.routed_experts + 24ULL * (2880 * 32 + 32), 2) == 19.12);
  CHECK(billions(big.embedding + big.lm_head, 2) == 1.16);
}

TEST_CASE("gpt-oss reads GptOssConfig's defaults and its layer types", "[gpt_oss][model]") {
  const ModelConfig m = parse_model_config(kTiny, "tiny.json");
  CHECK(m.family == Family::kGptOss);
  CHECK(m.num_experts == 8);
  CHECK(m.experts_per_token == 2);
  CHECK(m.moe_intermediate_size == 96);
  CHECK(m.sliding_window == 384);
  CHECK(m.sliding_layers == 2);  // layer_types default: even layers slide
  CHECK(m.attention_sinks);
  // Parameters: 4 × (q 128·128+128, k/v 2 × (64·128+64), o 128·128+128, sinks 4, router 8·128+8,
  // experts 8·(128·192 + 192 + 96·128 + 128), norms 2·128) + embedding and lm_head 2·4096·128 + norm 128
  // = 2,441,904 (the harness's n_params).
  CHECK(count_parameters(m).total == 2'441'904);
  REQUIRE_THROWS_AS(parse_model_config(R"({"model_type": "gpt_oss", "hidden_size": 128, "num_attention_heads": 4,
    "num_hidden_layers": 2, "vocab_size": 256, "num_local_experts": 2, "num_experts_per_tok": 4})", "bad.json"), InputError);
}

TEST_CASE("gpt-oss layer saves the sink softmax and the clamped-SwiGLU experts", "[gpt_oss][activations]") {
  const ModelConfig m = parse_model_config(kTiny, "tiny.json");
  TrainingSetup s;
  s.precision = Precision::kFp32;
  s.attention = Attention::kEager;
  s.seq_len = 256;
  s.micro_batch = 1;
  const Activations a = activations(m, s);
  // Measured on transformers 5.24 / torch 2.15 CPU (hf-step-gpt_oss-h128-L4-v4k-fp32-eager-*): 4,298,784 B
  // per layer. By hand: softmax 4·4·256·257, max indices 8·4·256, S = 512 routed rows: 4 int64
  // index tensors 32·S, gate_up 4·S·192, five S·96 tensors, gathered input and down output 4·S·128.
  CHECK(part(a, "attn.sink_probs") == 4ULL * 4 * 256 * 257);
  CHECK(part(a, "attn.sink_max_indices") == 8ULL * 4 * 256);
  CHECK(part(a, "moe.sort_indices") == 32ULL * 512);
  CHECK(part(a, "moe.clamped_glu") == 5ULL * 4 * 512 * 96);
  CHECK(part(a, "moe.topk_softmax") == 4ULL * 256 * 2);
  CHECK(a.per_layer == 4'298'784);
  // SDPA is not offered for the sinks: eager runs whatever is asked.
  s.attention = Attention::kSdpa;
  CHECK(activations(m, s).per_layer == 4'298'784);
}

TEST_CASE("gpt-oss MXFP4 checkpoints match the model card's checkpoint sizes", "[gpt_oss][mxfp4]") {
  // Model card Table 1: checkpoint size 60.8 GiB (120b) and 12.8 GiB (20b): MXFP4 experts (16 B of
  // FP4 pairs + 1 B e8m0 scale per 32 weights) and every other parameter in bf16.
  const ModelConfig big = resolve_model("gpt-oss-120b");
  const ModelConfig small = resolve_model("gpt-oss-20b");
  REQUIRE(big.mxfp4_experts);
  // By hand: 36 × 128 × 17 × (5760·90 + 2880·90) for 120b; 24 × 32 × the same for 20b.
  CHECK(mxfp4_expert_bytes(big) == 36ULL * 128 * 17 * (5760 * 90 + 2880 * 90));
  CHECK(mxfp4_expert_bytes(small) == 24ULL * 32 * 17 * (5760 * 90 + 2880 * 90));
  const auto gib = [](Bytes b) { return std::round(static_cast<double>(b) / (1ULL << 30) * 10.0) / 10.0; };
  CHECK(gib(mxfp4_checkpoint_bytes(big)) == 60.8);
  CHECK(gib(mxfp4_checkpoint_bytes(small)) == 12.8);
  // Without quantization_config the experts are ordinary parameters.
  CHECK(mxfp4_expert_bytes(parse_model_config(kTiny, "tiny.json")) == 0);
}
