// Activation offloading (--offload-activations, torchtune OffloadActivations): hand-derived bytes
// and the CPU measurements of the real torchtune hooks (tests/data/measured/offload_cpu.json).
#include <cmath>
#include <fstream>
#include <sstream>

#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

#include <vramcalc/activations.hpp>
#include <vramcalc/error.hpp>
#include <vramcalc/estimate.hpp>
#include <vramcalc/model_io.hpp>

#include "cli_run.hpp"

namespace vramcalc {
namespace {

// The measured model: transformers Llama, h 128, 4 heads (2 KV) of 32, I 320, 3 layers, vocab 4096.
ModelConfig tiny_llama() {
  return parse_model_config(R"({"model_type":"llama","hidden_size":128,"num_attention_heads":4,"num_key_value_heads":2,
    "head_dim":32,"intermediate_size":320,"num_hidden_layers":3,"vocab_size":4096,"max_position_embeddings":16384,
    "tie_word_embeddings":false})", "test");
}

TrainingSetup bf16(std::uint64_t seq, std::uint64_t batch, GradCkpt ckpt) {
  TrainingSetup s;
  s.seq_len = seq;
  s.micro_batch = batch;
  s.precision = Precision::kBf16;
  s.grad_ckpt = ckpt;
  s.offload_activations = true;
  return s;
}

}  // namespace

TEST_CASE("offloading copies each save: 4,227,072 B per tiny Llama layer at T = 512", "[offload]") {
  const std::uint64_t T = 512, h = 128, qd = 128, kvd = 64, I = 320, s = 256, rot = 32, a = 4, b = 2;
  // Per layer, one host copy per save: two RMSNorms (fp32 input by pow and mul, rstd by rsqrt and
  // mul, normalised once), the first norm's output by q, k, v, the second's by gate and up; SDPA's
  // q, k, v, output, fp32 logsumexp; the output again as o_proj's input; RoPE's cos and sin for q and
  // for k ((1, s, rot) bf16 each); the MLP's gate, act, up, product; every Linear's weight.t().
  const std::uint64_t norms = 2 * (2 * 4 * T * h + 2 * 4 * T + 2 * T * h);
  const std::uint64_t norm_outputs = (3 + 2) * 2 * T * h;
  const std::uint64_t attention = 2 * T * qd + 2 * 2 * T * kvd + 2 * T * qd + 4 * b * a * s + 2 * T * qd;
  const std::uint64_t rope = 4 * 2 * s * rot;
  const std::uint64_t mlp = 4 * 2 * T * I;
  const std::uint64_t weights = 2 * (h * qd + 2 * h * kvd + qd * h + 3 * h * I);
  const std::uint64_t layer = norms + norm_outputs + attention + rope + mlp + weights;
  CHECK(layer == 4227072);
  // Outside: int64 ids (8T) and the final norm's fp32 input and rstd twice, normalised once; not
  // lm_head's input (NoOpManager).
  const std::uint64_t outside = 8 * T + 2 * 4 * T * h + 2 * 4 * T + 2 * T * h;
  const Activations act = activations(tiny_llama(), bf16(s, b, GradCkpt::kNone));
  CHECK(act.offload.host_bytes == 3 * layer + outside);
  CHECK(act.offload.host_bytes == 13344768);  // measured: offload_cpu.json ckptnone-s256-b2
}

TEST_CASE("offloading with full checkpointing copies only each layer's input", "[offload]") {
  const std::uint64_t T = 512, h = 128;
  const Activations act = activations(tiny_llama(), bf16(256, 2, GradCkpt::kFull));
  CHECK(act.offload.moved == 3 * 2 * T * h);
  CHECK(act.offload.host_bytes == 3 * 2 * T * h + 8 * T + 2 * 4 * T * h + 2 * 4 * T + 2 * T * h);
  CHECK(act.offload.host_bytes == 1056768);  // measured
  // The stack on the GPU keeps only what is outside the layers.
  CHECK(act.stack.bytes == act.outside);
}

TEST_CASE("tensors under 1024 B stay on the GPU", "[offload]") {
  // T = 64: the per-row rstd (4T = 256 B) and the ids (8T = 512 B) are not copied.
  const Activations act = activations(tiny_llama(), bf16(64, 1, GradCkpt::kNone));
  CHECK(act.offload.small_per_layer == 2 * 4 * 64);
  CHECK(act.offload.host_bytes == 2591744);  // measured: offload_cpu.json ckptnone-s64-b1
}

TEST_CASE("pinned host blocks are powers of two", "[offload]") {
  CHECK(pinned_block(1) == 1);
  CHECK(pinned_block(1024) == 1024);
  CHECK(pinned_block(1025) == 2048);
  CHECK(pinned_block(327680) == 524288);
  const Activations act = activations(tiny_llama(), bf16(256, 2, GradCkpt::kNone));
  CHECK(act.offload.pinned_bytes >= act.offload.host_bytes);
  CHECK(act.offload.pinned_bytes < 2 * act.offload.host_bytes);
}

