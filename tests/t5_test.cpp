// T5 / mT5 / UMT5 encoder-decoders (families/t5.cpp): exact parameter inventories, and the
// estimates that need the target length or are not modelled yet (encoder_decoder.cpp).
#include <catch2/catch.hpp>

#include <string>

#include <vramcalc/vramcalc.hpp>

using namespace vramcalc;

namespace {

// A tiny T5 of every kind of key: d_kv · num_heads (96) ≠ d_model (64), more decoder than encoder
// layers, 16 buckets.
std::string tiny(const std::string& type, const std::string& ff, const std::string& extra = "") {
  return R"({"model_type":")" + type + R"(","d_model":64,"d_kv":32,"d_ff":128,"num_layers":2,"num_decoder_layers":3,)"
         R"("num_heads":3,"vocab_size":1000,"relative_attention_num_buckets":16,"feed_forward_proj":")" + ff + "\"" + extra + "}";
}

std::uint64_t total(const std::string& json) { return count_parameters(parse_model_config(json, "tiny.json")).total; }

}  // namespace

// transformers 5.24 on the meta device (tools/measure venv): sum(p.numel() for p in
// T5ForConditionalGeneration(T5Config(**keys)).parameters()) = 343,584 for the relu model;
// UMT5ForConditionalGeneration(UMT5Config(..., feed_forward_proj="gated-silu")) = 384,688.
TEST_CASE("tiny T5 and UMT5 count what transformers builds", "[t5]") {
  CHECK(total(tiny("t5", "relu")) == 343'584);
  CHECK(total(tiny("umt5", "gated-silu")) == 384'688);
  // By hand: shared 1000·64; per encoder block 4·96·64 (q,k,v,o) + 2·64 (norms) + 2·128·64 (wi, wo);
  // per decoder block one more attention and norm; 16·3 bias rows per stack; two final norms.
  const std::uint64_t attn = 4 * 96 * 64;
  const std::uint64_t enc = attn + 2 * 64 + 2 * 128 * 64;
  const std::uint64_t dec = 2 * attn + 3 * 64 + 2 * 128 * 64;
  CHECK(total(tiny("t5", "relu")) == 1000 * 64 + 2 * enc + 3 * dec + 2 * 16 * 3 + 2 * 64);
  // UMT5: a bias table in every self-attention (2 + 3), a gated MLP (wi_0, wi_1, wo).
  CHECK(total(tiny("umt5", "gated-silu")) == 1000 * 64 + 2 * (enc + 128 * 64) + 3 * (dec + 128 * 64) + 5 * 16 * 3 + 2 * 64);
}

TEST_CASE("an untied T5 adds its own lm_head; mT5 reads the same keys", "[t5]") {
  const std::uint64_t tied = total(tiny("t5", "gated-gelu"));
  CHECK(total(tiny("t5", "gated-gelu", R"(,"tie_word_embeddings":false)")) == tied + 1000 * 64);
  CHECK(total(tiny("mt5", "gated-gelu")) == tied);
  const ModelConfig m = parse_model_config(tiny("t5", "gated-gelu"), "tiny.json");
  CHECK(m.hidden_act == "gelu_new");  // T5Config: "gated-gelu" runs gelu_new
  CHECK(m.gated_mlp);
  CHECK(m.head_dim == 32);
  CHECK(m.num_layers == 2);
  CHECK(m.num_decoder_layers == 3);
}

// Published counts (configs/models/*.json cite them); model_test checks every built-in too.
TEST_CASE("T5 built-ins reproduce their published counts", "[t5]") {
  CHECK(count_parameters(resolve_model("t5-small")).total == 60'506'624);
  CHECK(count_parameters(resolve_model("t5-base")).total == 222'903'552);
  CHECK(count_parameters(resolve_model("flan-t5-large")).total == 783'150'080);
  CHECK(count_parameters(resolve_model("google/flan-t5-xl")).total == 2'849'757'184);
}

TEST_CASE("T5 configs that are not modelled are refused by key", "[t5]") {
  try {
    (void)parse_model_config(tiny("t5", "gated-gelu-x"), "tiny.json");
    FAIL("accepted");
  } catch (const InputError& e) {
    CHECK(e.field() == config_field("feed_forward_proj"));
  }
  try {
    (void)parse_model_config(tiny("t5", "relu", R"(,"is_encoder_decoder":false)"), "tiny.json");
    FAIL("accepted");
  } catch (const InputError& e) {
    CHECK(e.field() == config_field("is_encoder_decoder"));
  }
}

TEST_CASE("an encoder-decoder estimate needs the target length; unmodelled combinations are refused by field", "[t5]") {
  EstimateInputs in;
  in.model = resolve_model("t5-small");
  try {
    (void)estimate(in);
    FAIL("estimated");
  } catch (const InputError& e) {
    CHECK(e.field() == field::kTargetSeq);
  }
  in.setup.target_seq = 128;
  in.setup.attention = Attention::kSdpa;  // SDPA: not modelled (FINDINGS §34)
  try {
    (void)estimate(in);
    FAIL("estimated");
  } catch (const InputError& e) {
    CHECK(e.field() == field::kAttention);
  }
  in.setup.attention = Attention::kEager;
  in.setup.grad_ckpt = GradCkpt::kSelective;
  try {
    (void)estimate(in);
    FAIL("estimated");
  } catch (const InputError& e) {
    CHECK(e.field() == field::kGradCkpt);
  }
}
