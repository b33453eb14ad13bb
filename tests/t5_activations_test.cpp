// T5's activations: hand-derived from tools/measure/FINDINGS.md §34 (modeling_t5.py, transformers 5.24).
#include <catch2/catch.hpp>
#include <fmt/format.h>

#include <vramcalc/vramcalc.hpp>

#include "cli_run.hpp"

using namespace vramcalc;

namespace {

// The harness's tiny T5 (hf_measure.py grid block (o)): h 64, 2 heads × d_kv 32, d_ff 192, 2 + 2 layers, V 1000.
ModelConfig tiny_t5() {
  return parse_model_config(R"({"model_type": "t5", "d_model": 64, "d_kv": 32, "num_heads": 2, "d_ff": 192, "num_layers": 2,
    "num_decoder_layers": 2, "vocab_size": 1000, "feed_forward_proj": "relu", "dropout_rate": 0.0})", "tiny t5");
}

TrainingSetup fp32_eager(std::uint64_t s_e, std::uint64_t s_d, std::uint64_t b) {
  TrainingSetup s;
  s.seq_len = s_e;
  s.target_seq = s_d;
  s.micro_batch = b;
  s.precision = Precision::kFp32;
  s.attention = Attention::kEager;
  return s;
}

Bytes part(const Activations& a, const std::string& name) {
  for (const auto& t : a.outside_parts) {
    if (t.name == name) return t.bytes;
  }
  return 0;
}

}  // namespace

TEST_CASE("T5 encoder block, fp32 eager: 6·e·T·h + 8·T + 4·e·T·q + e·b·a·s² + e·T·I") {
  // e = 4, b 2, s_e 128 (T_e 256), h 64, q = a·d_kv 64, I 192: the harness record (FINDINGS §34).
  const Activations a = activations(tiny_t5(), fp32_eager(128, 64, 2));
  const Bytes expected = 6 * 4 * 256 * 64 + 8 * 256 + 4 * 4 * 256 * 64 + 4 * 2 * 2 * 128 * 128 + 4 * 256 * 192;
  CHECK(expected == 1116160);
  CHECK(a.per_layer == expected);
}

TEST_CASE("T5 decoder block, fp32 eager: self-attention at s_d, cross-attention k/v at s_e, probabilities b·a·s_d·s_e") {
  const Activations a = activations(tiny_t5(), fp32_eager(128, 64, 2));
  const Bytes T_d = 128, T_e = 256;
  const Bytes self_attn = (2 * 4 * T_d * 64 + 4 * T_d + 4 * T_d * 64) + 4 * 4 * T_d * 64 + 4 * 2 * 2 * 64 * 64;
  const Bytes cross = (2 * 4 * T_d * 64 + 4 * T_d) + 4 * T_d * 64 + 4 * T_d * 64 + 2 * 4 * T_e * 64 + 4 * 2 * 2 * 64 * 128 + 4 * T_d * 64;
  const Bytes ff = 3 * 4 * T_d * 64 + 4 * T_d + 4 * T_d * 192;
  CHECK(self_attn + cross + ff == 919040);
  CHECK(a.decoder_per_layer == 919040);
  CHECK(a.decoder_layers == 2);
  // The encoder output, saved once by every block's k and v Linears: block 0's window measures 984,576.
  CHECK(part(a, "encoder_output") == 4 * T_e * 64);
  CHECK(a.decoder_per_layer + part(a, "encoder_output") == 984576);
}

TEST_CASE("T5 outside the blocks: ids, buckets, both final norms, lm_head's input; the loss over T_d") {
  const ModelConfig m = tiny_t5();
  const TrainingSetup s = fp32_eager(128, 64, 2);
  const Activations a = activations(m, s);
  CHECK(part(a, "input_ids") == 8 * 256);
  CHECK(part(a, "decoder_input_ids") == 8 * 128);
  CHECK(part(a, "encoder.relative_position_buckets") == 8 * 128 * 128);
  CHECK(part(a, "decoder.relative_position_buckets") == 8 * 64 * 64);
  // Decoder final norm 2·e·T_d·h + 4·T_d, lm_head's input e·T_d·h; log_softmax 4·T_d·V, labels 8·T_d, total_weight 4:
  // the harness's head window, 611,844.
  CHECK(a.final_norm_saved == 2 * 4 * 128 * 64 + 4 * 128 + 4 * 128 * 64 + 8 * 128);
  CHECK(a.final_norm_saved + logits_loss(m, s).saved.bytes == 611844);
  // The stack: 2 encoder blocks, 2 decoder blocks, everything outside.
  CHECK(a.stack.bytes == 2 * 1116160 + 2 * 919040 + a.outside);
}

