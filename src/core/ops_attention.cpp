// The attention op: what the SDPA kernels and HF's eager attention save for backward
// (transformers integrations/sdpa_attention.py, models/llama/modeling_llama.py
// eager_attention_forward; torch's SDPA autograd formulas).
#include <fmt/format.h>

#include "core/ops.hpp"
#include "core/ops_attention_backends.hpp"
#include "core/ops_flash.hpp"

namespace vramcalc {
namespace {

constexpr BackwardRegion kIn = BackwardRegion::kInput;
constexpr BackwardRegion kAfter = BackwardRegion::kAfterAttention;

void add(std::vector<SavedTensor>& out, std::string name, Bytes bytes, std::string formula, const char* source,
         BackwardRegion region = kIn, bool estimated = false, bool s2 = false) {
  out.push_back({{std::move(name), bytes, std::move(formula), source, estimated}, region, s2});
}

Bytes qkv_storage(const Dims& x) { return checked_product({x.e, x.T, x.qd + 2 * x.kvd}); }

// q (after RoPE), k and v as the SDPA kernel saves them.
void sdpa_qkv_saved(const AttentionOp& op, const Dims& x, bool repeated, std::vector<SavedTensor>& out) {
  const char* src = "torch SDPA flash/mem-efficient kernels save q, k, v, out, logsumexp; transformers integrations/sdpa_attention.py";
  if (op.rope) {
    add(out, "attn.q_rope", checked_product({x.e, x.T, x.qd}),
        fmt::format("{}·T·qd: q after RoPE ({})", x.e,
                    x.kernels.fused_rope ? "rotated in place by Liger's RoPE, which saves only cos/sin" : "new tensor; RoPE's muls save only cos/sin"),
        src);
  } else {
    add(out, "attn.q", checked_product({x.e, x.T, x.qd}), fmt::format("{}·T·qd: q projection output (a view, no rotation)", x.e), src);
  }
  if (repeated) {
    add(out, "attn.k_repeated", checked_product({x.e, x.T, x.qd}), fmt::format("{}·T·qd: k after RoPE, repeated to a heads (repeat_kv: masked SDPA)", x.e), src);
    add(out, "attn.v_repeated", checked_product({x.e, x.T, x.qd}), fmt::format("{}·T·qd: v repeated to a heads (repeat_kv: masked SDPA)", x.e), src);
  } else {
    add(out, op.rope ? "attn.k_rope" : "attn.k", checked_product({x.e, x.T, x.kvd}),
        fmt::format("{}·T·kvd: k {}", x.e, op.rope ? "after RoPE (native GQA, or one KV head expanded as a view)" : "projection output (a view, no rotation)"), src);
    if (op.fused_qkv) {
      add(out, "attn.qkv_storage", qkv_storage(x), fmt::format("{}·T·(qd+2·kvd): v is a view of the fused qkv output, keeping all of it", x.e),
          "transformers models/phi3 Phi3Attention, models/gpt_neox GPTNeoXAttention (qkv sliced into views)");
    } else {
      add(out, "attn.v", checked_product({x.e, x.T, x.kvd}), fmt::format("{}·T·kvd: v projection output", x.e), src);
    }
  }
}

void sdpa_saved(const AttentionOp& op, const ModelConfig& m, const Dims& x, bool masked, std::vector<SavedTensor>& out) {
  const char* src = "torch SDPA flash/mem-efficient kernels save q, k, v, out, logsumexp; transformers integrations/sdpa_attention.py";
  const Bytes n_rep = m.num_heads / m.num_kv_heads;
  // With a mask HF does not use SDPA's native GQA (use_gqa_in_sdpa is false when attention_mask
  // is given), so k and v reach the kernel repeated to a heads.
  // repeat_kv of a single KV head is expand + reshape, a stride-0 view: nothing is copied, k is
  // saved at one head's width and v keeps the tensor it views (transformers 5.x Falcon-7B
  // measured on CPU: saved k [b,1,s,d] expanded, v a view of the fused qkv output).
  const bool repeated = masked && n_rep > 1 && m.num_kv_heads > 1;
  if (!op.rope && op.fused_qkv && !repeated) {
    // No rotation (GPT-2): q, k and v are views of the fused projection output; the kernel saves them.
    add(out, "attn.qkv_storage", qkv_storage(x), fmt::format("{}·T·(qd+2·kvd): q, k, v are views of the fused qkv output, keeping all of it", x.e),
        "transformers models/gpt2/modeling_gpt2.py GPT2Attention (c_attn(...).split)");
  } else {
    sdpa_qkv_saved(op, x, repeated, out);
  }
  // CUDA's flash and memory-efficient kernels allocate the output [b, s, a, d] whatever q's
  // layout (aten/src/ATen/native/transformers/cuda/attention.cu: the query is transposed before
  // the kernel), so HF's transpose(1, 2).contiguous() is a view and o_proj saves this storage.
  // (The CPU kernel follows q's layout: with RoPE ending in torch.cat, GPT-NeoX and Phi-3 save
  // a second q-wide copy on CPU.)
  add(out, "attn.out", checked_product({x.e, x.T, x.qd}), fmt::format("{}·T·qd: kernel output, also o_proj's saved input", x.e), src, kAfter);
  // Flash pads nothing on the logsumexp; the mem-efficient kernel (fp32, or with a mask) rounds
  // the sequence up to a multiple of 32.
  const bool efficient = x.e == 4 || masked;
  const Bytes s_lse = efficient ? ceil_div(x.s, 32) * 32 : x.s;
  add(out, "attn.logsumexp", checked_product({4, x.b, x.a, s_lse}),
      fmt::format("4·b·a·s{}: fp32 softmax statistics", efficient ? "₃₂ (s rounded up to 32)" : ""), src, kIn, true);
  if (masked) {
    add(out, "attn.mask_float", checked_product({x.e, x.b, x.s, x.s}),
        fmt::format("{}·b·s²: boolean mask converted to the query dtype and saved by the kernel", x.e),
        "aten/src/ATen/native/transformers/attention.cpp convert_boolean_attn_mask; efficient-attention backward takes the bias",
        kIn, true, true);
  }
}

// matmul folds (b, heads) into one batch dim and copies an operand whose strides do not allow
// it; at batch 1 that fold is a view, so a single KV head expanded by repeat_kv (stride 0) and
// a fused-qkv view of v are saved as they are, without a copy.
void eager_kv_saved(const AttentionOp& op, const ModelConfig& m, const Dims& x, std::vector<SavedTensor>& out) {
  const char* src = "transformers models/llama/modeling_llama.py eager_attention_forward";
  const Bytes n_rep = m.num_heads / m.num_kv_heads;
  const bool batch_one = x.b == 1;
  if (batch_one && n_rep > 1 && m.num_kv_heads == 1) {
    // Under autocast k is fp32 (RoPE with fp32 cos/sin) and the matmul's bf16 cast of the
    // stride-0 view materialises all heads; v is already bf16 and stays a view.
    const Bytes k_width = x.amp ? x.qd : x.kvd;
    add(out, "attn.k", checked_product({x.e, x.T, k_width}),
        x.amp ? fmt::format("{}·T·qd: autocast's bf16 cast of the repeated fp32 k materialises every head", x.e)
              : fmt::format("{}·T·kvd: k after RoPE; repeat_kv of one KV head is a stride-0 view at batch 1", x.e),
        src);
    add(out, "attn.v", checked_product({x.e, x.T, x.kvd}), fmt::format("{}·T·kvd: v; repeat_kv of one KV head is a stride-0 view at batch 1", x.e), src);
    return;
  }
  add(out, "attn.k_repeated", checked_product({x.e, x.T, x.qd}), fmt::format("{}·T·qd: k repeated to a heads (repeat_kv), saved by q·kᵀ", x.e), src);
  if (op.fused_qkv && n_rep == 1 && batch_one) {
    add(out, "attn.qkv_storage", qkv_storage(x), fmt::format("{}·T·(qd+2·kvd): v (a view of the fused qkv output) saved by probs·v", x.e),
        "transformers models/phi3/modeling_phi3.py");
  } else {
    add(out, "attn.v_repeated", checked_product({x.e, x.T, x.qd}), fmt::format("{}·T·qd: v at a heads (repeat_kv, or matmul's copy), saved by probs·v", x.e), src);
  }
}

// softmax(..., dtype=float32).to(q.dtype): the fp32 output saved by softmax backward, and in a
// 16-bit dtype its cast saved by probs·v.
void eager_softmax_saved(const Dims& x, const char* src, std::vector<SavedTensor>& out) {
  add(out, "attn.softmax_fp32", checked_product({4, x.a, x.s, x.s, x.b}), "4·a·s²·b: fp32 softmax output (saved by softmax backward)", src, kIn, false, true);
  if (x.e != 4) {
    // Released by probs·v's backward, before the softmax backward (the attention's peak).
    add(out, "attn.probs_bf16", checked_product({2, x.a, x.s, x.s, x.b}), "2·a·s²·b: bf16 probabilities saved by probs·v", src, kAfter,
        false, true);
  }
}

void eager_saved(const AttentionOp& op, const ModelConfig& m, const Dims& x, std::vector<SavedTensor>& out) {
  const char* src = "transformers models/llama/modeling_llama.py eager_attention_forward";
  if (!op.rope && op.fused_qkv && x.b == 1) {
    // No rotation (GPT-2): q, kᵀ and v are views of the fused output; at batch 1 matmul's fold
    // of (b, heads) keeps them views (at b > 1 it copies q, k and v: the branch below).
    add(out, "attn.qkv_storage", qkv_storage(x), fmt::format("{}·T·(qd+2·kvd): q, k, v (views of the fused qkv output) saved by the matmuls", x.e),
        "transformers models/gpt2/modeling_gpt2.py eager_attention_forward");
  } else {
    add(out, "attn.q", checked_product({x.e, x.T, x.qd}), fmt::format("{}·T·qd: q after RoPE (or matmul's copy), saved by q·kᵀ", x.e), src);
    eager_kv_saved(op, m, x, out);
  }
  if (m.attention_sinks) {
    sinks_softmax_saved(x, out);
  } else if (op.softmax_in_input_dtype && !x.amp) {
    // softmax(scores, dim=-1) in the scores' dtype: probs·v saves the same tensor.
    add(out, "attn.softmax", checked_product({x.e, x.a, x.s, x.s, x.b}),
        fmt::format("{}·a·s²·b: softmax output in the compute dtype, saved by softmax backward and probs·v", x.e),
        "transformers models/gpt2/modeling_gpt2.py eager_attention_forward (softmax without dtype)", kIn, false, true);
  } else {
    eager_softmax_saved(x, src, out);
  }
  if (m.attn_logit_softcapping > 0.0) {
    add(out, "attn.softcap_tanh", checked_product({x.e, x.a, x.s, x.s, x.b}), fmt::format("{}·a·s²·b: tanh output of the attention-logit soft-cap", x.e),
        "transformers models/gemma2/modeling_gemma2.py eager_attention_forward (softcap)", kIn, false, true);
  }
  add(out, "attn.out_contiguous", checked_product({x.e, x.T, x.qd}), fmt::format("{}·T·qd: transpose().contiguous() copy, o_proj's saved input", x.e), src, kAfter);
}

}  // namespace

void attention_saved(const AttentionOp& op, const ModelConfig& m, const TrainingSetup& setup, const Dims& x, bool masked,
                     std::vector<SavedTensor>& out) {
  if (op.mla) {
    mla_saved(m, setup, x, masked, out);
  } else if (is_flash(setup.attention)) {
    flash_saved(op, setup, x, out);
  } else if (setup.attention == Attention::kSdpa) {
    sdpa_saved(op, m, x, masked, out);
  } else if (setup.attention == Attention::kSdpaMath) {
    sdpa_math_saved(x, out);
  } else if (setup.attention == Attention::kFlex) {
    flex_saved(op, x, out);
  } else {
    eager_saved(op, m, x, out);
  }
}

}  // namespace vramcalc
