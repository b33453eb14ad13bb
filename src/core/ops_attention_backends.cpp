// SDPA's math fallback, FlexAttention, and SDPA's kernel choice (see ops_attention_backends.hpp).
#include "core/ops_attention_backends.hpp"

#include <fmt/format.h>

#include <vramcalc/model_states.hpp>

namespace vramcalc {
namespace {

constexpr BackwardRegion kIn = BackwardRegion::kInput;
constexpr BackwardRegion kAfter = BackwardRegion::kAfterAttention;

void add(std::vector<SavedTensor>& out, std::string name, Bytes bytes, std::string formula, const char* source,
         BackwardRegion region = kIn, bool estimated = false, bool s2 = false) {
  out.push_back({{std::move(name), bytes, std::move(formula), source, estimated}, region, s2});
}

constexpr const char* kMathSrc =
    "aten/src/ATen/native/transformers/attention.cpp _scaled_dot_product_attention_math (fp32 upcast unless "
    "allow_fp16_bf16_reduction_math_sdp; k, v repeat_interleave'd for enable_gqa)";

int sm_of(const std::optional<GpuSpec>& gpu) {
  if (!gpu || gpu->arch.size() < 3 || gpu->arch.rfind("sm", 0) != 0) return 80;
  return std::stoi(gpu->arch.substr(2));
}

}  // namespace

// _scaled_dot_product_attention_math: q, k, v upcast to fp32 (a 16-bit dtype), scaled by
// sqrt(scale) each, k and v repeated to the query heads under GQA; attn = softmax(q·kᵀ + mask)
// in fp32; out = attn·v, cast back. Autograd keeps the scaled fp32 q and kᵀ (the bmm), the fp32
// probabilities and the fp32 v (measured on CPU, torch 2.15, SDPBackend.MATH, bf16 and fp32,
// MHA and GQA: exactly these four storages). The causal / converted mask is added, not saved.
// The output (b, a, s, d) is cast back and HF's transpose(1, 2).contiguous() copies it for o_proj.
void sdpa_math_saved(const Dims& x, std::vector<SavedTensor>& out) {
  add(out, "attn.q_fp32", checked_product({4, x.T, x.qd}), "4·T·qd: q upcast to fp32 and scaled by √scale, saved by q·kᵀ", kMathSrc);
  add(out, "attn.k_fp32", checked_product({4, x.T, x.qd}), "4·T·qd: kᵀ upcast to fp32, scaled, at the query heads (repeated under GQA)", kMathSrc);
  add(out, "attn.v_fp32", checked_product({4, x.T, x.qd}), "4·T·qd: v upcast to fp32 at the query heads, saved by probs·v", kMathSrc);
  add(out, "attn.probs_fp32", checked_product({4, x.b, x.a, x.s, x.s}), "4·b·a·s²: fp32 softmax probabilities (softmax and probs·v)", kMathSrc,
      kIn, false, true);
  add(out, "attn.out_contiguous", checked_product({x.e, x.T, x.qd}),
      fmt::format("{}·T·qd: the output cast back, transpose(1, 2).contiguous() copy saved by o_proj", x.e),
      "transformers integrations/sdpa_attention.py (attn_output.transpose(1, 2).contiguous())", kAfter);
}

// FlexAttentionAutogradOp (torch/_higher_order_ops/flex_attention.py) as transformers runs it
// (integrations/flex_attention.py: torch.compile'd flex_attention, enable_gqa, return_lse):
// saves query, key, value (k, v at the KV heads), out and the fp32 logsumexp (b, a, s), plus the
// BlockMask (flex_block_mask, once per step). out is (b, a, s, d): HF's transpose(1, 2)
// .contiguous() copies it for o_proj. The compiled kernel keeps no s×s tensor (eager flex falls
// back to a dense s² computation: use sdpa-math's numbers for that).
void flex_saved(const AttentionOp& op, const Dims& x, std::vector<SavedTensor>& out) {
  const char* src = "torch _higher_order_ops/flex_attention.py FlexAttentionAutogradOp (save_for_backward q, k, v, out, logsumexp, block mask)";
  add(out, op.rope ? "attn.q_rope" : "attn.q", checked_product({x.e, x.T, x.qd}), fmt::format("{}·T·qd: q (after RoPE)", x.e), src, kIn, true);
  add(out, op.rope ? "attn.k_rope" : "attn.k", checked_product({x.e, x.T, x.kvd}), fmt::format("{}·T·kvd: k at the KV heads (enable_gqa)", x.e),
      src, kIn, true);
  if (op.fused_qkv) {
    add(out, "attn.qkv_storage", checked_product({x.e, x.T, x.qd + 2 * x.kvd}),
        fmt::format("{}·T·(qd+2·kvd): v is a view of the fused qkv output, keeping all of it", x.e), src, kIn, true);
  } else {
    add(out, "attn.v", checked_product({x.e, x.T, x.kvd}), fmt::format("{}·T·kvd: v at the KV heads", x.e), src, kIn, true);
  }
  add(out, "attn.out", checked_product({x.e, x.T, x.qd}), fmt::format("{}·T·qd: kernel output (b, a, s, d)", x.e), src, kIn, true);
  add(out, "attn.logsumexp", checked_product({4, x.b, x.a, x.s}), "4·b·a·s: fp32 logsumexp", src, kIn, true);
  add(out, "attn.out_contiguous", checked_product({x.e, x.T, x.qd}),
      fmt::format("{}·T·qd: transpose(1, 2).contiguous() copy, o_proj's saved input", x.e), "transformers integrations/flex_attention.py", kAfter,
      true);
}

// The backward of probs·v and of softmax, as eager's: the fp32 gradient of the probabilities
// and of the scores (8·b·a·s²), beside the fp32 gradient of the output (4·T·qd).
Bytes sdpa_math_backward_transient(const Dims& x) {
  return checked_add(checked_product({8, x.b, x.a, x.s, x.s}), checked_product({4, x.T, x.qd}));
}

// The compiled flex backward: grad_q (T·qd), grad_k and grad_v at the KV heads, fp32 delta
// (b, a, s), beside the incoming gradient of the output.
Bytes flex_backward_transient(const Dims& x) {
  return checked_add(checked_product({x.e, x.T, 2 * x.qd + 2 * x.kvd}), checked_product({4, x.b, x.a, x.s}));
}

// attn = q·kᵀ (fp32 scores) is alive while softmax writes its fp32 output (saved); a
// checkpointed forward (no_grad) holds both.
Bytes sdpa_math_forward_transient(const TrainingSetup& setup, const Dims& x) {
  if (setup.attention != Attention::kSdpaMath) return 0;
  const Bytes per = setup.grad_ckpt == GradCkpt::kNone ? 4 : 8;
  return checked_product({per, x.b, x.a, x.s, x.s});
}

// create_block_mask(B = b, H = None): kv_num_blocks, full_kv_num_blocks (B, 1, n) and kv_indices,
// full_kv_indices (B, 1, n, n) int32, n = ⌈s/128⌉, and the same four transposed for the q side
// (torch/nn/attention/flex_attention.py BlockMask).
Term flex_block_mask(const TrainingSetup& setup, const Dims& x) {
  if (setup.attention != Attention::kFlex) return {};
  const Bytes n = ceil_div(x.s, 128);
  const Bytes bytes = checked_add(checked_product({4, 4, x.b, n, n}), checked_product({4, 4, x.b, n}));
  return {"flex_block_mask", bytes, fmt::format("4 × 4·b·n² + 4 × 4·b·n int32, n = ⌈s/128⌉ = {} (kv/q indices and counts, full and partial)", n),
          "torch nn/attention/flex_attention.py create_block_mask / BlockMask; transformers masking_utils flex_attention_mask", true};
}

// sdp_utils.cpp: flash needs sm80+, fp16/bf16, head dim ≤ 256 and a multiple of 8, no attn_mask;
// mem-efficient needs sm50+ (bf16: sm80+), head dim a multiple of 8 (fp32: 4), masks allowed;
// math always runs.
SdpaKernel sdpa_kernel_for(const ModelConfig& m, const TrainingSetup& setup, const std::optional<GpuSpec>& gpu, bool masked) {
  const int sm = sm_of(gpu);
  const Bytes e = precision_bytes(setup.precision).compute;
  const Bytes d = m.head_dim;
  if (sm >= 80 && e == 2 && d <= 256 && d % 8 == 0 && !masked) return SdpaKernel::kFlash;
  const bool dtype_ok = e == 4 || sm >= 80;
  if (dtype_ok && d % (e == 4 ? 4 : 8) == 0) return SdpaKernel::kEfficient;
  return SdpaKernel::kMath;
}

std::string sdpa_kernel_note(const ModelConfig& m, const TrainingSetup& setup, const std::optional<GpuSpec>& gpu) {
  if (setup.attention != Attention::kSdpa) return "";
  const std::string where = gpu ? fmt::format("{} ({})", gpu->name, gpu->arch) : std::string("an sm80+ GPU (no --gpu given)");
  const bool masked = setup.explicit_mask;
  switch (sdpa_kernel_for(m, setup, gpu, masked)) {
    case SdpaKernel::kFlash:
      return fmt::format("; SDPA kernel on {}: flash (16-bit, head dim {} ≤ 256, no mask): saves q, k, v, out, fp32 logsumexp", where, m.head_dim);
    case SdpaKernel::kEfficient:
      return fmt::format("; SDPA kernel on {}: memory-efficient ({}): saves q, k, v, out, fp32 logsumexp (s rounded up to 32), no s² tensor",
                         where, precision_bytes(setup.precision).compute == 4 ? "fp32 has no flash kernel" : masked ? "a mask rules flash out" : "flash unavailable");
    case SdpaKernel::kMath:
      return fmt::format("; SDPA kernel on {}: math fallback (no fused kernel for this dtype / head dim {}): it saves fp32 q, k, v and the "
                         "s² probabilities — these numbers assume a fused kernel, use --attention sdpa-math", where, m.head_dim);
  }
  return "";
}

}  // namespace vramcalc