TEST_CASE("T5 needs --target-seq; other models refuse it; unmodelled T5 combinations are refused") {
  EstimateInputs in;
  in.model = tiny_t5();
  in.setup = fp32_eager(128, 0, 2);
  in.gpu = find_gpu("H100-80GB");
  CHECK_THROWS_WITH(estimate(in), Catch::Contains("decoder length"));
  in.setup.target_seq = 64;
  CHECK(estimate(in).peak_allocated > 0);
  EstimateInputs bf16 = in;
  bf16.setup.precision = Precision::kBf16;
  CHECK(estimate(bf16).peak_allocated > 0);
  EstimateInputs sdpa = in;
  sdpa.setup.attention = Attention::kSdpa;
  CHECK_THROWS_WITH(estimate(sdpa), Catch::Contains("memory-efficient kernel"));
  EstimateInputs llama = in;
  llama.model = resolve_model("llama-3.1-8b");
  CHECK_THROWS_WITH(estimate(llama), Catch::Contains("not an encoder-decoder"));
}

TEST_CASE("T5 under autocast: fp32 norms, a bf16 cast per Linear, fp32 probabilities + their bf16 copy") {
  TrainingSetup s = fp32_eager(128, 64, 2);
  s.precision = Precision::kAmp;
  const ModelConfig m = tiny_t5();
  const Activations a = activations(m, s);
  const Bytes T_e = 256;
  // Encoder block (measured 1,116,160 on the CPU, FINDINGS §34): norms (4 + 4)·T·h + 4·T and 3 resp. 1 bf16 casts of
  // their output, q, k, v, o's input 4 × 2·T·q, probabilities (4 + 2)·b·a·s², relu 2·T·I and wo's cast 2·T·I.
  const Bytes enc = (8 * T_e * 64 + 4 * T_e + 3 * 2 * T_e * 64) + (8 * T_e * 64 + 4 * T_e + 2 * T_e * 64) + 4 * 2 * T_e * 64 +
                    6 * 2 * 2 * 128 * 128 + 4 * T_e * 192;
  CHECK(enc == 1116160);
  CHECK(a.per_layer == enc);
  // Decoder block: the CPU measured 771,584 with bf16 cross-attention probabilities (2·b·a·s_d·s_e); CUDA autocast runs
  // softmax in fp32, so the estimate adds 4·b·a·s_d·s_e. No shared encoder output: each block's k and v save their casts.
  CHECK(a.decoder_per_layer == 771584 + 4 * 2 * 2 * 64 * 128);
  // Head (measured 595,460): decoder final norm 8·T_d·h + 4·T_d, lm_head's bf16 cast 2·T_d·h, labels 8·T_d, fp32 log_softmax.
  CHECK(a.final_norm_saved + logits_loss(m, s).saved.bytes == 595460);
}

TEST_CASE("T5 under full checkpointing: blocks keep their inputs, block 0's outputs are kept once as inputs of the others") {
  TrainingSetup s = fp32_eager(128, 64, 2);
  s.precision = Precision::kBf16;
  s.grad_ckpt = GradCkpt::kFull;
  const Activations a = activations(tiny_t5(), s);
  CHECK(a.kept_per_layer == 2 * 256 * 64);          // the harness record: 32,768 B kept by encoder block 0
  CHECK(a.decoder_kept_per_layer == 2 * 128 * 64);  // 16,384 B per decoder block (measured, kept_by_window fw.D0 / fw.D1)
  CHECK(part(a, "encoder.position_bias") == 2 * 2 * 128 * 128);  // the bf16 [1, a, s_e, s_e] bias (measured: 65,536 B alive)
  CHECK(part(a, "decoder.position_bias") == 2 * 2 * 2 * 64 * 64);
  CHECK(part(a, "decoder.cross_position_bias") == 2 * 2 * 64 * 128);
  CHECK(part(a, "encoder.relative_position_buckets") == 0);  // recomputed in backward, not kept
  // Block 0's recompute at torch.min of _relative_position_bucket: kept input + output gradient 2 × 2·T·h, the position
  // bias gradient 2·a·s², the tied embedding's gradient 2·V·h, norm 0 (4·T·h + 4·T + 2 × 2·T·h), q, k, v 3 × 2·T·q,
  // the aranges 16·s and 6 × 8·s² + s² of buckets.
  const Bytes base = 2 * 32768 + 65536 + 2 * 1000 * 64;
  const Bytes at_bias = (4 * 256 * 64 + 4 * 256 + 2 * 32768) + 3 * 32768 + 16 * 128 + 49 * 128 * 128;
  CHECK(a.first_layer_working == base + at_bias);
}

