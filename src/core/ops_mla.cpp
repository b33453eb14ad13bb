// Multi-head latent attention (DeepSeek-V2/V3; transformers 5.24 models/deepseek_v3/modeling_deepseek_v3.py
// DeepseekV3Attention.forward / expand_kv, deepseek_v2 alike): what the core attention saves from the
// projections' outputs to o_proj's input. The norms (q_a_layernorm, kv_a_layernorm) are NormOps of the layer.
// Symbols: a heads, d_qk = d_nope + d_rope, d_v, r_kv the latent, d_rope the shared rotated key part.
// Measured on transformers 5.24 / torch 2.15 CPU (tools/measure/FINDINGS.md §MLA).
#include <fmt/format.h>

#include <vramcalc/error.hpp>

#include "core/ops.hpp"
#include "core/ops_flash.hpp"

namespace vramcalc {
namespace {

constexpr const char* kSrc = "transformers models/deepseek_v3/modeling_deepseek_v3.py DeepseekV3Attention (deepseek_v2 alike)";
constexpr const char* kEager = "transformers models/deepseek_v3/modeling_deepseek_v3.py eager_attention_forward";
constexpr const char* kSdpa = "torch SDPA mem-efficient kernel (v head dim ≠ q/k head dim rules out flash) saves q, k, v, out, logsumexp";

void add(std::vector<SavedTensor>& out, std::string name, Bytes bytes, std::string formula, const char* source,
         BackwardRegion region = BackwardRegion::kInput, bool s2 = false) {
  out.push_back({{std::move(name), bytes, std::move(formula), source, false}, region, s2});
}

// Saved by every backend: in fp32 without autocast kv_a_layernorm's `.to(float32)` is a no-op, so the norm
// saves a view of the kv_a_proj_with_mqa output and pins its d_rope columns too.
void latent_saved(const ModelConfig& m, const Dims& x, std::vector<SavedTensor>& out) {
  if (x.amp || x.e != 4) return;
  add(out, "attn.mla.kv_a_rope_columns", checked_product({4, x.T, m.qk_rope_head_dim}),
      "4·T·d_rope: kv_a_layernorm saves a view of kv_a_proj_with_mqa's fp32 output, pinning the k_rot columns", kSrc);
}

// q = cat(q_nope, rope(q_rot)) and k = new_empty + copy_(k_nope, broadcast k_rot): two new a·d_qk tensors;
// v is a split view of kv_b_proj's output, so whoever saves v keeps all of it (a·(d_nope + d_v)).
void qkv_saved(const ModelConfig& m, const Dims& x, bool v_copied, const char* src, std::vector<SavedTensor>& out) {
  const Bytes a = m.num_heads;
  add(out, "attn.mla.q", checked_product({x.e, x.T, a, m.head_dim}),
      fmt::format("{}·T·a·d_qk: query, the cat of q_nope and rotated q_rot (a new tensor)", x.e), src);
  add(out, "attn.mla.k", checked_product({x.e, x.T, a, m.head_dim}),
      fmt::format("{}·T·a·d_qk: key, new_empty + copy_ of k_nope and the rotated k_rot broadcast to every head", x.e), src);
  if (v_copied) {
    add(out, "attn.mla.v_copy", checked_product({x.e, x.T, a, m.v_head_dim}),
        fmt::format("{}·T·a·d_v: matmul's copy of the strided value view (batch > 1)", x.e), src);
  } else {
    add(out, "attn.mla.kv_b_out", checked_product({x.e, x.T, a, m.qk_nope_head_dim + m.v_head_dim}),
        fmt::format("{}·T·a·(d_nope + d_v): kv_b_proj's output, pinned by the value view", x.e), src);
  }
}

void sdpa_mla_saved(const ModelConfig& m, const Dims& x, bool masked, std::vector<SavedTensor>& out) {
  qkv_saved(m, x, false, kSdpa, out);
  add(out, "attn.out", checked_product({x.e, x.T, m.num_heads, m.v_head_dim}),
      fmt::format("{}·T·a·d_v: kernel output, also o_proj's saved input", x.e), kSdpa, BackwardRegion::kAfterAttention);
  add(out, "attn.logsumexp", checked_product({4, x.b, x.a, ceil_div(x.s, 32) * 32}), "4·b·a·s₃₂: fp32 softmax statistics (s rounded up to 32)",
      kSdpa, BackwardRegion::kInput, true);
  if (masked) {
    add(out, "attn.mask_float", checked_product({x.e, x.b, x.s, x.s}),
        fmt::format("{}·b·s²: boolean mask converted to the query dtype and saved by the kernel", x.e),
        "aten/src/ATen/native/transformers/attention.cpp convert_boolean_attn_mask", BackwardRegion::kInput, true);
  }
}

void eager_mla_saved(const ModelConfig& m, const Dims& x, std::vector<SavedTensor>& out) {
  qkv_saved(m, x, x.b > 1, kEager, out);
  add(out, "attn.softmax_fp32", checked_product({4, x.a, x.s, x.s, x.b}), "4·a·s²·b: fp32 softmax output (saved by softmax backward)", kEager,
      BackwardRegion::kInput, true);
  if (x.e != 4) {
    add(out, "attn.probs_bf16", checked_product({2, x.a, x.s, x.s, x.b}), "2·a·s²·b: bf16 probabilities saved by probs·v", kEager,
        BackwardRegion::kAfterAttention, true);
  }
  add(out, "attn.out_contiguous", checked_product({x.e, x.T, m.num_heads, m.v_head_dim}),
      fmt::format("{}·T·a·d_v: transpose().contiguous() copy, o_proj's saved input", x.e), kEager, BackwardRegion::kAfterAttention);
}

}  // namespace

void mla_saved(const ModelConfig& m, const TrainingSetup& setup, const Dims& x, bool masked, std::vector<SavedTensor>& out) {
  if (is_flash(setup.attention)) {
    throw InputError(field::kAttention, "flash",
                     "multi-head latent attention (DeepSeek) with flash-attn is not modelled (HF pads v to the q/k head dim); use sdpa or eager");
  }
  latent_saved(m, x, out);
  if (setup.attention == Attention::kSdpa) {
    sdpa_mla_saved(m, x, masked, out);
  } else {
    eager_mla_saved(m, x, out);
  }
}

}  // namespace vramcalc
