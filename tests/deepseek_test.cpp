// DeepSeek-V2 / V3 (multi-head latent attention, shared experts, first dense layers): exact parameter
// counts against the published figures, the MLA and DeepSeekMoE saved tensors derived by hand, and
// config validation.
#include <catch2/catch.hpp>

#include <vramcalc/activations.hpp>
#include <vramcalc/error.hpp>
#include <vramcalc/model_io.hpp>

using namespace vramcalc;

namespace {

// The tiny DeepSeek-V3 the harness measures (tools/measure/hf_measure.py model_cfg, block (m)).
const char* kTinyV3 = R"({"model_type": "deepseek_v3", "hidden_size": 128, "num_attention_heads": 4, "num_key_value_heads": 4,
  "num_hidden_layers": 3, "vocab_size": 4096, "intermediate_size": 320, "moe_intermediate_size": 96, "n_routed_experts": 8,
  "num_experts_per_tok": 2, "first_k_dense_replace": 1, "kv_lora_rank": 32, "qk_nope_head_dim": 32, "qk_rope_head_dim": 16,
  "v_head_dim": 32, "n_group": 2, "topk_group": 1, "q_lora_rank": 64, "n_shared_experts": 1, "routed_scaling_factor": 2.5,
  "norm_topk_prob": true, "tie_word_embeddings": false})";

Bytes part(const Activations& a, const std::string& name) {
  for (const auto& t : a.layer_parts) {
    if (t.name == name) return t.bytes;
  }
  return 0;
}

TrainingSetup tiny_setup(Precision p, Attention attn) {
  TrainingSetup s;
  s.seq_len = 256;
  s.micro_batch = 1;
  s.precision = p;
  s.attention = attn;
  return s;
}

}  // namespace

TEST_CASE("DeepSeek totals round to the published figures and equal the hand sums", "[deepseek][model]") {
  // DeepSeek-V3 Technical Report (arXiv 2412.19437): 671B total, 37B activated per token; the HF class builds
  // the 61 main layers (the 14B MTP module, model.layers.61, is not built). By hand: 2·V·h + h + 61 × MLA
  // (187,107,328 incl. q_a/kv_a norms, + 2·h layer norms) + 3 dense MLPs (3·h·18432) + 58 MoE blocks (256 × 3·h·2048 experts, 3·h·2048
  // shared, 256·h router).
  const ParameterCounts v3 = count_parameters(resolve_model("deepseek-v3"));
  CHECK(v3.total == 671'026'404'352ULL);
  CHECK(v3.total == 2ULL * 129280 * 7168 + 7168 + 61ULL * (187'107'328 + 2 * 7168) + 3ULL * 3 * 7168 * 18432 +
                        58ULL * (256ULL * 3 * 7168 * 2048 + 3ULL * 7168 * 2048 + 256ULL * 7168));
  CHECK(v3.active_per_token == 37'552'282'624ULL);
  CHECK(v3.active_per_token == v3.total - 58ULL * 248 * 3 * 7168 * 2048);  // 8 of 256 experts per MoE layer
  // DeepSeek-V2 (arXiv 2405.04434): 236B total, 21B activated.
  const ParameterCounts v2 = count_parameters(resolve_model("deepseek-v2"));
  CHECK(v2.total == 235'741'434'880ULL);
  CHECK(v2.active_per_token == 21'375'800'320ULL);
  // DeepSeek-V2-Lite: 15.7B total, 2.4B activated (q_lora_rank null: a plain q_proj of 2048 × 16·192).
  const ParameterCounts lite = count_parameters(resolve_model("deepseek-v2-lite"));
  CHECK(lite.total == 15'706'484'224ULL);
  CHECK(lite.active_per_token == 2'661'150'208ULL);
  // The published activated counts leave out the input embedding: 36.6B → "37B", 20.85B → "21B", 2.45B → "2.4B".
  CHECK(v3.active_per_token - v3.embedding == 36'625'603'584ULL);
  CHECK(lite.active_per_token - lite.embedding == 2'451'435'008ULL);
  CHECK((v2.active_per_token - v2.embedding + 500'000'000) / 1'000'000'000 == 21);
}

TEST_CASE("DeepSeek one decoder layer is its largest kind (an MoE layer)", "[deepseek][model]") {
  const ParameterCounts v3 = count_parameters(resolve_model("deepseek-v3"));
  // MLA 187,107,328 + 2 norms 14,336 + MoE block 11,320,164,352 (the dense MLP's 396,361,728 is not in it).
  CHECK(v3.per_layer == 187'107'328ULL + 14'336 + 11'320'164'352ULL);
}

TEST_CASE("MLA and DeepSeekMoE save what the tiny model's layers save (by hand)", "[deepseek][activations]") {
  const ModelConfig m = parse_model_config(kTinyV3, "tiny-deepseek-v3");
  const Activations eager = activations(m, tiny_setup(Precision::kFp32, Attention::kEager));
  // T = 256, a = 4, d_qk = 48, d_v = 32, d_nope = 32, d_rope = 16, fp32.
  CHECK(part(eager, "attn.mla.q") == 4ULL * 256 * 4 * 48);
  CHECK(part(eager, "attn.mla.k") == 4ULL * 256 * 4 * 48);
  CHECK(part(eager, "attn.mla.kv_b_out") == 4ULL * 256 * 4 * 64);
  CHECK(part(eager, "attn.mla.kv_a_rope_columns") == 4ULL * 256 * 16);
  CHECK(part(eager, "attn.out_contiguous") == 4ULL * 256 * 4 * 32);
  // Ungated shared expert: no sigmoid-gated output; the fp32 router's input is the norm output itself.
  CHECK(part(eager, "moe.shared_out") == 0);
  CHECK(part(eager, "moe.router_input") == 0);
  CHECK(part(eager, "moe.shared_mlp") == 4ULL * 4 * 256 * 96);
  // The dense first layer: a SwiGLU MLP of 320 instead of the MoE block.
  CHECK(eager.dense_layers == 1);
  CHECK(eager.dense_per_layer < eager.per_layer);
  const Activations bf16 = activations(m, tiny_setup(Precision::kBf16, Attention::kSdpa));
  CHECK(part(bf16, "moe.router_input") == 4ULL * 256 * 128);  // .type(float32) copy of the bf16 input
  CHECK(part(bf16, "attn.mla.kv_a_rope_columns") == 0);       // kv_a_layernorm copies to fp32
}

TEST_CASE("DeepSeek configs that vramcalc does not model are rejected", "[deepseek][model]") {
  std::string cfg = kTinyV3;
  const auto replace = [&](const std::string& from, const std::string& to) {
    std::string c = cfg;
    c.replace(c.find(from), from.size(), to);
    return c;
  };
  CHECK_THROWS_AS(parse_model_config(replace("\"first_k_dense_replace\": 1", "\"first_k_dense_replace\": 3"), "x"), InputError);
  CHECK_THROWS_AS(parse_model_config(replace("\"n_group\": 2", "\"n_group\": 3"), "x"), InputError);
  CHECK_THROWS_AS(parse_model_config(replace("\"first_k_dense_replace\": 1", "\"moe_layer_freq\": 2"), "x"), InputError);
  TrainingSetup flash = tiny_setup(Precision::kBf16, Attention::kFlash2);
  CHECK_THROWS_AS(activations(parse_model_config(kTinyV3, "x"), flash), InputError);
}
