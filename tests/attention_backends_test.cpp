// Attention backends: SDPA's math fallback (checked against the CPU measurement of
// torch 2.15's _scaled_dot_product_attention_math), compiled FlexAttention, and which kernel
// SDPA picks for a dtype, head dim, mask and GPU.
#include <catch2/catch.hpp>

#include <vramcalc/activations.hpp>
#include <vramcalc/estimate.hpp>
#include <vramcalc/gpu.hpp>
#include <vramcalc/model_io.hpp>

#include "cli_run.hpp"
#include "core/ops_attention_backends.hpp"

namespace vramcalc {
namespace {

std::uint64_t attention_bytes(const AttentionOp& op, const Dims& x, Attention backend) {
  TrainingSetup s;
  s.attention = backend;
  ModelConfig m;
  m.num_heads = x.a;
  m.num_kv_heads = x.kvd / x.d;
  std::vector<SavedTensor> out;
  attention_saved(op, m, s, x, false, out);
  std::uint64_t total = 0;
  for (const auto& p : out) total += p.term.bytes;
  return total;
}

}  // namespace

TEST_CASE("SDPA's math path saves fp32 q, k, v at the query heads and the fp32 probabilities (CPU measurement)", "[attention]") {
  // Measured (torch 2.15, sdpa_kernel(SDPBackend.MATH), b 2, a 4, kv 2, s 64, d 16, bf16 and fp32,
  // with and without enable_gqa): four saved storages, 32,768 B (q, kᵀ, v: (b·a, s, d) fp32) ×3
  // and 131,072 B (probs (b, a, s, s) fp32); nothing in the input dtype.
  const std::uint64_t b = 2, a = 4, kv = 2, s = 64, d = 16, T = b * s;
  for (const std::uint64_t e : {2ULL, 4ULL}) {
    const Dims x{T, a * d, a * d, kv * d, 4 * a * d, a, s, b, d, d, e, e, false, {}, 0, {}};
    const AttentionOp op{};
    std::vector<SavedTensor> out;
    sdpa_math_saved(x, out);
    REQUIRE(out.size() == 5);
    CHECK(out[0].term.bytes + out[1].term.bytes + out[2].term.bytes == 3 * 32768);
    CHECK(out[3].term.bytes == 131072);
    CHECK(out[3].grows_s2);
    // Beyond the kernel: HF's transpose(1, 2).contiguous() of the output, o_proj's input.
    CHECK(out[4].term.bytes == e * T * a * d);
    CHECK(attention_bytes(op, x, Attention::kSdpaMath) == 3 * 32768 + 131072 + e * T * a * d);
  }
}

TEST_CASE("sdpa-math and flex on Llama-3-8B: s² probabilities versus logsumexp and a BlockMask", "[attention]") {
  const ModelConfig m = resolve_model("llama-3-8b");  // a 32, k 8, d 128
  const std::uint64_t T = 4096, qd = 4096, kvd = 1024, a = 32;
  TrainingSetup s;
  s.seq_len = T;
  s.precision = Precision::kBf16;
  const Activations sdpa = activations(m, s);
  s.attention = Attention::kSdpaMath;
  const Activations math = activations(m, s);
  // SDPA (flash): q, k, v, out 2·T·(2qd + 2kvd) + lse 4aT → math: 3 × 4·T·qd + 4·a·s² + 2·T·qd.
  const std::uint64_t sdpa_attn = 2 * T * (2 * qd + 2 * kvd) + 4 * a * T;
  const std::uint64_t math_attn = 12 * T * qd + 4 * a * T * T + 2 * T * qd;
  CHECK(math.per_layer == sdpa.per_layer - sdpa_attn + math_attn);
  CHECK(math.s2_per_layer == 4 * a * T * T);
  CHECK(math.attn_backward_transient == 8 * a * T * T + 4 * T * qd);
  s.attention = Attention::kFlex;
  const Activations flex = activations(m, s);
  // Flex keeps the kernel output and HF's contiguous copy: one T·qd more than SDPA's flash.
  CHECK(flex.per_layer == sdpa.per_layer + 2 * T * qd);
  CHECK(flex.s2_per_layer == 0);
  // BlockMask, n = 4096/128 = 32: 4 int32 (1, 1, 32, 32) index tensors and 4 (1, 1, 32) counts, once.
  CHECK(flex.outside == sdpa.outside + 4 * 4 * 32 * 32 + 4 * 4 * 32);
  CHECK(flex.attn_backward_transient == 2 * T * (2 * qd + 2 * kvd) + 4 * a * T);
}

TEST_CASE("SDPA's kernel choice follows sdp_utils: flash, else memory-efficient, else math", "[attention]") {
  const ModelConfig m = resolve_model("llama-3-8b");
  TrainingSetup s;
  s.precision = Precision::kBf16;
  const auto a100 = std::optional<GpuSpec>(find_gpu("a100-80gb"));
  const auto v100 = std::optional<GpuSpec>(find_gpu("v100-32gb"));
  CHECK(sdpa_kernel_for(m, s, a100, false) == SdpaKernel::kFlash);
  CHECK(sdpa_kernel_for(m, s, a100, true) == SdpaKernel::kEfficient);  // a mask rules flash out
  CHECK(sdpa_kernel_for(m, s, v100, false) == SdpaKernel::kMath);      // bf16 needs sm80 for both fused kernels
  s.precision = Precision::kFp32;
  CHECK(sdpa_kernel_for(m, s, a100, false) == SdpaKernel::kEfficient);  // fp32 training: no flash kernel
  CHECK(sdpa_kernel_for(m, s, v100, false) == SdpaKernel::kEfficient);
  s.precision = Precision::kBf16;
  ModelConfig wide = m;
  wide.head_dim = 512;  // beyond flash's 256
  CHECK(sdpa_kernel_for(wide, s, a100, false) == SdpaKernel::kEfficient);
  wide.head_dim = 100;  // not a multiple of 8
  CHECK(sdpa_kernel_for(wide, s, a100, false) == SdpaKernel::kMath);
}

TEST_CASE("Explain names SDPA's kernel and lists every kernel set's saved tensors", "[attention][cli]") {
  const auto fp32 = vramcalc_test::run_vramcalc("--model llama-3.2-1b --precision fp32 --gpu a100-80gb --explain");
  CHECK(fp32.code == 0);
  CHECK(fp32.out.find("SDPA kernel on a100-80gb (sm80): memory-efficient") != std::string::npos);
  const auto v100 = vramcalc_test::run_vramcalc("--model llama-3.2-1b --precision bf16 --gpu v100-32gb --explain");
  CHECK(v100.out.find("math fallback") != std::string::npos);
  const auto math = vramcalc_test::run_vramcalc("--model llama-3.2-1b --attention sdpa-math --explain");
  CHECK(math.code == 0);
  CHECK(math.out.find("attn.probs_fp32") != std::string::npos);
  const auto flex = vramcalc_test::run_vramcalc("--model llama-3.2-1b --attention flex --explain");
  CHECK(flex.out.find("flex_block_mask") != std::string::npos);
  CHECK(flex.out.find("attn.logsumexp") != std::string::npos);
  const auto fa2 = vramcalc_test::run_vramcalc("--model llama-3.2-1b --attention flash2 --explain");
  CHECK(fa2.out.find("attn.softmax_lse") != std::string::npos);
  CHECK(fa2.out.find("attn.rng_state") != std::string::npos);
  // Each Liger kernel's saved tensors: the fused norm's input and rstd, SiLU·mul's gate, up and
  // product, RoPE rotating in place, and the fused loss's forward-time gradients.
  const auto liger = vramcalc_test::run_vramcalc("--model llama-3.2-1b --kernels liger --explain");
  for (const char* part : {"input_layernorm.rstd", "saved by the fused norm", "mlp.product", "rotated in place by Liger's RoPE",
                           "lm_head grad 2·V·h"}) {
    INFO(part);
    CHECK(liger.out.find(part) != std::string::npos);
  }
}

}  // namespace vramcalc
