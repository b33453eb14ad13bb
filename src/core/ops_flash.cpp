// flash-attn 2 and 3 (see ops_flash.hpp).
#include "core/ops_flash.hpp"

#include <fmt/format.h>

namespace vramcalc {
namespace {

constexpr BackwardRegion kIn = BackwardRegion::kInput;

void add(std::vector<SavedTensor>& out, std::string name, Bytes bytes, std::string formula, const char* source,
         BackwardRegion region = kIn, bool estimated = false) {
  out.push_back({{std::move(name), bytes, std::move(formula), source, estimated}, region, false});
}

Bytes round_up(Bytes v, Bytes m) { return ceil_div(v, m) * m; }

// FA3 hopper/flash_api.cpp round_up_headdim: 64, 96, 128, 192, 256.
Bytes fa3_head_rounded(Bytes d) {
  for (Bytes r : {Bytes{64}, Bytes{96}, Bytes{128}, Bytes{192}}) {
    if (d <= r) return r;
  }
  return round_up(d, 256);
}

}  // namespace

// FlashAttnFunc.forward: ctx.save_for_backward(q, k, v, out_padded, softmax_lse, rng_state);
// q, k, v in HF's (b, s, heads, d) layout (transpose(1, 2) of the projection views: no copy),
// k and v at the KV heads (native GQA); softmax_lse fp32 (b, a, s), FA2's rng_state int64[2]
// (FA3 keeps none). No mask is built: causal and sliding windows are kernel arguments. With a
// padding mask HF unpads q, k, v (gathered copies replacing the originals) and scatters the
// varlen output into a zero (b·s, a, d) buffer, which o_proj saves beside the kernel's output.
void flash_saved(const AttentionOp& op, const TrainingSetup& setup, const Dims& x, std::vector<SavedTensor>& out) {
  const bool fa2 = setup.attention == Attention::kFlash2;
  const char* src = fa2 ? "flash-attn flash_attn/flash_attn_interface.py FlashAttnFunc (save_for_backward q, k, v, out_padded, softmax_lse, rng_state)"
                        : "flash-attn hopper/flash_attn_interface.py FlashAttnFunc (save_for_backward q, k, v, out, softmax_lse)";
  add(out, "attn.q_rope", checked_product({x.e, x.T, x.qd}), fmt::format("{}·T·qd: q after RoPE", x.e), src);
  add(out, "attn.k_rope", checked_product({x.e, x.T, x.kvd}), fmt::format("{}·T·kvd: k after RoPE at the KV heads (native GQA)", x.e), src);
  if (op.fused_qkv) {
    add(out, "attn.qkv_storage", checked_product({x.e, x.T, x.qd + 2 * x.kvd}),
        fmt::format("{}·T·(qd+2·kvd): v is a view of the fused qkv output, keeping all of it", x.e), src);
  } else {
    add(out, "attn.v", checked_product({x.e, x.T, x.kvd}), fmt::format("{}·T·kvd: v projection output", x.e), src);
  }
  add(out, "attn.out", checked_product({x.e, x.T, x.qd}), fmt::format("{}·T·qd: kernel output, also o_proj's saved input", x.e), src,
      BackwardRegion::kAfterAttention);
  add(out, "attn.softmax_lse", checked_product({4, x.b, x.a, x.s}), "4·b·a·s: fp32 logsumexp", src);
  if (fa2) add(out, "attn.rng_state", 16, "16 B: int64[2] philox seed and offset (no dropout mask is kept)", src);
  if (setup.explicit_mask) {
    add(out, "attn.out_scattered", checked_product({x.e, x.T, x.qd}),
        fmt::format("{}·T·qd: varlen output scattered back to the padded batch (pad_input), o_proj's saved input", x.e),
        "transformers modeling_flash_attention_utils.py _flash_attention_forward (_upad_input / pad_input)", BackwardRegion::kAfterAttention);
  }
}

// FA2 mha_bwd: dq, dk, dv (dk, dv expanded to a heads in the input dtype under GQA, then
// summed), softmax_d fp32 (b, a, s₁₂₈), dq_accum fp32 (b, s₁₂₈, a, d_r), d_r = d rounded to 32
// (d ≤ 128) or 64. FA3 mha_bwd: softmax_d and softmax_lse_log2 fp32 (b, a, s₁₂₈), dq_accum fp32
// (b, a, s₁₂₈·d_r), and under GQA fp32 dk_accum, dv_accum at the KV heads instead of FA2's
// expansion. Both beside the incoming gradient of the output.
Bytes flash_backward_transient(const ModelConfig& m, const TrainingSetup& setup, const Dims& x) {
  const bool gqa = m.num_kv_heads < m.num_heads;
  const Bytes s_r = round_up(x.s, 128);
  const Bytes grads = checked_add(checked_product({2, x.e, x.T, x.qd}), checked_product({2, x.e, x.T, x.kvd}));
  if (setup.attention == Attention::kFlash2) {
    const Bytes d_r = round_up(x.d, x.d <= 128 ? 32 : 64);
    const Bytes expanded = gqa ? checked_product({2, x.e, x.T, x.qd}) : 0;
    return grads + expanded + checked_product({4, x.b, s_r, x.a, d_r}) + checked_product({4, x.b, x.a, s_r});
  }
  const Bytes accum = gqa ? checked_product({2, 4, x.T, x.kvd}) : 0;
  return grads + accum + checked_product({4, x.b, x.a, s_r, fa3_head_rounded(x.d)}) + checked_product({8, x.b, x.a, s_r});
}

}  // namespace vramcalc