TEST_CASE("offloading lowers the GPU peak and adds pinned host RAM to the CPU verdict", "[offload]") {
  EstimateInputs in;
  in.model = resolve_model("llama-3-8b");
  in.setup.seq_len = 8192;
  in.setup.precision = Precision::kBf16;
  in.setup.grad_ckpt = GradCkpt::kFull;
  in.with_advice = false;
  const Estimate plain = estimate(in);
  in.setup.offload_activations = true;
  const Estimate off = estimate(in);
  // 32 checkpoint inputs of 2·T·h bf16 leave the GPU; at most two are in flight.
  const std::uint64_t input = 2ULL * 8192 * 4096;
  CHECK(off.activations.offload.moved == 32 * input);
  CHECK(off.activations.offload.forward_in_flight == 2 * input);
  // The step sets this peak either way; the forward drops by what moved.
  CHECK(plain.phase(PhaseId::kForward)->allocated - off.phase(PhaseId::kForward)->allocated == 32 * input - 0);
  CHECK(off.host.offloaded_activations.bytes == off.activations.offload.pinned_bytes);
  CHECK(off.host.ram_per_rank >= 32 * input);
  CHECK(off.cpu_peak_per_node >= 32 * input);
}

TEST_CASE("offloading refuses combinations it does not model", "[offload]") {
  EstimateInputs in;
  in.model = tiny_llama();
  in.setup = bf16(256, 1, GradCkpt::kSelective);
  CHECK_THROWS_AS(estimate(in), InputError);
  in.setup = bf16(256, 1, GradCkpt::kOpSac);
  CHECK_THROWS_AS(estimate(in), InputError);
  in.setup = bf16(256, 1, GradCkpt::kNone);
  in.setup.lora.rank = 8;
  CHECK_THROWS_AS(estimate(in), InputError);
}

TEST_CASE("offloading records: host copies and moved bytes against the CPU measurements", "[offload][accuracy]") {
  std::ifstream f(std::string(VRAMCALC_SOURCE_DIR) + "/tests/data/measured/offload_cpu.json");
  REQUIRE(f.good());
  const nlohmann::json doc = nlohmann::json::parse(f);
  int n = 0;
  for (const auto& r : doc.at("records")) {
    const auto& s = r.at("setup");
    const Activations act =
        activations(tiny_llama(), bf16(s.at("seq").get<std::uint64_t>(), s.at("batch").get<std::uint64_t>(),
                                       parse_grad_ckpt(s.at("grad_ckpt").get<std::string>())));
    const double measured = r.at("value_bytes").get<double>();
    const bool host = r.at("metric") == "offload_host_bytes";
    const double predicted = static_cast<double>(host ? act.offload.host_bytes : act.offload.moved);
    INFO(r.at("id").get<std::string>() << " predicted " << predicted << " measured " << measured);
    // Host copies are exact; the moved bytes include vramcalc's RoPE table term, which counts
    // T·rot where transformers builds (1, s, rot) tables (b − 1 too many at batch > 1).
    CHECK(std::abs(predicted - measured) <= (host ? 0.0 : 0.01 * measured));
    ++n;
  }
  CHECK(n == 8);
}

TEST_CASE("offload-activations flag: CLI, JSON and explain", "[offload][cli]") {
  const auto r = vramcalc_test::run_vramcalc("--model llama-3-8b --precision bf16 --grad-ckpt full --seq 8192 --offload-activations --format json");
  REQUIRE(r.code == 0);
  const auto j = nlohmann::json::parse(r.out);
  CHECK(j.at("inputs").at("offload_activations") == true);
  CHECK(j.at("activation_offload").at("moved_bytes") == 32ULL * 2 * 8192 * 4096);
  CHECK(j.at("cpu").at("training_ram_bytes_per_rank").get<std::uint64_t>() >= 32ULL * 2 * 8192 * 4096);
  const auto e = vramcalc_test::run_vramcalc("--model llama-3-8b --precision bf16 --grad-ckpt full --offload-activations --explain");
  REQUIRE(e.code == 0);
  CHECK(e.out.find("offloaded_activations") != std::string::npos);
  CHECK(e.out.find("offload_in_flight") != std::string::npos);
  CHECK(e.out.find("_NoopSaveInputs") != std::string::npos);
  const auto bad = vramcalc_test::run_vramcalc("--model llama-3-8b --grad-ckpt selective --offload-activations");
  CHECK(bad.code == 2);
  CHECK(bad.err.find("--offload-activations") != std::string::npos);
}

}  // namespace vramcalc