TEST_CASE("a missing or misplaced --target-seq is one error line naming the flag, exit 2; a T5 estimate with it") {
  const auto other = vramcalc_test::run_vramcalc("--model llama-3.1-8b --target-seq 64");
  CHECK(other.code == 2);
  CHECK(other.err.find("--target-seq: '64'") != std::string::npos);
  const auto missing = vramcalc_test::run_vramcalc("--model t5-small --seq 512 --attention eager");
  CHECK(missing.code == 2);
  CHECK(missing.err.find("--target-seq") != std::string::npos);
  const auto ok = vramcalc_test::run_vramcalc("--model t5-small --seq 512 --target-seq 128 --attention eager --explain");
  CHECK(ok.code == 0);
  CHECK(ok.out.find("cross.probabilities") != std::string::npos);
  CHECK(ok.out.find("one decoder block of the encoder-decoder") != std::string::npos);
}

namespace {

// The census model of tools/measure/t5_census.py (FINDINGS §34): h 64, 3 heads × d_kv 32, d_ff 128, 2 + 2 layers, V 1000.
ModelConfig census_t5(const char* ff, const char* dropout) {
  return parse_model_config(fmt::format(R"({{"model_type": "t5", "d_model": 64, "d_kv": 32, "num_heads": 3, "d_ff": 128, "num_layers": 2,
    "num_decoder_layers": 2, "vocab_size": 1000, "feed_forward_proj": "{}", "dropout_rate": {}}})", ff, dropout), "census t5");
}

}  // namespace

TEST_CASE("T5 dropout 0.1: the census's tensors with CUDA's bool masks (1 B) where the CPU saved e-byte noise") {
  // b 2, s_e 64 (T_e 128), s_d 32 (T_d 64), fp32. CPU census with dropout 0.1 (noise e = 4 B per element): encoder block
  // 951,296, decoder block 762,624; without dropout 558,080 and 500,480 (FINDINGS §34). Each dropout adds on the CPU
  // (the output where a later op saves it) + 4 B/element noise; on CUDA + 1 B/element bool mask instead of the noise.
  const TrainingSetup s = fp32_eager(64, 32, 2);
  const Activations off = activations(census_t5("relu", "0.0"), s);
  CHECK(off.per_layer == 558080);
  CHECK(off.decoder_per_layer == 500480);
  const Activations on = activations(census_t5("relu", "0.1"), s);
  // Encoder: probabilities' dropout output + mask (4 + 1)·b·a·s_e², self output mask T·h, FF dropout output + mask
  // (4 + 1)·T·I, FF output mask T·h.
  const Bytes enc = 5 * 2 * 3 * 64 * 64 + 128 * 64 + 5 * 128 * 128 + 128 * 64;
  const Bytes enc_cpu = 8 * 2 * 3 * 64 * 64 + 4 * 128 * 64 + 8 * 128 * 128 + 4 * 128 * 64;
  CHECK(558080 + enc_cpu == 951296);  // the structure, measured on the CPU
  CHECK(on.per_layer == 558080 + enc);
  CHECK(on.per_layer == 779264);
  // Decoder: self (4 + 1)·b·a·s_d², cross (4 + 1)·b·a·s_d·s_e, three output masks T_d·h, FF (4 + 1)·T_d·I.
  const Bytes dec = 5 * 2 * 3 * 32 * 32 + 5 * 2 * 3 * 32 * 64 + 3 * 64 * 64 + 5 * 64 * 128;
  const Bytes dec_cpu = 8 * 2 * 3 * 32 * 32 + 8 * 2 * 3 * 32 * 64 + 3 * 4 * 64 * 64 + 8 * 64 * 128;
  CHECK(500480 + dec_cpu == 762624);
  CHECK(on.decoder_per_layer == 500480 + dec);
  // Outside: each stack's embedding and final dropout, one mask of T·h each (CPU: +32,768 pre, enc_final; +16,384
  // dec_embed, dec_final); the decoder's final one is in the head.
  CHECK(part(on, "encoder.embedding_dropout_mask") == 128 * 64);
  CHECK(part(on, "encoder.final_dropout_mask") == 128 * 64);
  CHECK(part(on, "decoder.embedding_dropout_mask") == 64 * 64);
  CHECK(part(on, "final_norm.dropout_mask") == 64 * 64);
  CHECK(on.outside == off.outside + 2 * 128 * 64 + 2 * 64 * 64);
  CHECK(on.final_norm_saved == off.final_norm_saved + 64 * 64);
}

TEST_CASE("T5 dropout, gated-gelu: the dropout output replaces the product as wo's input, only its mask is added") {
  const TrainingSetup s = fp32_eager(64, 32, 2);
  const Activations off = activations(census_t5("gated-gelu", "0.0"), s);
  const Activations on = activations(census_t5("gated-gelu", "0.1"), s);
  CHECK(off.per_layer == 951296);  // census, gated-gelu, dropout 0
  // CPU census with dropout 0.1: 1,278,976 = 951,296 + (4 + 4)·b·a·s_e² + 2 × 4·T·h + 4·T·I noise.
  CHECK(951296 + 8 * 2 * 3 * 64 * 64 + 2 * 4 * 128 * 64 + 4 * 128 * 128 == 1278976);
  CHECK(on.per_layer == 951296 + 5 * 2 * 3 * 64 * 64 + 2 * 128 * 64 + 128 * 128);
  CHECK(697088 + 8 * 2 * 3 * 32 * 32 + 8 * 2 * 3 * 32 * 64 + 3 * 4 * 64 * 64 + 4 * 64 * 128 == 926464);
  CHECK(on.decoder_per_layer == 697088 + 5 * 2 * 3 * 32 * 32 + 5 * 2 * 3 * 32 * 64 + 3 * 64 * 64 + 64 * 128);
}

TEST_CASE("T5 dropout under autocast: only bool masks (the matmuls and wo save their bf16 casts either way)") {
  TrainingSetup s = fp32_eager(128, 64, 2);
  s.precision = Precision::kAmp;
  const ModelConfig off_m = tiny_t5();
  ModelConfig on_m = tiny_t5();
  on_m.dropout_rate = 0.1;
  const Activations off = activations(off_m, s);
  const Activations on = activations(on_m, s);
  const Bytes T_e = 256, T_d = 128;
  // CPU autocast census (h 64, 3 heads, d_ff 128, b 2, s_e 64, s_d 32), dropout 0 → 0.1: encoder block 590,848 → 754,688 =
  // fp32 noise 4·b·a·s_e² + bf16 noise 2·T·h (twice) + 2·T·I: the fp32 dropout output is saved by nobody (the matmul saves
  // its bf16 cast in place of the softmax output's). CUDA: the same places with 1-byte masks.
  CHECK(590848 + 4 * 2 * 3 * 64 * 64 + 2 * 2 * 128 * 64 + 2 * 128 * 128 == 754688);
  CHECK(on.per_layer == off.per_layer + 2 * 2 * 128 * 128 + 2 * T_e * 64 + T_e * 192);
  CHECK(on.decoder_per_layer == off.decoder_per_layer + 2 * 2 * 64 * 64 + 2 * 2 * 64 * 128 + 3 * T_d * 64 + T_d * 192);
}

TEST_CASE("T5's dropout comes from the config (default 0.1); --dropout overrides it, 0 = off; other models refuse it") {
  const ModelConfig dflt = parse_model_config(R"({"model_type": "t5", "d_model": 64, "d_kv": 32, "num_heads": 2, "d_ff": 192,
    "num_layers": 2, "vocab_size": 1000})", "t5 without dropout_rate");
  CHECK(dflt.dropout_rate == 0.1);  // T5Config default
  CHECK(resolve_model("t5-small").dropout_rate == 0.1);
  TrainingSetup s = fp32_eager(64, 32, 2);
  const Bytes with = activations(census_t5("relu", "0.1"), s).per_layer;
  s.dropout = 0.0;
  CHECK(activations(census_t5("relu", "0.1"), s).per_layer == 558080);
  s.dropout = 0.2;
  CHECK(activations(census_t5("relu", "0.0"), s).per_layer == with);  // bytes do not depend on p
  const auto off = vramcalc_test::run_vramcalc("--model t5-small --seq 64 --target-seq 32 --attention eager --dropout 0 --explain");
  CHECK(off.code == 0);
  CHECK(off.out.find("dropout off") != std::string::npos);
  const auto on = vramcalc_test::run_vramcalc("--model t5-small --seq 64 --target-seq 32 --attention eager --explain");
  CHECK(on.out.find("self.probabilities_dropout") != std::string::npos);
  const auto llama = vramcalc_test::run_vramcalc("--model llama-3.1-8b --dropout 0.1");
  CHECK(llama.code == 2);
  CHECK(llama.err.find("--dropout: '0.1'") != std::string::npos);
  const auto bad = vramcalc_test::run_vramcalc("--model t5-small --seq 64 --target-seq 32 --dropout 1");
  CHECK(bad.code == 2);
  CHECK(bad.err.find("--dropout: '1'") != std::string::npos);
}
